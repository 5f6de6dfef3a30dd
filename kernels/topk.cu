// topk.cu — exact top-k inner-product search over an fp16 memory on the GPU (see topk_gpu.h).
//
// THE CONTRACT (src/topk.h): score(q, i) is ONE sequential fp32 fmaf chain over c = 0..d-1, ties go
// to the lower index, and the GPU must return exactly the CPU's indices and scores. Tensor cores
// (and cuBLAS, split-k, tree reductions) sum in other orders, so a GEMM cannot produce those scores.
// Converting the memory to fp32 and running an SGEMM-like loop on CUDA cores can (each output is
// its own in-order chain), but then 64 queries × 1M × 512 is 33 GFMA of fp32 work — far from the
// bandwidth-bound ~0.25 ms that reading a 1 GB memory takes on an H200.
//
// So the tensor cores FILTER and the CUDA cores DECIDE:
//   1. approximate scores tc = m·h on tensor cores (fp16 in, fp32 accumulate), where h is the query
//      scaled by 2^σ and rounded to fp16;
//   2. a rigorous bound (topk_prepare_queries):  exact(q, m)·2^σ ≤ tc + ||m||·E_q;
//   3. a row can only enter query q's top k if its bound reaches the current threshold θ_q (the
//      k-th best exact key seen so far by anyone — a k-th best of a subset never exceeds the true
//      k-th best); the few rows that pass are re-scored with the exact chain, and only exact keys
//      are ever ranked. The answer is therefore the reference answer, bit for bit.
//
// Two paths, both exact:
//   fused  (Q any, k ≤ 256): one persistent kernel streams the memory once per group of ≤ 64
//          queries: cp.async double-buffered row tiles in shared memory, tensor-core scores, the
//          filter, exact re-scoring of the survivors straight from shared memory, and per (block,
//          query) candidate buffers compacted by a block radix select when they fill. θ starts
//          from an exact pre-pass over a 16K-row sample of the memory and blocks share their θ
//          through one atomicMax per query. Then: compact the buffers, merge, sort.
//   exact  (fallback; tests force it too): exact chain scores for every (query, row) with a
//          shared-memory tiled kernel (each output still one in-order chain), radix select per
//          4096-score chunk, merge. Also runs the sample pre-pass of the fused path.
//
// Streaming: a memory larger than the device budget stays in host memory; tiles are copied into
// pinned staging buffers by the CPU, then to device buffers on a copy stream, while the compute
// stream works on the previous tile (two buffers each, events between the streams). Every path
// works per tile, so the search is the same exact search.
#include "topk_gpu.h"

#include <cuda_pipeline.h>
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_util.cuh"
#include "safetensors.h"  // float_to_half, half_to_float
#include "topk_select.cuh"

