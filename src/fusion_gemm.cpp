// fusion_gemm.cpp — packed, register-blocked GEMM for the fusion module (see fusion_gemm.h).
//
// A call is cut into per-thread blocks of C with no synchronisation between threads (one OpenMP
// region, no inner barriers: on a busy machine every barrier can cost a scheduler tick). The
// threads split the columns of C (each packs the A panel it needs itself) or, when C has few
// column strips, the rows. Each block is computed BLIS style:
//   for each K block of KC:     pack op(A)[rows, kblock] into strips of MR rows (zero padded)
//     for each N block of NC:   pack op(B)[kblock, cols] into strips of NR columns
//       for each (B strip, A strip): MR×NR micro-kernel, then write back into C.
// The micro-kernel keeps its MR×NR accumulators in registers (8×32 floats = 16 AVX-512 or
// 32 AVX2 registers' worth); the compiler's vectoriser does the rest.
#include "fusion_gemm.h"

#include <algorithm>
#include <vector>

#include "impl.h"
#include "reference/reference.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace reco {
namespace {

template <class T> struct Tile;
template <> struct Tile<float> { static constexpr int MR = 8, NR = 32; };
template <> struct Tile<double> { static constexpr int MR = 8, NR = 16; };
constexpr int KC = 256;
constexpr int NC = 1024;

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
struct Problem {
    bool transA, transB;
    int M, N, K;
    T alpha, beta;
    const T* A;
    int lda;
    const T* B;
    int ldb;
    T* C;
    int ldc;
};

// C[i_lo:i_hi, j_lo:j_hi] of one problem, serially, with this thread's packing buffers.
template <class T>
void gemm_block(const Problem<T>& P, int i_lo, int i_hi, int j_lo, int j_hi) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    static thread_local std::vector<T> apack, bpack;
    const int m = i_hi - i_lo, mstrips = (m + MR - 1) / MR;
    apack.resize((size_t)mstrips * MR * KC);
    bpack.resize((size_t)((NC + NR - 1) / NR) * NR * KC);
    for (int p0 = 0; p0 < P.K; p0 += KC) {
        const int kc = std::min(KC, P.K - p0);
        const bool first = (p0 == 0);
        // pack op(A)[i_lo:i_hi, p0:p0+kc] → apack[strip][p][ii]
        for (int s = 0; s < mstrips; s++) {
            T* dst = apack.data() + (size_t)s * MR * kc;
            const int i0 = i_lo + s * MR, mr = std::min(MR, i_hi - i0);
            if (P.transA) {  // stored [K,M]: contiguous in i
                for (int p = 0; p < kc; p++) {
                    const T* src = P.A + (size_t)(p0 + p) * P.lda + i0;
                    for (int ii = 0; ii < MR; ii++) dst[(size_t)p * MR + ii] = ii < mr ? src[ii] : T(0);
                }
            } else {  // stored [M,K]: contiguous in p
                for (int ii = 0; ii < MR; ii++) {
                    const T* src = P.A + (size_t)(i0 + ii) * P.lda + p0;
                    for (int p = 0; p < kc; p++) dst[(size_t)p * MR + ii] = ii < mr ? src[p] : T(0);
                }
            }
        }
        for (int j0 = j_lo; j0 < j_hi; j0 += NC) {
            const int nc = std::min(NC, j_hi - j0), nstrips = (nc + NR - 1) / NR;
            // pack op(B)[p0:p0+kc, j0:j0+nc] → bpack[strip][p][jj]
            for (int s = 0; s < nstrips; s++) {
                T* dst = bpack.data() + (size_t)s * NR * kc;
                const int jb = j0 + s * NR, nr = std::min(NR, j0 + nc - jb);
                if (P.transB) {  // stored [N,K]: contiguous in p
                    for (int jj = 0; jj < NR; jj++) {
                        const T* src = P.B + (size_t)(jb + jj) * P.ldb + p0;
                        for (int p = 0; p < kc; p++) dst[(size_t)p * NR + jj] = jj < nr ? src[p] : T(0);
                    }
                } else {  // stored [K,N]: contiguous in j
                    for (int p = 0; p < kc; p++) {
                        const T* src = P.B + (size_t)(p0 + p) * P.ldb + jb;
                        for (int jj = 0; jj < NR; jj++) dst[(size_t)p * NR + jj] = jj < nr ? src[jj] : T(0);
                    }
                }
            }
            // tiles: one B strip against every A strip, so the B strip stays in L1
            for (int sj = 0; sj < nstrips; sj++)
                for (int si = 0; si < mstrips; si++) {
                    alignas(64) T acc[MR * NR];
                    micro_kernel<T, MR, NR>(kc, apack.data() + (size_t)si * MR * kc,
                                            bpack.data() + (size_t)sj * NR * kc, acc);
                    const int i0 = i_lo + si * MR, jb = j0 + sj * NR;
                    const int mr = std::min(MR, i_hi - i0), nr = std::min(NR, j0 + nc - jb);
                    for (int ii = 0; ii < mr; ii++) {
                        T* c = P.C + (size_t)(i0 + ii) * P.ldc + jb;
                        const T* a = acc + ii * NR;
                        if (!first)
                            for (int jj = 0; jj < nr; jj++) c[jj] += P.alpha * a[jj];
                        else if (P.beta == T(0))
                            for (int jj = 0; jj < nr; jj++) c[jj] = P.alpha * a[jj];
                        else
                            for (int jj = 0; jj < nr; jj++) c[jj] = P.beta * c[jj] + P.alpha * a[jj];
                    }
                }
        }
    }
}

