// reference.h — the plain reference twins of the fast kernels (--impl reference, impl.h).
//
// Read these first. Each is the definition written as plainly as possible: short loops in the
// paper's notation, no intrinsics, no blocking, at most one `omp parallel for`. The fast versions
// (gemm.cpp, ops.cpp attention, fusion_gemm.cpp, topk.cpp, adamw.cpp) must reproduce them; tests/test_reference_twins.cpp
// runs both. The fusion layer's reference is fusion_forward_ref / fusion_backward_ref (fusion.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "adamw.h"

namespace reco {

// ---- reference/matmul.cpp
// y = x·Wᵀ + b, every Linear of the CLIP/SigLIP towers:
//   out[n][o] = b[o] + Σ_c inp[n][c]·W[o][c]     inp [N,C], W [OC,C] (PyTorch layout), b [OC] or null
// summed in double over c = 0..C-1, rounded once to float.
void matmul_reference(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC);

// C[M,N] = β·C + α·op(A)·op(B): the contract of fusion_gemm.h's gemm (op(A) = A [M,K] or Aᵀ with
// A stored [K,M]; op(B) = B [K,N] or Bᵀ with B stored [N,K]; row-major with leading dimensions),
// as a triple loop in increasing k. β = 0 never reads C.
template <class T>
void gemm_reference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                    T beta, T* C, int ldc);

// ---- reference/attention.cpp
// Multi-head self-attention over B sequences of T tokens, C = NH heads × hd: for head h and token i,
//   p = softmax_j( q_i·k_j / √hd )  (j ≤ i when causal),   out_i = Σ_j p_j · v_j
// q/k/v rows are `stride` floats apart (C for separate buffers, 3C for a packed qkv); out is [B·T, C].
void attention_reference(float* out, const float* q, const float* k, const float* v, size_t stride, int B, int T,
                         int C, int NH, bool causal);

// ---- reference/adamw.cpp
// One AdamW update of every parameter (paper §4.1; torch.optim.AdamW), t ← t+1. Same arithmetic,
// in the same order, as AdamW::step, so the two agree bit for bit.
void adamw_step_reference(AdamW& opt, float* params, const float* grads, double lr);

// ---- reference/topk.cpp
// KNN(q, M) by brute force: every score as the reference fmaf chain of topk.h, then a sort
// (score descending, lower index first). Declared in topk.h as topk_search_reference.

}  // namespace reco
