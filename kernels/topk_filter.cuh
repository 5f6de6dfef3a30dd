// topk_filter.cuh — the fused scan of the GPU top-k (kernels/topk.cu): tensor-core scores used only
// as a FILTER (the bound of topk_bound.cu says which rows could still reach a query's k-th best),
// exact re-scoring of the survivors, and per (block, query) candidate buffers. Plus the two small
// kernels around it: seeding the thresholds θ from the pre-pass, and compacting the buffers.
#pragma once
#include <cuda_fp16.h>
#include <cuda_pipeline.h>
#include <mma.h>

#include <cstdint>

#include "topk_params.cuh"
#include "topk_select.cuh"

namespace reco {
namespace topk {

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

}  // namespace topk
}  // namespace reco