namespace reco {

using topk::block_rank_sort_desc;
using topk::block_select_topk;
using topk::key_index;
using topk::key_score;
using topk::make_key;
using topk::SelectShared;

namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kScoreChunk = 4096;  // scores per block in select_scores_kernel (32 KiB of keys)
constexpr int kPending = 512;      // rows awaiting exact re-scoring in the fused kernel
constexpr int kMaxK = 1024;
constexpr int kMaxFusedK = 256;
constexpr int kSampleRows = 16384;  // rows of the exact pre-pass that seeds θ
constexpr int kRowPad = 8;          // fp16 padding per shared row: conflict-free wmma fragment loads
constexpr int kQueryChunk = 8192;   // queries per pass (bounds every buffer)

// ============================================================================== exact scores
// S[q][j] = the reference chain of query q and row j:  acc = fmaf(x[c], m[c], acc), c = 0..d-1.
// Block: 64 rows × 16 queries, 256 threads, each thread one row × 4 queries; the rows and queries
// pass through shared memory in chunks of 32 components, consumed in increasing c, so each
// output is exactly one in-order chain (topk.cpp's micro-kernels do the same on the CPU).
// rows: row j at rows + j·row_stride (fp16 bits); x [Q][d] fp32.
__global__ void __launch_bounds__(kThreads) exact_scores_kernel(float* S, long long ldS, const float* x, int Q,
                                                                const __half* rows, long long row_stride, int n,
                                                                int d) {
    __shared__ float ms[64][33];
    __shared__ float xs[16][33];
    const int r = threadIdx.x % 64, qgrp = threadIdx.x / 64;
    const long long row0 = (long long)blockIdx.x * 64;
    const int q0 = blockIdx.y * 16;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c0 = 0; c0 < d; c0 += 32) {
        for (int e = threadIdx.x; e < 64 * 32; e += kThreads) {
            const int rr = e / 32, cc = e % 32;
            const long long j = row0 + rr;
            ms[rr][cc] = (j < n && c0 + cc < d) ? __half2float(rows[j * row_stride + c0 + cc]) : 0.0f;
        }
        for (int e = threadIdx.x; e < 16 * 32; e += kThreads) {
            const int qq = e / 32, cc = e % 32;
            xs[qq][cc] = (q0 + qq < Q && c0 + cc < d) ? x[(size_t)(q0 + qq) * d + c0 + cc] : 0.0f;
        }
        __syncthreads();
        const int cn = min(32, d - c0);  // never a padded term: the chain has exactly d steps
        for (int cc = 0; cc < cn; cc++) {
            const float m = ms[r][cc];
#pragma unroll
            for (int t = 0; t < 4; t++) acc[t] = __fmaf_rn(xs[qgrp * 4 + t][cc], m, acc[t]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int t = 0; t < 4; t++) {
        const int q = q0 + qgrp * 4 + t;
        const long long j = row0 + r;
        if (q < Q && j < n) S[(size_t)q * ldS + j] = acc[t];
    }
}

// ============================================================================== selection kernels
// Chunk c of query q's scores S[q][0..n): keys (index = idx_base + j·idx_stride; the excluded
// index gets the padding key 0) → its k best into cand[(q·lists_per_q + list0 + c)·k ...].
// Grid (Q, chunks).
__global__ void __launch_bounds__(kThreads) select_scores_kernel(uint64_t* cand, int lists_per_q, int list0,
                                                                 const float* S, long long ldS, int n,
                                                                 long long idx_base, long long idx_stride,
                                                                 const int* exclude, int k) {
    extern __shared__ __align__(128) unsigned char smem[];
    __shared__ SelectShared sh;
    uint64_t* keys = (uint64_t*)smem;
    const int q = blockIdx.x, c = blockIdx.y;
    const int j0 = c * kScoreChunk, cnt = min(kScoreChunk, n - j0);
    const long long ex = exclude ? exclude[q] : -1;
    for (int i = threadIdx.x; i < cnt; i += kThreads) {
        const long long idx = idx_base + (long long)(j0 + i) * idx_stride;
        keys[i] = idx == ex ? 0ull : make_key(S[(size_t)q * ldS + j0 + i], (uint32_t)idx);
    }
    __syncthreads();
    block_select_topk([&](int i) { return keys[i]; }, cnt, k, cand + ((size_t)q * lists_per_q + list0 + c) * k, sh);
}

// List L = in[L·in_stride .. + n) → its k best into out[L·k ..). out must not overlap in.
__global__ void __launch_bounds__(kThreads) select_lists_kernel(uint64_t* out, const uint64_t* in,
                                                                long long in_stride, int n, int k) {
    __shared__ SelectShared sh;
    const uint64_t* list = in + (size_t)blockIdx.x * in_stride;
    block_select_topk([&](int i) { return list[i]; }, n, k, out + (size_t)blockIdx.x * k, sh);
}

// best [Q][k] keys → out_idx / out_score [Q][k], sorted best first. Grid Q, smem 2·k keys.
__global__ void __launch_bounds__(kThreads) finalize_kernel(int* out_idx, float* out_score, const uint64_t* best,
                                                            int k) {
    extern __shared__ __align__(128) unsigned char smem[];
    uint64_t* keys = (uint64_t*)smem;
    uint64_t* sorted = keys + k;
    const int q = blockIdx.x;
    for (int i = threadIdx.x; i < k; i += kThreads) keys[i] = best[(size_t)q * k + i];
    __syncthreads();
    block_rank_sort_desc(keys, k, sorted);
    for (int i = threadIdx.x; i < k; i += kThreads) {
        const uint64_t key = sorted[i];
        out_idx[(size_t)q * k + i] = key ? key_index(key) : -1;
        out_score[(size_t)q * k + i] = key ? key_score(key) : -INFINITY;
    }
}

// ============================================================================== the fused scan
struct ScanArgs {
    const __half* mem;       // device tile, row j at mem + j·dp (columns d..dp-1 are zero)
    long long tile_base;     // memory index of the tile's row 0
    int tile_rows, dp, d;
    const __half* qh;        // [nqg·QG][dp] scaled fp16 queries, zero rows past Q
    const float* qx;         // [Q][d] the fp32 queries (the exact chain)
    const int* sigma;        // [Q] scale exponents
    const float* E;          // [Q] bound coefficients
    const int* exclude;      // [Q] or null
    int Q, QG, nqg, nrow, R, k, cap;
    uint64_t* buf;           // [nblk][QG][cap] exact candidate keys (≥ θ when appended)
    int* cnt;                // [nblk][QG]
    uint64_t* theta;         // [nblk][QG] the block's own threshold key
    unsigned long long* gtheta;     // [Q] best threshold any block has published
    unsigned long long* rescored;   // statistics: rows re-scored exactly
};

// Dynamic shared memory of the fused kernel (byte offsets, each 128-aligned).
struct ScanLayout {
    size_t tiles, qh, S, nrm, thk, ths, Es, sg, ex, cs, pend, misc, cout, total;
};
__host__ __device__ inline size_t align128(size_t x) { return (x + 127) & ~(size_t)127; }
__host__ __device__ inline ScanLayout scan_layout(int R, int QG, int dp, int k) {
    const size_t ldt = (size_t)dp + kRowPad;
    ScanLayout L;
    size_t o = 0;
    L.tiles = o, o = align128(o + 2 * (size_t)R * ldt * 2);   // two row tiles (cp.async double buffer)
    L.qh = o, o = align128(o + (size_t)QG * ldt * 2);         // the group's fp16 queries
    L.S = o, o = align128(o + (size_t)R * QG * 4);            // tensor-core scores [R][QG]
    L.nrm = o, o = align128(o + (size_t)R * 4);               // row norms (rounded up)
    L.thk = o, o = align128(o + (size_t)QG * 8);              // θ keys
    L.ths = o, o = align128(o + (size_t)QG * 4);              // θ scores scaled by 2^σ
    L.Es = o, o = align128(o + (size_t)QG * 4);
    L.sg = o, o = align128(o + (size_t)QG * 4);
    L.ex = o, o = align128(o + (size_t)QG * 8);
    L.cs = o, o = align128(o + (size_t)QG * 4);               // candidate counts
    L.pend = o, o = align128(o + (size_t)kPending * 2);       // pending (row, query) pairs
    L.misc = o, o = align128(o + 16 * 4);
    L.cout = o, o = align128(o + (size_t)k * 8);              // compaction output
    L.total = o;
    return L;
}

__device__ __forceinline__ float scaled_threshold(uint64_t key, int sigma) {
    return key ? ldexpf(key_score(key), sigma) : -INFINITY;
}

// Block b = rr·nqg + qg scans rows [tile_rows·rr/nrow, tile_rows·(rr+1)/nrow) of the tile for the
// queries of group qg (blocks of the same row range are adjacent, so they stream it through L2
// together when Q > QG).
__global__ void __launch_bounds__(kThreads, 1) fused_scan_kernel(ScanArgs a) {
    using namespace nvcuda;
    extern __shared__ __align__(128) unsigned char smem[];
    __shared__ SelectShared sel;
    const ScanLayout L = scan_layout(a.R, a.QG, a.dp, a.k);
    __half* tiles = (__half*)(smem + L.tiles);
    __half* qh_s = (__half*)(smem + L.qh);
    float* S = (float*)(smem + L.S);
    float* nrm = (float*)(smem + L.nrm);
    uint64_t* thk = (uint64_t*)(smem + L.thk);
    float* ths = (float*)(smem + L.ths);
    float* Es = (float*)(smem + L.Es);
    int* sg = (int*)(smem + L.sg);
    long long* ex = (long long*)(smem + L.ex);
    int* cs = (int*)(smem + L.cs);
    unsigned short* pend = (unsigned short*)(smem + L.pend);
    int* npend = (int*)(smem + L.misc);
    uint64_t* cout = (uint64_t*)(smem + L.cout);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int R = a.R, QG = a.QG, dp = a.dp, ldt = dp + kRowPad, chunks = dp / 8;
    const int blk = blockIdx.x, qg = blk % a.nqg, rr = blk / a.nqg;
    const int q0 = qg * QG, nq = min(QG, a.Q - q0);

    // ---- the group's queries and state
    for (int e = tid; e < QG * chunks; e += kThreads) {
        const int r = e / chunks, ch = e % chunks;
        *(uint4*)(qh_s + (size_t)r * ldt + ch * 8) = *(const uint4*)(a.qh + (size_t)(q0 + r) * dp + ch * 8);
    }
    for (int i = tid; i < QG; i += kThreads) {
        const size_t s = (size_t)blk * QG + i;
        cs[i] = a.cnt[s];
        thk[i] = a.theta[s];
        Es[i] = i < nq ? a.E[q0 + i] : 0.0f;
        sg[i] = i < nq ? a.sigma[q0 + i] : 0;
        ex[i] = (i < nq && a.exclude) ? a.exclude[q0 + i] : -1;
        ths[i] = scaled_threshold(thk[i], sg[i]);
    }
    if (tid == 0) *npend = 0;
    const long long r_begin = (long long)a.tile_rows * rr / a.nrow;
    const long long r_end = (long long)a.tile_rows * (rr + 1) / a.nrow;
    const int nsub = (int)((r_end - r_begin + R - 1) / R);
    __syncthreads();

    // ---- copy row tile s into buffer s&1 (cp.async, 16 bytes a request); rows past the end are zero
    auto prefetch = [&](int s) {
        __half* dst = tiles + (size_t)(s & 1) * R * ldt;
        const long long row0 = r_begin + (long long)s * R;
        const int nr = (int)min((long long)R, r_end - row0);
        for (int e = tid; e < R * chunks; e += kThreads) {
            const int r = e / chunks, ch = e % chunks;
            __half* d = dst + (size_t)r * ldt + ch * 8;
            if (r < nr) __pipeline_memcpy_async(d, a.mem + (size_t)(row0 + r) * dp + ch * 8, 16);
            else *(uint4*)d = make_uint4(0, 0, 0, 0);
        }
        __pipeline_commit();
    };

    // ---- keep query qi's buffer to its k best, raise θ, publish it
    auto compact = [&](int qi) {
        uint64_t* list = a.buf + ((size_t)blk * QG + qi) * a.cap;
        const int n = cs[qi];  // > cap - kPending ≥ k (see the caller)
        block_select_topk([&](int i) { return list[i]; }, n, a.k, cout, sel);
        for (int i = tid; i < a.k; i += kThreads) list[i] = cout[i];
        if (tid == 0) {
            uint64_t t = ~0ull;
            for (int i = 0; i < a.k; i++) t = min(t, cout[i]);
            cs[qi] = a.k;
            if (t > thk[qi]) {
                thk[qi] = t;
                ths[qi] = scaled_threshold(t, sg[qi]);
                atomicMax(&a.gtheta[q0 + qi], (unsigned long long)t);
            }
        }
        __syncthreads();
    };

    // ---- exact re-scoring of the pending pairs (rows still in shared memory), then compaction
    auto flush = [&](const __half* cur, long long row0) {
        const int n = *npend;
        for (int e = tid; e < n; e += kThreads) {
            const int p = pend[e], r = p / QG, qi = p % QG;
            const float* x = a.qx + (size_t)(q0 + qi) * a.d;
            const __half* m = cur + (size_t)r * ldt;
            float acc = 0.0f;  // THE reference chain (topk.h)
            for (int c = 0; c < a.d; c++) acc = __fmaf_rn(x[c], __half2float(m[c]), acc);
            const uint64_t key = make_key(acc, (uint32_t)(a.tile_base + row0 + r));
            if (key >= thk[qi]) a.buf[((size_t)blk * QG + qi) * a.cap + atomicAdd(&cs[qi], 1)] = key;
        }
        if (tid == 0 && a.rescored) atomicAdd(a.rescored, (unsigned long long)n);
        __syncthreads();
        if (tid == 0) *npend = 0;
        for (int qi = 0; qi < nq; qi++)  // the next flush appends ≤ kPending keys per query
            if (cs[qi] > a.cap - kPending) compact(qi);
        __syncthreads();
    };

    if (nsub > 0) prefetch(0);
    for (int s = 0; s < nsub; s++) {
        if (s + 1 < nsub) prefetch(s + 1);
        else __pipeline_commit();  // an empty group keeps "all but the newest group done" meaning tile s
        __pipeline_wait_prior(1);
        __syncthreads();
        const __half* cur = tiles + (size_t)(s & 1) * R * ldt;
        const long long row0 = r_begin + (long long)s * R;
        const int nr = (int)min((long long)R, r_end - row0);

        // thresholds published by other blocks (any of them is valid, the largest is best)
        for (int i = tid; i < nq; i += kThreads) {
            const unsigned long long g = *(volatile unsigned long long*)&a.gtheta[q0 + i];
            if (g > thk[i]) thk[i] = g, ths[i] = scaled_threshold(g, sg[i]);
        }
        // ||m||₂ of every row, fp32, rounded up by 0.1% (far above the rounding of the sum)
        for (int r = warp; r < R; r += kWarps) {
            const __half2* row = (const __half2*)(cur + (size_t)r * ldt);
            float s2 = 0.0f;
            for (int c2 = lane; c2 < dp / 2; c2 += 32) {
                const float2 v = __half22float2(row[c2]);
                s2 += v.x * v.x + v.y * v.y;
            }
            s2 = warp_sum(s2);
            if (lane == 0) nrm[r] = sqrtf(s2) * 1.001f;
        }
        // tc = m·h on tensor cores: warp → row tile rt and one or two query tiles
        {
            const int RT = R / 16, CT = QG / 16, cstep = kWarps / RT;
            const int rt = warp % RT, ct0 = warp / RT;
            if (ct0 < CT) {
                const bool two = ct0 + cstep < CT;
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc0, acc1;
                wmma::fill_fragment(acc0, 0.0f);
                wmma::fill_fragment(acc1, 0.0f);
                const __half* arow = cur + (size_t)rt * 16 * ldt;
                const __half* b0 = qh_s + (size_t)ct0 * 16 * ldt;
                const __half* b1 = qh_s + (size_t)(two ? ct0 + cstep : ct0) * 16 * ldt;
                for (int kk = 0; kk < dp; kk += 16) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
                    wmma::load_matrix_sync(fa, arow + kk, ldt);
                    wmma::load_matrix_sync(fb, b0 + kk, ldt);
                    wmma::mma_sync(acc0, fa, fb, acc0);
                    if (two) {
                        wmma::load_matrix_sync(fb, b1 + kk, ldt);
                        wmma::mma_sync(acc1, fa, fb, acc1);
                    }
                }
                wmma::store_matrix_sync(S + (size_t)rt * 16 * QG + ct0 * 16, acc0, QG, wmma::mem_row_major);
                if (two)
                    wmma::store_matrix_sync(S + (size_t)rt * 16 * QG + (ct0 + cstep) * 16, acc1, QG,
                                            wmma::mem_row_major);
            }
        }
        __syncthreads();

        // filter: (row, query) pairs whose bound reaches θ become pending; flush before overflowing
        for (int base = 0; base < R * QG; base += kThreads) {
            const int p = base + tid;
            if (p < R * QG) {
                const int r = p / QG, qi = p % QG;
                if (r < nr && qi < nq) {
                    const long long i = a.tile_base + row0 + r;
                    if (i != ex[qi] && S[p] + nrm[r] * Es[qi] >= ths[qi]) pend[atomicAdd(npend, 1)] = (unsigned short)p;
                }
            }
            __syncthreads();
            if (*npend > kPending - kThreads) flush(cur, row0);
        }
        if (*npend > 0) flush(cur, row0);
        __syncthreads();  // buffer s&1 is free for the prefetch of tile s+2
    }

    for (int i = tid; i < QG; i += kThreads) {
        a.cnt[(size_t)blk * QG + i] = cs[i];
        a.theta[(size_t)blk * QG + i] = thk[i];
    }
}

// θ of every (block, query) and the shared θ from the pre-pass: the k-th best key of the sample,
// i.e. the smallest of its k best (0 when fewer than k sample rows count). Counts start at 0.
__global__ void seed_state_kernel(uint64_t* theta, int* cnt, unsigned long long* gtheta, const uint64_t* best, int k,
                                  int Q, int QG, int nqg, int nblk) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= nblk * QG) return;
    const int blk = e / QG, qi = e % QG, q = (blk % nqg) * QG + qi;
    uint64_t seed = 0;
    if (best && q < Q) {
        seed = ~0ull;
        for (int i = 0; i < k; i++) seed = min(seed, (uint64_t)best[(size_t)q * k + i]);
    }
    theta[e] = seed;
    cnt[e] = 0;
    if (blk < nqg && q < Q) gtheta[q] = seed;
}

