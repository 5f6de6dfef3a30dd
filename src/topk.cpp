// topk.cpp — exact, tiled top-k inner-product search over an fp16 memory (SPEC §5).
//
// The definition every implementation reproduces is in topk.h: score = one sequential fp32
// fmaf chain over c = 0..d-1, ties → lower index. topk_search_reference() is that definition
// written as plainly as possible (reference/topk.cpp); topk_search() computes the same numbers fast:
//
//   for each chunk of ≤ 1024 queries (packed once as [group][c][G] panels, G queries a group)
//     in parallel over memory tiles of kTileRows rows:
//       convert the tile fp16 → fp32 once (F16C when available; exact either way)
//       for each query group, for each block of RB rows of the tile:
//         micro-kernel: RB×G accumulators in registers, acc[r][l] = fma(m[r][c], q[l][c], acc)
//                       for c = 0..d-1 — per output exactly the reference chain
//                       (AVX-512 or AVX2+FMA intrinsics; else portable std::fma loops)
//         select: one vector compare of the RB×G scores against each query's current k-th best
//                 (thr); only the few that reach it touch that query's heap
//     merge the per-thread heaps of each query, sort (score desc, index asc), keep k.
//
// Because each output is the same fmaf chain as the reference, the scores are bit-identical
// to topk_search_reference(), and so are the indices (ties are resolved by the same total
// order, "better" below, in every heap and in the merge — independent of which thread saw what).
//
// Memory traffic: the fp16 memory is streamed from RAM once per query chunk; a converted tile
// (kTileRows·d·4 bytes, 384 KB at d = 512) stays in L2 while every group of the chunk runs over it.
#include "topk.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include <omp.h>
#if defined(__AVX512F__) || defined(__AVX2__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "common.h"
#include "impl.h"
#include "safetensors.h"  // half_to_float

namespace reco {

static constexpr int kTileRows = 192;   // memory rows per tile; a multiple of every kernel's RB
static constexpr int kChunkQueries = 1024;

// The ranking order: (s1, i1) ranks above (s2, i2).
static inline bool better(float s1, int i1, float s2, int i2) { return s1 > s2 || (s1 == s2 && i1 < i2); }

// ---------------------------------------------------------------------------------------------
// Argument checks shared by the fast path and the reference.

void topk_check_args(const float* queries, int Q, int N, int d, int k, const int* exclude) {
    if (d <= 0) fail("top-k search: embedding dimension d=%d must be positive", d);
    if (N <= 0) fail("top-k search: the memory is empty (%d items)", N);
    if (Q < 0) fail("top-k search: negative number of queries (%d)", Q);
    if (k <= 0) fail("top-k search: k=%d must be at least 1", k);
    if (k > N) fail("k=%d is larger than the memory (%d items)", k, N);
    if (exclude) {
        for (int q = 0; q < Q; q++) {
            if (exclude[q] < -1 || exclude[q] >= N)
                fail("top-k search: exclude[%d]=%d is not a memory index (0..%d, or -1 for none)", q, exclude[q], N - 1);
            if (exclude[q] >= 0 && k > N - 1)
                fail("k=%d is larger than the memory minus the excluded item (%d items)", k, N - 1);
        }
    }
    for (size_t j = 0; j < (size_t)Q * d; j++)
        if (!std::isfinite(queries[j]))
            fail("top-k search: query %zu has a non-finite value (%g) at position %zu", j / d, queries[j], j % d);
}

// The reference definition, topk_search_reference, is in reference/topk.cpp.

// ---------------------------------------------------------------------------------------------
// fp16 → fp32 for a run of values (exact in every branch).

static void convert_f16(const uint16_t* src, float* dst, size_t n) {
    size_t j = 0;
#if defined(__AVX512F__)
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(dst + j, _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256((const __m256i*)(src + j))));
    // (maskz with all lanes = plain vcvtph2ps; avoids a GCC 12 false 'uninitialized' warning)
#elif defined(__F16C__)
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(dst + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src + j))));
#endif
    for (; j < n; j++) dst[j] = half_to_float(src[j]);
}

