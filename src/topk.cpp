// topk.cpp — exact, tiled top-k inner-product search over an fp16 memory (SPEC §5): the argument
// checks, the plain reference, the portable micro-kernel and the run-time choice of kernel level.
//
// The definition every implementation reproduces is in topk.h: score = one sequential fp32
// fmaf chain over c = 0..d-1, ties → lower index. topk_search_reference() is that definition
// written as plainly as possible; topk_search() computes the same bits fast, at the level
// cpu_features.h picks (reco info prints it):
//   portable      KernelPortable below, through the blocked driver of topk_blocked.h
//   avx2          topk_avx2.cpp     (12 ymm accumulators; the fmaf chain in registers)
//   avx512        topk_avx512.cpp   (24 zmm accumulators; the fmaf chain in registers)
//   avx512_bf16   topk_bf16_filter.cpp: vdpbf16ps filter with a proven error bound, exact re-scoring
//                 of the candidates with the fmaf chain (the bound's derivation is in that file)
// The exact levels share the driver (topk_blocked.h):
//   for each chunk of ≤ 1024 queries (packed once as [group][c][G] panels, G queries a group)
//     in parallel over memory tiles of kTileRows rows:
//       convert the tile fp16 → fp32 once (exact)
//       for each query group, for each block of RB rows of the tile:
//         micro-kernel: RB×G accumulators in registers, acc[r][l] = fma(m[r][c], q[l][c], acc)
//                       for c = 0..d-1 — per output exactly the reference chain
//         select: one vector compare of the RB×G scores against each query's current k-th best
//                 (thr); only the few that reach it touch that query's heap
//     merge the per-thread heaps of each query, sort (score desc, index asc), keep k.
// Ties are resolved by the same total order ("better") in every heap and in the merge, independent
// of which thread saw what, so indices match the reference too. Every kernel is compiled for its own
// target (pragmas), whatever -march the build used: `make NATIVE=0` still runs the fast levels.
//
// Memory traffic: the fp16 memory is streamed from RAM once per query chunk; a converted tile
// (kTileRows·d·4 bytes, 384 KB at d = 512) stays in L2 while every group of the chunk runs over it.
#include "topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "impl.h"
#include "safetensors.h"  // half_to_float
#include "topk_blocked.h"

namespace reco {

using topk_detail::better;

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
// Portable micro-kernel: what a CPU without AVX2 + FMA + F16C runs (compilers vectorise the l loop;
// std::fma is exact everywhere, in software where the CPU has no FMA unit).

namespace {
struct KernelPortable {
    static constexpr int G = 16, RB = 4;
    static void convert(const uint16_t* src, float* dst, size_t n) {
        for (size_t j = 0; j < n; j++) dst[j] = half_to_float(src[j]);
    }
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
    static void select(const float* out, int rows, int i0, int q0, topk_detail::Heaps& h, const int* excl) {
        topk_detail::select_scalar<G>(out, rows, i0, q0, h, excl);
    }
};
}  // namespace

// ---------------------------------------------------------------------------------------------
// Dispatch.

void topk_search_at(Isa level, const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                    int* out_idx, float* out_score, const int* exclude) {
    if ((int)level > (int)isa_supported())
        fail("top-k search: kernel level %s is not supported by this CPU (best: %s)", isa_name(level),
             isa_name(isa_supported()));
    topk_check_args(queries, Q, N, d, k, exclude);
    if (Q == 0) return;
    using namespace topk_detail;
    switch (level) {
        case Isa::avx512_bf16:
            search_filtered_bf16(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
            break;
        case Isa::avx512: search_exact_avx512(queries, mem, Q, N, d, k, out_idx, out_score, exclude); break;
        case Isa::avx2: search_exact_avx2(queries, mem, Q, N, d, k, out_idx, out_score, exclude); break;
        default: search_blocked<KernelPortable>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    }
}

void topk_search(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                 int* out_idx, float* out_score, const int* exclude) {
    if (impl() == Impl::reference) return topk_search_reference(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    topk_search_at(isa_active(), queries, mem, Q, N, d, k, out_idx, out_score, exclude);
}

void topk_search_portable(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                          int* out_idx, float* out_score, const int* exclude) {
    topk_search_at(Isa::portable, queries, mem, Q, N, d, k, out_idx, out_score, exclude);
}

const char* topk_kernel_name(Isa level) {
    switch (level) {
        case Isa::avx512_bf16: return "avx512_bf16 filter + exact fp32 re-scoring";
        case Isa::avx512: return "avx512 exact fma (24 zmm accumulators)";
        case Isa::avx2: return "avx2 exact fma (12 ymm accumulators)";
        default: return "portable exact fma";
    }
}

}  // namespace reco