// Fused buffers → cand[q][rr][k]. Grid nblk·QG.
__global__ void __launch_bounds__(kThreads) compact_buffers_kernel(uint64_t* cand, const uint64_t* buf,
                                                                   const int* cnt, int QG, int nqg, int nrow,
                                                                   int cap, int Q, int k) {
    __shared__ SelectShared sh;
    const int Lst = blockIdx.x, blk = Lst / QG, qi = Lst % QG;
    const int q = (blk % nqg) * QG + qi, rr = blk / nqg;
    if (q >= Q) return;
    const uint64_t* list = buf + (size_t)Lst * cap;
    block_select_topk([&](int i) { return list[i]; }, cnt[Lst], k, cand + ((size_t)q * nrow + rr) * k, sh);
}

// ============================================================================== host helpers
// The checks and messages of topk.cpp's check_args (the contract is shared).
void check_args(const float* queries, int Q, long long N, int d, int k, const int* exclude) {
    if (d <= 0) fail("top-k search: embedding dimension d=%d must be positive", d);
    if (N <= 0) fail("top-k search: the memory is empty (%lld items)", N);
    if (Q < 0) fail("top-k search: negative number of queries (%d)", Q);
    if (k <= 0) fail("top-k search: k=%d must be at least 1", k);
    if (k > N) fail("k=%d is larger than the memory (%lld items)", k, N);
    if (exclude)
        for (int q = 0; q < Q; q++) {
            if (exclude[q] < -1 || exclude[q] >= N)
                fail("top-k search: exclude[%d]=%d is not a memory index (0..%lld, or -1 for none)", q, exclude[q],
                     N - 1);
            if (exclude[q] >= 0 && k > N - 1)
                fail("k=%d is larger than the memory minus the excluded item (%lld items)", k, N - 1);
        }
    for (size_t j = 0; j < (size_t)Q * d; j++)
        if (!std::isfinite(queries[j]))
            fail("top-k search: query %zu has a non-finite value (%g) at position %zu", j / d, queries[j], j % d);
    if (k > kMaxK) fail("top-k search on the GPU: k=%d is larger than the supported %d", k, kMaxK);
}

}  // namespace