// 64-byte aligned float buffer (vector loads never split a cache line).
struct AlignedFloats {
    float* p = nullptr;
    explicit AlignedFloats(size_t n) {
        if (posix_memalign((void**)&p, 64, std::max<size_t>(n, 1) * sizeof(float)) != 0) throw std::bad_alloc();
        memset(p, 0, std::max<size_t>(n, 1) * sizeof(float));
    }
    ~AlignedFloats() { free(p); }
    AlignedFloats(const AlignedFloats&) = delete;
    AlignedFloats& operator=(const AlignedFloats&) = delete;
};

// ---------------------------------------------------------------------------------------------
// Per-thread partial results for one chunk of queries: for each query a bounded heap of the
// k best (score, index) seen so far, the worst at the root (parent never ranks above a child).
// thr[q] is the root's score once the heap is full, -inf before: a score below thr can never
// enter, so the select step skips it with one compare. Padded query lanes get thr = +inf.

struct Heaps {
    int k = 0;
    std::vector<float> s, thr;
    std::vector<int> idx, size;

    void reset(int nq, int nq_padded, int k_) {
        k = k_;
        s.assign((size_t)nq * k, 0.0f);
        idx.assign((size_t)nq * k, 0);
        size.assign(nq, 0);
        thr.assign(nq_padded + 64, std::numeric_limits<float>::infinity());
        std::fill(thr.begin(), thr.begin() + nq, -std::numeric_limits<float>::infinity());
    }

    void push(int q, float score, int i) {
        float* hs = &s[(size_t)q * k];
        int* hi = &idx[(size_t)q * k];
        int n = size[q];
        if (n < k) {  // not full: sift the newcomer up past every parent that ranks above it
            int j = n;
            while (j > 0) {
                int p = (j - 1) / 2;
                if (!better(hs[p], hi[p], score, i)) break;
                hs[j] = hs[p], hi[j] = hi[p];
                j = p;
            }
            hs[j] = score, hi[j] = i;
            size[q] = ++n;
        } else {      // full: replace the root if the newcomer ranks above it, sift down
            if (!better(score, i, hs[0], hi[0])) return;
            int j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, c = l;
                if (l >= k) break;
                if (r < k && better(hs[l], hi[l], hs[r], hi[r])) c = r;  // c = the worse child
                if (!better(score, i, hs[c], hi[c])) break;
                hs[j] = hs[c], hi[j] = hi[c];
                j = c;
            }
            hs[j] = score, hi[j] = i;
        }
        if (n == k) thr[q] = hs[0];
    }
};

// ---------------------------------------------------------------------------------------------
// Micro-kernels. Contract: rows = RB consecutive fp32 memory rows (stride d), qp = one query
// group packed [c][G]; out[r][l] = the reference fmaf chain of row r and query lane l.

// Portable: what a build without AVX-512 runs (compilers vectorise the l loop with FMA units;
// std::fma is exact everywhere, in software if need be).
struct KernelPortable {
    static constexpr int G = 16, RB = 4;
    static void run(const float* rows, const float* qp, int d, float* out) {
        float acc[RB][G] = {};
        for (int c = 0; c < d; c++) {
            const float* qc = qp + (size_t)c * G;
            for (int r = 0; r < RB; r++) {
                float m = rows[(size_t)r * d + c];
                for (int l = 0; l < G; l++) acc[r][l] = std::fma(m, qc[l], acc[r][l]);
            }
        }
        memcpy(out, acc, sizeof acc);
    }
};

