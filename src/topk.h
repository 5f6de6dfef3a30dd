// topk.h — exact top-k inner-product search over an fp16 memory (SPEC §5).
//
// RECO retrieves, for each query embedding, the k memory items with the largest inner
// product (= cosine, all rows are L2-normalised). The search is exact: every memory row
// is scored, nothing is approximated, and the result is fully defined so that the CPU
// and the CUDA implementation return identical indices.
//
// THE REFERENCE DEFINITION (what every implementation must reproduce bit for bit):
//   score(q, i) = s_{d-1}, where  s_{-1} = +0.0f  and
//                 s_c = fmaf(query[q][c], (float)mem[i][c], s_{c-1})   for c = 0, 1, ..., d-1
//   i.e. one sequential fused multiply-add chain in fp32, in increasing c, with the fp16
//   memory value converted to fp32 exactly. (CUDA: acc = __fmaf_rn(q[c], __half2float(m[c]), acc)
//   in a plain loop over c; a register-tiled SGEMM that accumulates each output over k in
//   order has exactly this chain. Tensor cores / split-k / tree reductions do NOT.)
//   Order of results: descending score; equal scores → the LOWER memory index first.
//   An item i ranks above j iff score_i > score_j, or score_i == score_j and i < j.
//   (-0.0 == +0.0 as scores; NaN cannot occur: queries are checked, memory is checked on open.)
#pragma once
#include <cstdint>

#include "cpu_features.h"

namespace reco {

// queries   [Q, d] fp32 (need not be normalised; must be finite, else reco::Error)
// mem_f16   [N, d] IEEE binary16 bit patterns (finite; EmbeddingFile checks this on open)
// out_idx   [Q, k] memory indices, best first;  out_score [Q, k] the matching scores
// exclude   optional [Q]: memory index that query q must never retrieve (its own pair when
//           the training set is also the memory), -1 = none. Then k must be ≤ N-1.
// Errors (reco::Error): k ≤ 0, "k=%d is larger than the memory (%d items)", Q < 0, N ≤ 0, d ≤ 0,
// non-finite query value.
// Threads: OpenMP (omp_get_max_threads()).
void topk_search(const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k,
                 int* out_idx, float* out_score, const int* exclude = nullptr);

// The same search at an explicit kernel level (reco::Error if this CPU lacks it); topk_search runs
// isa_active(). Every level returns the reference's bits: portable / avx2 / avx512 compute the fmaf
// chain itself in registers; avx512_bf16 filters with bf16 dot products under a proven error bound
// and re-scores the survivors with the chain (topk_bf16_filter.cpp). The tests run every level.
void topk_search_at(Isa level, const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k,
                    int* out_idx, float* out_score, const int* exclude = nullptr);
const char* topk_kernel_name(Isa level);  // one line for `reco info`

// The blocked search with the portable micro-kernel (= topk_search_at(Isa::portable, ...)).
void topk_search_portable(const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k,
                          int* out_idx, float* out_score, const int* exclude = nullptr);

// The plain reference (reference/topk.cpp): the definition above, one sequential fmaf chain per
// (query, item), then a sort. O(Q·N·d) with no blocking. topk_search runs it under --impl reference.
void topk_search_reference(const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k,
                           int* out_idx, float* out_score, const int* exclude = nullptr);

// The argument checks (and error messages) every implementation shares; throws reco::Error.
void topk_check_args(const float* queries, int Q, int N, int d, int k, const int* exclude);

}  // namespace reco