// ============================================================================== query preparation
// For query x (fp32, d values) pick σ with max|x|·2^σ ∈ [2^14, 2^15), h = fp16(x·2^σ), δ = x - h·2^-σ
// (in double: exact up to 2^-53). With ||m|| the row's norm:
//   exact chain:  |s - x·m| ≤ d·2^-23·||x||·||m||         (fmaf chain, d roundings of ≤ 2^-24)
//   split:        x·m·2^σ = Σ m_c h_c + 2^σ Σ m_c δ_c  ≤  Σ m_c h_c + 2^σ·||m||·||δ||
//   tensor cores: |tc - Σ m_c h_c| ≤ (d·2^-20 + 2^-16)·||m||·||h||   (ASSUMED: fp32 accumulation whose
//                 error per step is ≤ 2^-22 of the running Σ|terms| — fp16 products are exact, and
//                 measured tensor cores lose at most a few ulps per block-FMA; we allow 4× that per
//                 step plus 2^-16, which also covers the fp32 rounding of the filter's own arithmetic)
// so  s·2^σ ≤ tc + ||m||·E,  E = (d·2^-20 + 2^-16)·||h|| + 2^σ||δ|| + d·2^-23·2^σ||x|| + d·2^-40,
// enlarged by 2^-10 and rounded up to fp32. The last term covers fp32 underflow in the chain for
// queries whose magnitude is inside [2^-90, 2^90]; outside that range we report false and the search
// uses the exact path (never the filter).
bool topk_prepare_queries(const float* X, int Q, int d, int dp, std::vector<uint16_t>& h, std::vector<int>& sigma,
                          std::vector<float>& E) {
    h.assign((size_t)Q * dp, 0);
    sigma.assign(Q, 0);
    E.assign(Q, 0.0f);
    bool ok = true;
    for (int q = 0; q < Q; q++) {
        const float* x = X + (size_t)q * d;
        float mx = 0.0f;
        for (int c = 0; c < d; c++) mx = std::max(mx, std::fabs(x[c]));
        if (mx == 0.0f) continue;  // every exact score is +0, tc = 0, E = 0: every row passes, exactly
        if (mx > 0x1p90f || mx < 0x1p-90f) ok = false;
        const int s = 14 - std::ilogb(mx);
        sigma[q] = s;
        double hn2 = 0, dn2 = 0, xn2 = 0;
        for (int c = 0; c < d; c++) {
            const uint16_t hb = float_to_half(std::ldexp(x[c], s));
            h[(size_t)q * dp + c] = hb;
            const double hv = half_to_float(hb);
            const double delta = (double)x[c] - std::ldexp(hv, -s);
            hn2 += hv * hv;
            dn2 += delta * delta;
            xn2 += (double)x[c] * x[c];
        }
        const double scale = std::ldexp(1.0, s);
        const double e = (d * 0x1p-20 + 0x1p-16) * std::sqrt(hn2) + scale * std::sqrt(dn2) +
                         d * 0x1p-23 * scale * std::sqrt(xn2) + d * 0x1p-40;
        E[q] = std::nextafter((float)(e * (1.0 + 0x1p-10)), INFINITY);
    }
    return ok;
}

