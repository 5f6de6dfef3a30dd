// reference/matmul.cpp — matrix products as plain loops (the twins of gemm.cpp and fusion_gemm.cpp).
#include <cstddef>
#include <vector>

#include "reference/reference.h"

namespace reco {

// out[n][o] = b[o] + Σ_c inp[n][c]·W[o][c]
void matmul_reference(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* x = inp + (size_t)n * C;
        for (int o = 0; o < OC; o++) {
            const float* w = weight + (size_t)o * C;
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)x[c] * w[c];
            out[(size_t)n * OC + o] = (float)acc;
        }
    }
}

// C[i][j] = β·C[i][j] + α·Σ_p op(A)[i][p]·op(B)[p][j]
// op(A)'s rows and op(B)'s columns are first copied out as contiguous length-K vectors, so that the
// product is M·N plain dot products (the compiler vectorises each; that keeps --impl reference usable).
template <class T>
void gemm_reference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                    T beta, T* C, int ldc) {
    std::vector<T> a((size_t)M * K), b((size_t)N * K);  // a[i] = row i of op(A), b[j] = column j of op(B)
    for (int i = 0; i < M; i++)
        for (int p = 0; p < K; p++) a[(size_t)i * K + p] = transA ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
    for (int j = 0; j < N; j++)
        for (int p = 0; p < K; p++) b[(size_t)j * K + p] = transB ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
#pragma omp parallel for if ((double)M * N * K > 1e5)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const T* x = a.data() + (size_t)i * K;
            const T* y = b.data() + (size_t)j * K;
            T sum = T(0);
#pragma omp simd reduction(+ : sum)
            for (int p = 0; p < K; p++) sum += x[p] * y[p];
            T& c = C[(size_t)i * ldc + j];
            c = beta == T(0) ? alpha * sum : beta * c + alpha * sum;
        }
}

template void gemm_reference<float>(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
                                    float*, int);
template void gemm_reference<double>(bool, bool, int, int, int, double, const double*, int, const double*, int,
                                     double, double*, int);

}  // namespace reco
