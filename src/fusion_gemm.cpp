// fusion_gemm.cpp — packed, register-blocked GEMM for the fusion module (see fusion_gemm.h).
//
// Layout of the work, BLIS style:
//   for each K block of KC:        pack op(A)[:, kblock] into strips of MR rows (zero padded)
//     for each N block of NC:      pack op(B)[kblock, nblock] into strips of NR columns
//       for each (B strip, A strip) tile, in parallel: MR×NR micro-kernel, then write back.
// The micro-kernel keeps its MR×NR accumulators in registers (8×32 floats = 16 AVX-512 or
// 32 AVX2 registers' worth); on this code the compiler's vectoriser does the rest.
#include "fusion_gemm.h"

#include <algorithm>
#include <vector>

namespace reco {
namespace {

template <class T> struct Tile;
template <> struct Tile<float> { static constexpr int MR = 8, NR = 32; };
template <> struct Tile<double> { static constexpr int MR = 8, NR = 16; };
constexpr int KC = 256;
constexpr int NC = 2048;

// acc[MR][NR] = Σ_p a[p][0..MR) ⊗ b[p][0..NR)
template <class T, int MR, int NR>
inline void micro_kernel(int kc, const T* __restrict a, const T* __restrict b, T* __restrict acc) {
    T c[MR][NR] = {};
    for (int p = 0; p < kc; p++) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            const T ai = a[(size_t)p * MR + i];
#pragma GCC unroll 32
            for (int j = 0; j < NR; j++) c[i][j] += ai * b[(size_t)p * NR + j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i * NR + j] = c[i][j];
}

template <class T>
void gemm_small(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                const T* B, int ldb, T beta, T* C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            T s = 0;
            for (int p = 0; p < K; p++) {
                T a = transA ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                T b = transB ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += a * b;
            }
            T& c = C[(size_t)i * ldc + j];
            c = (beta == T(0) ? T(0) : beta * c) + alpha * s;
        }
}

}  // namespace

template <class T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
          const T* B, int ldb, T beta, T* C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // C = beta·C
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                T& c = C[(size_t)i * ldc + j];
                c = beta == T(0) ? T(0) : beta * c;
            }
        return;
    }
    if ((double)M * N * K < 32768.0) {
        gemm_small(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    const int mstrips = (M + MR - 1) / MR;
    static thread_local std::vector<T> apack, bpack;
    apack.resize((size_t)mstrips * MR * KC);
    bpack.resize((size_t)((NC + NR - 1) / NR) * NR * KC);
    const bool parallel = (double)M * N * K > 1e6;

    for (int p0 = 0; p0 < K; p0 += KC) {
        const int kc = std::min(KC, K - p0);
        const bool first = (p0 == 0);
        T* ap = apack.data();
        // pack op(A)[0:M, p0:p0+kc] → ap[strip][p][ii]
#pragma omp parallel for if (parallel)
        for (int s = 0; s < mstrips; s++) {
            T* dst = ap + (size_t)s * MR * kc;
            for (int ii = 0; ii < MR; ii++) {
                const int i = s * MR + ii;
                for (int p = 0; p < kc; p++) {
                    T v = 0;
                    if (i < M) v = transA ? A[(size_t)(p0 + p) * lda + i] : A[(size_t)i * lda + p0 + p];
                    dst[(size_t)p * MR + ii] = v;
                }
            }
        }
        for (int j0 = 0; j0 < N; j0 += NC) {
            const int nc = std::min(NC, N - j0);
            const int nstrips = (nc + NR - 1) / NR;
            T* bp = bpack.data();
#pragma omp parallel if (parallel)
            {
                // pack op(B)[p0:p0+kc, j0:j0+nc] → bp[strip][p][jj]
#pragma omp for
                for (int s = 0; s < nstrips; s++) {
                    T* dst = bp + (size_t)s * NR * kc;
                    for (int p = 0; p < kc; p++)
                        for (int jj = 0; jj < NR; jj++) {
                            const int j = j0 + s * NR + jj;
                            T v = 0;
                            if (j < j0 + nc)
                                v = transB ? B[(size_t)j * ldb + p0 + p] : B[(size_t)(p0 + p) * ldb + j];
                            dst[(size_t)p * NR + jj] = v;
                        }
                }
                // tiles: each thread sweeps the A strips against one B strip at a time
#pragma omp for collapse(2) schedule(static)
                for (int sj = 0; sj < nstrips; sj++)
                    for (int si = 0; si < mstrips; si++) {
                        alignas(64) T acc[MR * NR];
                        micro_kernel<T, MR, NR>(kc, ap + (size_t)si * MR * kc, bp + (size_t)sj * NR * kc, acc);
                        const int i0 = si * MR, jb = j0 + sj * NR;
                        const int mr = std::min(MR, M - i0), nr = std::min(NR, j0 + nc - jb);
                        for (int ii = 0; ii < mr; ii++) {
                            T* c = C + (size_t)(i0 + ii) * ldc + jb;
                            const T* a = acc + ii * NR;
                            if (!first)
                                for (int jj = 0; jj < nr; jj++) c[jj] += alpha * a[jj];
                            else if (beta == T(0))
                                for (int jj = 0; jj < nr; jj++) c[jj] = alpha * a[jj];
                            else
                                for (int jj = 0; jj < nr; jj++) c[jj] = beta * c[jj] + alpha * a[jj];
                        }
                    }
            }
        }
    }
}

template void gemm<float>(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
                          float*, int);
template void gemm<double>(bool, bool, int, int, int, double, const double*, int, const double*, int,
                           double, double*, int);

}  // namespace reco