// ============================================================================== the search object
struct TopkGpu::Impl {
    const uint16_t* host = nullptr;
    int N = 0, d = 0, dp = 0;
    TopkGpuOptions opt;
    bool resident = true;
    long long tile_rows = 0;
    int sm_count = 0, optin = 0;
    cudaStream_t cs = nullptr, ts = nullptr;
    cudaEvent_t copied[2] = {nullptr, nullptr}, done[2] = {nullptr, nullptr};
    DevBuf<__half> dmem, dtile[2], dsample;
    PinnedBuf<uint16_t> staging[2], sample_staging;
    std::string path = "none";
    long long rescored = 0;

    // per-search buffers (grown as needed)
    DevBuf<float> qx, E, S;
    DevBuf<__half> qh;
    DevBuf<int> sigma, excl, cnt, oidx;
    DevBuf<float> oscore;
    DevBuf<uint64_t> buf, theta, cand, best, seed_best;
    DevBuf<unsigned long long> gtheta, counter;

    ~Impl() {
        for (int b = 0; b < 2; b++) {
            if (copied[b]) cudaEventDestroy(copied[b]);
            if (done[b]) cudaEventDestroy(done[b]);
        }
        if (cs) cudaStreamDestroy(cs);
        if (ts) cudaStreamDestroy(ts);
    }