#if defined(__AVX512F__)
// AVX-512: QV vectors of 16 queries × RB rows = 24 accumulators in registers. Per c: QV vector
// loads of queries, RB broadcasts of memory values, 24 FMAs. QV = 4 for large batches,
// QV = 1 when at most 16 queries are searched (no work wasted on empty lanes).
template <int QV>
struct KernelAvx512 {
    static constexpr int G = 16 * QV, RB = 24 / QV;
    static void run(const float* rows, const float* qp, int d, float* out) {
        // (the unroll pragmas make the compiler keep all of acc in registers)
        __m512 acc[RB][QV];
#pragma GCC unroll 24
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) acc[r][v] = _mm512_setzero_ps();
        for (int c = 0; c < d; c++) {
            __m512 q[QV];
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) q[v] = _mm512_load_ps(qp + (size_t)c * G + 16 * v);
#pragma GCC unroll 24
            for (int r = 0; r < RB; r++) {
                __m512 m = _mm512_set1_ps(rows[(size_t)r * d + c]);
#pragma GCC unroll 4
                for (int v = 0; v < QV; v++) acc[r][v] = _mm512_fmadd_ps(m, q[v], acc[r][v]);
            }
        }
#pragma GCC unroll 24
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) _mm512_store_ps(out + r * G + 16 * v, acc[r][v]);
    }
};
#endif

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
// AVX2 + FMA (16 ymm registers): QV vectors of 8 queries × RB rows = 12 accumulators.
template <int QV>
struct KernelAvx2 {
    static constexpr int G = 8 * QV, RB = 12 / QV;
    static void run(const float* rows, const float* qp, int d, float* out) {
        __m256 acc[RB][QV];
#pragma GCC unroll 12
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 2
            for (int v = 0; v < QV; v++) acc[r][v] = _mm256_setzero_ps();
        for (int c = 0; c < d; c++) {
            __m256 q[QV];
#pragma GCC unroll 2
            for (int v = 0; v < QV; v++) q[v] = _mm256_load_ps(qp + (size_t)c * G + 8 * v);
#pragma GCC unroll 12
            for (int r = 0; r < RB; r++) {
                __m256 m = _mm256_broadcast_ss(rows + (size_t)r * d + c);
#pragma GCC unroll 2
                for (int v = 0; v < QV; v++) acc[r][v] = _mm256_fmadd_ps(m, q[v], acc[r][v]);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 2
            for (int v = 0; v < QV; v++) _mm256_store_ps(out + r * G + 8 * v, acc[r][v]);
    }
};
#endif

// Select: offer every score that reaches its query's threshold to that query's heap.
// out [RB][G] from a kernel; rows valid rows; i0 memory index of row 0; q0 chunk-local index of
// lane 0; excl chunk-local exclude list or null.
template <int G>
static void select_block(const float* out, int rows, int i0, int q0, Heaps& h, const int* excl) {
    for (int r = 0; r < rows; r++) {
        const float* sr = out + r * G;
        const int i = i0 + r;
#if defined(__AVX512F__)
        for (int v = 0; v < G / 16; v++) {
            __mmask16 m = _mm512_cmp_ps_mask(_mm512_load_ps(sr + 16 * v), _mm512_loadu_ps(&h.thr[q0 + 16 * v]),
                                             _CMP_GE_OQ);
            while (m) {
                int l = __builtin_ctz(m) + 16 * v;
                m &= m - 1;
                if (!excl || excl[q0 + l] != i) h.push(q0 + l, sr[l], i);
            }
        }
#else
        for (int l = 0; l < G; l++)
            if (sr[l] >= h.thr[q0 + l] && (!excl || excl[q0 + l] != i)) h.push(q0 + l, sr[l], i);
#endif
    }
}

// ---------------------------------------------------------------------------------------------
// The blocked search with kernel K.

template <class K>
static void search_blocked(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                           int* out_idx, float* out_score, const int* exclude) {
    constexpr int G = K::G, RB = K::RB;
    static_assert(kTileRows % RB == 0, "tile rows must be a multiple of the kernel's row block");
    const int T = omp_get_max_threads();
    const int ntiles = (N + kTileRows - 1) / kTileRows;
    // Queries per chunk: ≤ 1024, fewer when k is large so that T·chunk·k heap entries stay bounded.
    long long chunk = std::min<long long>(kChunkQueries, std::max<long long>(G, (1LL << 24) / ((long long)T * k)));
    chunk = std::max<long long>(G, chunk / G * G);

    std::vector<Heaps> heaps(T);
    for (int q0 = 0; q0 < Q; q0 += (int)chunk) {
        const int nq = (int)std::min<long long>(chunk, Q - q0);
        const int ngroups = (nq + G - 1) / G;
        // Pack the chunk's queries: qp[g][c][l] = query (q0 + g·G + l), component c; zero lanes pad.
        AlignedFloats qp((size_t)ngroups * d * G);
        for (int g = 0; g < ngroups; g++)
            for (int l = 0; l < G && g * G + l < nq; l++) {
                const float* x = queries + (size_t)(q0 + g * G + l) * d;
                for (int c = 0; c < d; c++) qp.p[((size_t)g * d + c) * G + l] = x[c];
            }
        const int* excl = exclude ? exclude + q0 : nullptr;
        // Work items = (tile, slice of query groups). A memory of few tiles gets its parallelism
        // from the query groups instead.
        const int nslices = ntiles >= 2 * T ? 1 : std::min(ngroups, T);
        const int nitems = ntiles * nslices;

        for (Heaps& h : heaps) h.reset(nq, ngroups * G, k);  // all T, even if fewer threads run
        #pragma omp parallel num_threads(T)
        {
            Heaps& h = heaps[omp_get_thread_num()];
            AlignedFloats tile((size_t)kTileRows * d), out((size_t)RB * G);
            #pragma omp for schedule(dynamic, 1)
            for (int item = 0; item < nitems; item++) {
                const int t = item / nslices, slice = item % nslices;
                const int g_begin = (int)((long long)slice * ngroups / nslices);
                const int g_end = (int)((long long)(slice + 1) * ngroups / nslices);
                const int r0 = t * kTileRows, nr = std::min(kTileRows, N - r0);
                const int nr_padded = (nr + RB - 1) / RB * RB;
                convert_f16(mem + (size_t)r0 * d, tile.p, (size_t)nr * d);
                memset(tile.p + (size_t)nr * d, 0, (size_t)(nr_padded - nr) * d * sizeof(float));
                for (int g = g_begin; g < g_end; g++) {
                    const float* qg = qp.p + (size_t)g * d * G;
                    for (int rb = 0; rb < nr_padded; rb += RB) {
                        K::run(tile.p + (size_t)rb * d, qg, d, out.p);
                        select_block<G>(out.p, std::min(RB, nr - rb), r0 + rb, g * G, h, excl);
                    }
                }
            }
        }

        // Merge: each query's candidates from every thread, in the one ranking order.
        #pragma omp parallel for schedule(static)
        for (int q = 0; q < nq; q++) {
            std::vector<std::pair<float, int>> cand;
            cand.reserve((size_t)T * k);
            for (int t = 0; t < T; t++)
                for (int j = 0; j < heaps[t].size[q]; j++)
                    cand.push_back({heaps[t].s[(size_t)q * k + j], heaps[t].idx[(size_t)q * k + j]});
            std::sort(cand.begin(), cand.end(), [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
                return better(a.first, a.second, b.first, b.second);
            });
            // every query saw all N items (minus its excluded one) across the threads, so ≥ k candidates
            for (int j = 0; j < k; j++) {
                out_idx[(size_t)(q0 + q) * k + j] = cand[j].second;
                out_score[(size_t)(q0 + q) * k + j] = cand[j].first;
            }
        }
    }
}

void topk_search(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                 int* out_idx, float* out_score, const int* exclude) {
    if (impl() == Impl::reference) return topk_search_reference(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    topk_check_args(queries, Q, N, d, k, exclude);
    if (Q == 0) return;
#if defined(__AVX512F__)
    if (Q <= 16) search_blocked<KernelAvx512<1>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    else search_blocked<KernelAvx512<4>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
#elif defined(__AVX2__) && defined(__FMA__)
    if (Q <= 8) search_blocked<KernelAvx2<1>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    else search_blocked<KernelAvx2<2>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
#else
    search_blocked<KernelPortable>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
#endif
}

void topk_search_portable(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                          int* out_idx, float* out_score, const int* exclude) {
    topk_check_args(queries, Q, N, d, k, exclude);
    if (Q == 0) return;
    search_blocked<KernelPortable>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
}

}  // namespace reco
