// fusion_gemm.h — a small general matrix multiply for the fusion module's forward and backward.
//
//   C[M,N] = beta·C + alpha·op(A)·op(B),   op(A) = A [M,K] or Aᵀ (A stored [K,M]),
//                                           op(B) = B [K,N] or Bᵀ (B stored [N,K]).
//
// Row-major with leading dimensions (lda, ldb, ldc), so a head's column block of a [B,d] matrix
// is addressed in place. Templated on the scalar so the same fusion code runs in float (training)
// and double (the finite-difference gradient checks). The three shapes backprop needs:
//   y = x·Wᵀ      gemm(false, true , ...)   (PyTorch Linear, W [out,in])
//   dx = dy·W     gemm(false, false, ...)
//   dW += dyᵀ·x   gemm(true , false, ..., beta = 1)
// Implementation (fusion_gemm.cpp): BLIS-style packing of A into MR-row strips and B into
// NR-column strips, a register-blocked micro-kernel in plain C++ that the compiler vectorises,
// OpenMP: each thread computes its own block of C, no barriers inside. beta == 0 never reads C.
#pragma once
#include <cstddef>

namespace reco {

template <class T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc);

// `count` independent products of the same shape, problem b using A + b·strideA, B + b·strideB,
// C + b·strideC (e.g. one per attention head), in ONE parallel region.
template <class T>
void gemm_batched(int count, bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                  size_t strideA, const T* B, int ldb, size_t strideB, T beta, T* C, int ldc, size_t strideC);

}  // namespace reco