    // fn(tile pointer, memory index of its row 0, rows) for every tile, in order, on stream cs.
    template <class Fn>
    void for_each_tile(Fn fn) {
        if (resident) {
            fn(dmem.get(), 0LL, (long long)N);
            return;
        }
        const long long ntiles = (N + tile_rows - 1) / tile_rows;
        for (long long t = 0; t < ntiles; t++) {
            const int b = (int)(t & 1);
            const long long base = t * tile_rows, rows = std::min<long long>(tile_rows, N - base);
            if (t >= 2) CUDA_CHECK(cudaEventSynchronize(done[b]));  // tile t-2 no longer uses buffer b
            const size_t bytes = (size_t)rows * d * sizeof(uint16_t);
            const char* src = (const char*)(host + (size_t)base * d);
            char* dst = (char*)staging[b].get();
#pragma omp parallel for schedule(static)
            for (long long off = 0; off < (long long)bytes; off += (1 << 20))
                memcpy(dst + off, src + off, std::min<size_t>(1 << 20, bytes - off));
            CUDA_CHECK(cudaMemcpy2DAsync(dtile[b].get(), (size_t)dp * 2, staging[b].get(), (size_t)d * 2,
                                         (size_t)d * 2, rows, cudaMemcpyHostToDevice, ts));
            CUDA_CHECK(cudaEventRecord(copied[b], ts));
            CUDA_CHECK(cudaStreamWaitEvent(cs, copied[b], 0));
            fn(dtile[b].get(), base, rows);
            CUDA_CHECK(cudaEventRecord(done[b], cs));
        }
    }

    // Exact path over n rows (row j at rows + j·row_stride, memory index idx_base + j·idx_stride),
    // merged into best [Q][k] (which holds the running answer: padding keys 0 to start).
    void exact_rows(const __half* rows, long long row_stride, long long n, long long idx_base, long long idx_stride,
                    int Q, int k, uint64_t* bestp) {
        const long long per_pass = std::max<long long>(
            kScoreChunk, std::min<long long>(n, (256LL << 20) / (4LL * Q)) / kScoreChunk * kScoreChunk);
        S.reserve((size_t)Q * per_pass);
        const int max_chunks = (int)((per_pass + kScoreChunk - 1) / kScoreChunk);
        cand.reserve((size_t)Q * (1 + max_chunks) * k);
        for (long long j0 = 0; j0 < n; j0 += per_pass) {
            const int m = (int)std::min(per_pass, n - j0);
            const int nch = (m + kScoreChunk - 1) / kScoreChunk, lists = 1 + nch;
            exact_scores_kernel<<<dim3(ceil_div(m, 64), ceil_div(Q, 16)), kThreads, 0, cs>>>(
                S.get(), m, qx.get(), Q, rows + j0 * row_stride, row_stride, m, d);
            KERNEL_CHECK();
            // slot 0 of each query's candidate lists = its running best
            CUDA_CHECK(cudaMemcpy2DAsync(cand.get(), (size_t)lists * k * 8, bestp, (size_t)k * 8, (size_t)k * 8, Q,
                                         cudaMemcpyDeviceToDevice, cs));
            select_scores_kernel<<<dim3(Q, nch), kThreads, kScoreChunk * 8, cs>>>(
                cand.get(), lists, 1, S.get(), m, m, idx_base + j0 * idx_stride, idx_stride, excl_ptr, k);
            KERNEL_CHECK();
            select_lists_kernel<<<Q, kThreads, 0, cs>>>(bestp, cand.get(), (long long)lists * k, lists * k, k);
            KERNEL_CHECK();
        }
    }

    const int* excl_ptr = nullptr;