// Tiny products: a plain triple loop.
template <class T>
void gemm_small(const Problem<T>& P) {
    for (int i = 0; i < P.M; i++)
        for (int j = 0; j < P.N; j++) {
            T s = 0;
            for (int p = 0; p < P.K; p++) {
                T a = P.transA ? P.A[(size_t)p * P.lda + i] : P.A[(size_t)i * P.lda + p];
                T b = P.transB ? P.B[(size_t)j * P.ldb + p] : P.B[(size_t)p * P.ldb + j];
                s += a * b;
            }
            T& c = P.C[(size_t)i * P.ldc + j];
            c = (P.beta == T(0) ? T(0) : P.beta * c) + P.alpha * s;
        }
}

}  // namespace

template <class T>
void gemm_batched(int count, bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                  size_t strideA, const T* B, int ldb, size_t strideB, T beta, T* C, int ldc, size_t strideC) {
    if (count <= 0 || M <= 0 || N <= 0) return;
    if (impl() == Impl::reference) {
        for (int b = 0; b < count; b++)
            gemm_reference<T>(transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta,
                              C + b * strideC, ldc);
        return;
    }
    auto problem = [&](int b) {
        return Problem<T>{transA, transB, M, N, K, alpha, beta, A + b * strideA, lda, B + b * strideB, ldb,
                          C + b * strideC, ldc};
    };
    if (K <= 0) {  // C = beta·C
        for (int b = 0; b < count; b++)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    T& c = C[b * strideC + (size_t)i * ldc + j];
                    c = beta == T(0) ? T(0) : beta * c;
                }
        return;
    }
    if ((double)M * N * K < 32768.0) {
        for (int b = 0; b < count; b++) gemm_small(problem(b));
        return;
    }
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    const int nsN = (N + NR - 1) / NR, nsM = (M + MR - 1) / MR;
    int nthreads = 1;
#ifdef _OPENMP
    if ((double)count * M * N * K > 2e6 && !omp_in_parallel()) nthreads = omp_get_max_threads();
#endif
    // split C's columns when there are enough column strips, else its rows
    const bool split_cols = nsN >= 2 * nthreads || nsN >= nsM;
    const int per = split_cols ? nsN : nsM;  // strips per problem
    const long units = (long)count * per;
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        const long u0 = units * t / nt, u1 = units * (t + 1) / nt;
        for (long u = u0; u < u1;) {
            const int b = (int)(u / per);
            const int s0 = (int)(u % per);
            const int s1 = (int)std::min<long>(per, s0 + (u1 - u));
            const Problem<T> P = problem(b);
            if (split_cols) gemm_block(P, 0, M, s0 * NR, std::min(N, s1 * NR));
            else gemm_block(P, s0 * MR, std::min(M, s1 * MR), 0, N);
            u += s1 - s0;
        }
    }
}

template <class T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta,
          T* C, int ldc) {
    gemm_batched<T>(1, transA, transB, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

template void gemm<float>(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int);
template void gemm<double>(bool, bool, int, int, int, double, const double*, int, const double*, int, double,
                           double*, int);
template void gemm_batched<float>(int, bool, bool, int, int, int, float, const float*, int, size_t, const float*,
                                  int, size_t, float, float*, int, size_t);
template void gemm_batched<double>(int, bool, bool, int, int, int, double, const double*, int, size_t,
                                   const double*, int, size_t, double, double*, int, size_t);

}  // namespace reco
