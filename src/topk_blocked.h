// topk_blocked.h — the machinery the exact blocked top-k search (SPEC §5) shares between its
// instruction-set variants (topk.cpp portable, topk_avx2.cpp, topk_avx512.cpp): per-thread
// bounded heaps, aligned buffers, and the tiled driver search_blocked<K> over a micro-kernel K.
//
// Kernel contract (K is a struct with static members, compiled for its own target):
//   G, RB                 queries per group (vector lanes) and memory rows per register block
//   convert(src, dst, n)  fp16 → fp32, exact
//   run(rows, qp, d, out) out[r][l] = the reference fmaf chain of fp32 row r and packed query lane l
//   select(out, rows, i0, q0, heaps, excl)  offer every score ≥ its query's threshold to the heap
// This header holds no SIMD code, so nothing in it is compiled for an instruction set the CPU
// may lack.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <utility>
#include <vector>

#include <omp.h>

namespace reco {
namespace topk_detail {

constexpr int kTileRows = 192;   // memory rows per tile; a multiple of every kernel's RB
constexpr int kChunkQueries = 1024;

// The ranking order: (s1, i1) ranks above (s2, i2).
inline bool better(float s1, int i1, float s2, int i2) { return s1 > s2 || (s1 == s2 && i1 < i2); }

// 64-byte aligned buffer of T (vector loads never split a cache line), zero-filled.
template <class T>
struct Aligned {
    T* p = nullptr;
    explicit Aligned(size_t n) {
        if (posix_memalign((void**)&p, 64, std::max<size_t>(n, 1) * sizeof(T)) != 0) throw std::bad_alloc();
        memset((void*)p, 0, std::max<size_t>(n, 1) * sizeof(T));
    }
    ~Aligned() { free(p); }
    Aligned(const Aligned&) = delete;
    Aligned& operator=(const Aligned&) = delete;
};

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

// Scalar select (the portable kernel's; the SIMD kernels compare a vector at a time).
template <int G>
inline void select_scalar(const float* out, int rows, int i0, int q0, Heaps& h, const int* excl) {
    for (int r = 0; r < rows; r++) {
        const float* sr = out + r * G;
        const int i = i0 + r;
        for (int l = 0; l < G; l++)
            if (sr[l] >= h.thr[q0 + l] && (!excl || excl[q0 + l] != i)) h.push(q0 + l, sr[l], i);
    }
}

// The blocked exact search with kernel K:
//   for each chunk of ≤ 1024 queries (packed once as [group][c][G] panels)
//     in parallel over memory tiles of kTileRows rows:
//       convert the tile fp16 → fp32 once; for each query group, for each block of RB rows:
//         K::run (per output exactly the reference chain), K::select against the thresholds
//     merge the per-thread heaps of each query, sort (score desc, index asc), keep k.
template <class K>
void search_blocked(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
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
        Aligned<float> qp((size_t)ngroups * d * G);
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
            Aligned<float> tile((size_t)kTileRows * d), out((size_t)RB * G);
            #pragma omp for schedule(dynamic, 1)
            for (int item = 0; item < nitems; item++) {
                const int t = item / nslices, slice = item % nslices;
                const int g_begin = (int)((long long)slice * ngroups / nslices);
                const int g_end = (int)((long long)(slice + 1) * ngroups / nslices);
                const int r0 = t * kTileRows, nr = std::min(kTileRows, N - r0);
                const int nr_padded = (nr + RB - 1) / RB * RB;
                K::convert(mem + (size_t)r0 * d, tile.p, (size_t)nr * d);
                memset(tile.p + (size_t)nr * d, 0, (size_t)(nr_padded - nr) * d * sizeof(float));
                for (int g = g_begin; g < g_end; g++) {
                    const float* qg = qp.p + (size_t)g * d * G;
                    for (int rb = 0; rb < nr_padded; rb += RB) {
                        K::run(tile.p + (size_t)rb * d, qg, d, out.p);
                        K::select(out.p, std::min(RB, nr - rb), r0 + rb, g * G, h, excl);
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

// The instruction-set variants (each file compiled with its kernels' target attributes).
void search_exact_avx2(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                       int* out_idx, float* out_score, const int* exclude);
void search_exact_avx512(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                         int* out_idx, float* out_score, const int* exclude);
// bf16 filter + exact re-scoring (topk_bf16_filter.cpp); needs avx512_bf16.
void search_filtered_bf16(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                          int* out_idx, float* out_score, const int* exclude);

}  // namespace topk_detail
}  // namespace reco