    struct FusedCfg {
        int R = 0, QG = 0, nqg = 0, nrow = 0;
        size_t smem = 0;
    };
    bool choose_fused(int Q, int k, FusedCfg& f) {
        if (k > kMaxFusedK) return false;
        const int qg_max = std::min(64, (Q + 15) / 16 * 16);
        for (int QG : {64, 32, 16}) {
            if (QG > qg_max) continue;
            for (int R : {64, 32, 16}) {
                const size_t smem = scan_layout(R, QG, dp, k).total;
                if (smem + sizeof(SelectShared) + 1024 <= (size_t)optin) {
                    f.R = R, f.QG = QG, f.smem = smem;
                    f.nqg = (Q + QG - 1) / QG;
                    int per_sm = 0;
                    CUDA_CHECK(cudaFuncSetAttribute(fused_scan_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    (int)smem));
                    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fused_scan_kernel, kThreads,
                                                                             smem));
                    if (per_sm < 1) continue;
                    const long long max_tile = resident ? N : std::min<long long>(tile_rows, N);
                    const long long row_blocks = (max_tile + R - 1) / R;
                    f.nrow = (int)std::max<long long>(
                        1, std::min<long long>((long long)sm_count * per_sm / f.nqg, row_blocks));
                    return true;
                }
            }
        }
        return false;
    }

    void search_chunk(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude) {
        // queries, exclusions
        qx.reserve((size_t)Q * d);
        CUDA_CHECK(cudaMemcpyAsync(qx.get(), queries, (size_t)Q * d * 4, cudaMemcpyHostToDevice, cs));
        excl_ptr = nullptr;
        if (exclude) {
            excl.reserve(Q);
            CUDA_CHECK(cudaMemcpyAsync(excl.get(), exclude, (size_t)Q * 4, cudaMemcpyHostToDevice, cs));
            excl_ptr = excl.get();
        }
        best.reserve((size_t)Q * k);
        CUDA_CHECK(cudaMemsetAsync(best.get(), 0, (size_t)Q * k * 8, cs));
        counter.reserve(1);
        CUDA_CHECK(cudaMemsetAsync(counter.get(), 0, 8, cs));

        std::vector<uint16_t> hq;
        std::vector<int> sig;
        std::vector<float> Eq;
        FusedCfg f;
        bool fused = opt.force_path != 2 && topk_prepare_queries(queries, Q, d, dp, hq, sig, Eq) &&
                     choose_fused(Q, k, f) && (opt.force_path == 1 || N >= 4 * kSampleRows);
        if (opt.force_path == 1 && !fused)
            fail("top-k search on the GPU: the fused path cannot run here (k=%d, d=%d, query range or shared memory)",
                 k, d);
        if (!fused) {
            path = "exact";
            for_each_tile([&](const __half* tile, long long base, long long rows) {
                exact_rows(tile, dp, rows, base, 1, Q, k, best.get());
            });
        } else {
            path = "fused";
            const int Qpad = f.nqg * f.QG, nblk = f.nrow * f.nqg, cap = k + 2 * kPending;
            std::vector<uint16_t> hpad((size_t)Qpad * dp, 0);
            std::copy(hq.begin(), hq.end(), hpad.begin());
            qh.reserve(hpad.size());
            sigma.reserve(Q);
            E.reserve(Q);
            CUDA_CHECK(cudaMemcpyAsync(qh.get(), hpad.data(), hpad.size() * 2, cudaMemcpyHostToDevice, cs));
            CUDA_CHECK(cudaMemcpyAsync(sigma.get(), sig.data(), (size_t)Q * 4, cudaMemcpyHostToDevice, cs));
            CUDA_CHECK(cudaMemcpyAsync(E.get(), Eq.data(), (size_t)Q * 4, cudaMemcpyHostToDevice, cs));
            // pre-pass: the exact top k of a strided sample seeds θ
            const long long step = std::max<long long>(1, N / kSampleRows);
            const long long n0 = (N + step - 1) / step;
            seed_best.reserve((size_t)Q * k);
            CUDA_CHECK(cudaMemsetAsync(seed_best.get(), 0, (size_t)Q * k * 8, cs));
            if (resident) {
                exact_rows(dmem.get(), step * dp, n0, 0, step, Q, k, seed_best.get());
            } else {
                sample_staging.reserve((size_t)n0 * d);
                for (long long j = 0; j < n0; j++)
                    memcpy(sample_staging.get() + (size_t)j * d, host + (size_t)(j * step) * d, (size_t)d * 2);
                dsample.reserve((size_t)n0 * dp);
                CUDA_CHECK(cudaMemsetAsync(dsample.get(), 0, (size_t)n0 * dp * 2, cs));
                CUDA_CHECK(cudaMemcpy2DAsync(dsample.get(), (size_t)dp * 2, sample_staging.get(), (size_t)d * 2,
                                             (size_t)d * 2, n0, cudaMemcpyHostToDevice, cs));
                exact_rows(dsample.get(), dp, n0, 0, step, Q, k, seed_best.get());
            }
            buf.reserve((size_t)nblk * f.QG * cap);
            theta.reserve((size_t)nblk * f.QG);
            cnt.reserve((size_t)nblk * f.QG);
            gtheta.reserve(Qpad);
            seed_state_kernel<<<ceil_div((long long)nblk * f.QG, 256), 256, 0, cs>>>(
                theta.get(), cnt.get(), gtheta.get(), seed_best.get(), k, Q, f.QG, f.nqg, nblk);
            KERNEL_CHECK();
            ScanArgs a;
            a.dp = dp, a.d = d, a.qh = qh.get(), a.qx = qx.get(), a.sigma = sigma.get(), a.E = E.get();
            a.exclude = excl_ptr, a.Q = Q, a.QG = f.QG, a.nqg = f.nqg, a.nrow = f.nrow, a.R = f.R, a.k = k;
            a.cap = cap, a.buf = buf.get(), a.cnt = cnt.get(), a.theta = theta.get(), a.gtheta = gtheta.get();
            a.rescored = counter.get();
            CUDA_CHECK(cudaFuncSetAttribute(fused_scan_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)f.smem));
            for_each_tile([&](const __half* tile, long long base, long long rows) {
                a.mem = tile, a.tile_base = base, a.tile_rows = (int)rows;
                fused_scan_kernel<<<nblk, kThreads, f.smem, cs>>>(a);
                KERNEL_CHECK();
            });
            cand.reserve((size_t)Q * f.nrow * k);
            compact_buffers_kernel<<<nblk * f.QG, kThreads, 0, cs>>>(cand.get(), buf.get(), cnt.get(), f.QG, f.nqg,
                                                                      f.nrow, cap, Q, k);
            KERNEL_CHECK();
            select_lists_kernel<<<Q, kThreads, 0, cs>>>(best.get(), cand.get(), (long long)f.nrow * k, f.nrow * k, k);
            KERNEL_CHECK();
        }
        oidx.reserve((size_t)Q * k);
        oscore.reserve((size_t)Q * k);
        finalize_kernel<<<Q, kThreads, 2 * (size_t)k * 8, cs>>>(oidx.get(), oscore.get(), best.get(), k);
        KERNEL_CHECK();
        CUDA_CHECK(cudaMemcpyAsync(out_idx, oidx.get(), (size_t)Q * k * 4, cudaMemcpyDeviceToHost, cs));
        CUDA_CHECK(cudaMemcpyAsync(out_score, oscore.get(), (size_t)Q * k * 4, cudaMemcpyDeviceToHost, cs));
        unsigned long long resc = 0;
        CUDA_CHECK(cudaMemcpyAsync(&resc, counter.get(), 8, cudaMemcpyDeviceToHost, cs));
        CUDA_CHECK(cudaStreamSynchronize(cs));
        rescored += (long long)resc;
    }
};

TopkGpu::TopkGpu(const uint16_t* mem, int N, int d, const TopkGpuOptions& opt) : impl_(new Impl) {
    Impl& m = *impl_;
    if (d <= 0) fail("top-k search: embedding dimension d=%d must be positive", d);
    if (N <= 0) fail("top-k search: the memory is empty (%d items)", N);
    m.host = mem, m.N = N, m.d = d, m.dp = (d + 15) / 16 * 16, m.opt = opt;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&m.sm_count, cudaDevAttrMultiProcessorCount, dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&m.optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m.cs, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m.ts, cudaStreamNonBlocking));
    CUDA_CHECK(cudaFuncSetAttribute(select_scores_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    kScoreChunk * 8));
    const size_t bytes = (size_t)N * m.dp * 2;
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const size_t budget = opt.device_budget ? opt.device_budget : free_b / 4 * 3;
    m.resident = !opt.force_stream && bytes <= budget;
    if (m.resident) {
        m.dmem.reserve((size_t)N * m.dp);
        if (m.dp != d) CUDA_CHECK(cudaMemset(m.dmem.get(), 0, bytes));
        CUDA_CHECK(cudaMemcpy2D(m.dmem.get(), (size_t)m.dp * 2, mem, (size_t)d * 2, (size_t)d * 2, N,
                                cudaMemcpyHostToDevice));
    } else {
        m.tile_rows = opt.stream_tile_rows > 0 ? opt.stream_tile_rows
                                               : std::max<long long>(4096, (256LL << 20) / ((long long)m.dp * 2));
        m.tile_rows = std::min<long long>(m.tile_rows, N);
        for (int b = 0; b < 2; b++) {
            m.staging[b].reserve((size_t)m.tile_rows * d);
            m.dtile[b].reserve((size_t)m.tile_rows * m.dp);
            CUDA_CHECK(cudaMemset(m.dtile[b].get(), 0, (size_t)m.tile_rows * m.dp * 2));  // zero padding columns
            CUDA_CHECK(cudaEventCreateWithFlags(&m.copied[b], cudaEventDisableTiming));
            CUDA_CHECK(cudaEventCreateWithFlags(&m.done[b], cudaEventDisableTiming));
        }
    }
    // the uploads above ran on the legacy default stream, which does not order the non-blocking streams
    CUDA_CHECK(cudaDeviceSynchronize());
}

TopkGpu::~TopkGpu() = default;

void TopkGpu::search(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude) {
    Impl& m = *impl_;
    check_args(queries, Q, m.N, m.d, k, exclude);
    m.rescored = 0;
    for (int q0 = 0; q0 < Q; q0 += kQueryChunk) {
        const int nq = std::min(kQueryChunk, Q - q0);
        m.search_chunk(queries + (size_t)q0 * m.d, nq, k, out_idx + (size_t)q0 * k, out_score + (size_t)q0 * k,
                       exclude ? exclude + q0 : nullptr);
    }
}

bool TopkGpu::streaming() const { return !impl_->resident; }
int TopkGpu::rows() const { return impl_->N; }
int TopkGpu::dim() const { return impl_->d; }
const char* TopkGpu::last_path() const { return impl_->path.c_str(); }
long long TopkGpu::last_rescored() const { return impl_->rescored; }

void topk_search_cuda(const float* queries, const uint16_t* mem, int Q, int N, int d, int k, int* out_idx,
                      float* out_score, const int* exclude, const TopkGpuOptions& opt) {
    check_args(queries, Q, N, d, k, exclude);
    if (Q == 0) return;
    TopkGpu g(mem, N, d, opt);
    g.search(queries, Q, k, out_idx, out_score, exclude);
}

}  // namespace reco
