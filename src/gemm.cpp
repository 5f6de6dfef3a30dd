// gemm.cpp — the CPU hot loop: out[N,OC] = inp[N,C] · W[OC,C]ᵀ + bias   (every Linear of CLIP).
//
// A classic cache-blocked GEMM (the Goto/BLIS scheme, simplified):
//   for each KC-slice of the inner dimension C:
//     pack W[:, slice] into column panels of NR outputs: Wp[panel][c][NR]   (contiguous, streamed)
//     in parallel over (row block of MC rows) × (panel range):
//       micro-kernel: an MR×NR tile of out kept in registers, rank-1 updates over the KC slice
//         acc[r][0:NR] += inp[n+r][c] · Wp[panel][c][0:NR]
// The micro-kernel uses GCC vector extensions (vector_size), which compile to AVX-512 with
// -march=native on this machine, to AVX2 or SSE elsewhere. Edges (N % MR, OC % NR) go through a
// zero-padded temporary tile. Summation order differs from the naive loop, so results agree
// with matmul_forward_naive to rounding (tests/test_ops.cpp).
#include <algorithm>
#include <cstring>
#include <vector>

#include "ops.h"

namespace reco {

#if defined(__AVX512F__)
constexpr int VW = 16;  // floats per vector register
#else
constexpr int VW = 8;
#endif
typedef float vecf __attribute__((vector_size(VW * sizeof(float))));

constexpr int MR = 6;        // rows of the register tile
constexpr int NR = 2 * VW;   // columns of the register tile (two vectors)
constexpr int KC = 256;      // inner-dimension slice: Wp slice for one panel = KC·NR floats (32 KB with AVX-512)
constexpr int MC = 96;       // rows per block: inp block MC·KC floats (96 KB) stays in L2

static inline vecf load(const float* p) { vecf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float* p, vecf v) { memcpy(p, &v, sizeof v); }
static inline vecf splat(float x) { return vecf{} + x; }

// acc(MR×NR) (+)= a_rows[r][0:kc] · wp[0:kc][0:NR]; result written to c (row stride ldc).
// init: 0 → start from zero (+ bias if given), 1 → accumulate onto c.
static inline void micro_kernel(int kc, const float* const* a_rows, const float* wp, float* c, int ldc, bool accumulate,
                                const float* bias) {
    vecf acc[MR][2];
    for (int r = 0; r < MR; r++) {
        if (accumulate) {
            acc[r][0] = load(c + (size_t)r * ldc);
            acc[r][1] = load(c + (size_t)r * ldc + VW);
        } else if (bias) {
            acc[r][0] = load(bias);
            acc[r][1] = load(bias + VW);
        } else {
            acc[r][0] = vecf{};
            acc[r][1] = vecf{};
        }
    }
    const float *a0 = a_rows[0], *a1 = a_rows[1], *a2 = a_rows[2], *a3 = a_rows[3], *a4 = a_rows[4], *a5 = a_rows[5];
    for (int k = 0; k < kc; k++) {
        vecf w0 = load(wp + (size_t)k * NR), w1 = load(wp + (size_t)k * NR + VW);
        vecf x;
        x = splat(a0[k]); acc[0][0] += x * w0; acc[0][1] += x * w1;
        x = splat(a1[k]); acc[1][0] += x * w0; acc[1][1] += x * w1;
        x = splat(a2[k]); acc[2][0] += x * w0; acc[2][1] += x * w1;
        x = splat(a3[k]); acc[3][0] += x * w0; acc[3][1] += x * w1;
        x = splat(a4[k]); acc[4][0] += x * w0; acc[4][1] += x * w1;
        x = splat(a5[k]); acc[5][0] += x * w0; acc[5][1] += x * w1;
    }
    for (int r = 0; r < MR; r++) {
        store(c + (size_t)r * ldc, acc[r][0]);
        store(c + (size_t)r * ldc + VW, acc[r][1]);
    }
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (C <= 0) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] = bias ? bias[o] : 0.0f;
        return;
    }
    const int panels = (OC + NR - 1) / NR;
    std::vector<float> wp((size_t)panels * KC * NR);
    std::vector<float> bias_pad;
    if (bias) {
        bias_pad.assign((size_t)panels * NR, 0.0f);
        memcpy(bias_pad.data(), bias, OC * sizeof(float));
    }
    const std::vector<float> zeros(KC, 0.0f);
    const int row_blocks = (N + MC - 1) / MC;

    for (int c0 = 0; c0 < C; c0 += KC) {
        const int kc = std::min(KC, C - c0);
        const bool accumulate = c0 > 0;
        // pack W[:, c0:c0+kc] → wp[p][k][j] = W[p·NR + j][c0 + k] (zero for j beyond OC)
        #pragma omp parallel for
        for (int p = 0; p < panels; p++) {
            float* dst = wp.data() + (size_t)p * KC * NR;
            for (int j = 0; j < NR; j++) {
                int o = p * NR + j;
                if (o < OC) {
                    const float* src = weight + (size_t)o * C + c0;
                    for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = src[k];
                } else {
                    for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = 0.0f;
                }
            }
        }
        // parallel over (row block, panel); each task sweeps its rows in MR strips
        #pragma omp parallel for collapse(2) schedule(static)
        for (int rb = 0; rb < row_blocks; rb++) {
            for (int p = 0; p < panels; p++) {
                const float* wpp = wp.data() + (size_t)p * KC * NR;
                const float* bp = bias ? bias_pad.data() + (size_t)p * NR : nullptr;
                const int o0 = p * NR, ocols = std::min(NR, OC - o0);
                const int n_end = std::min(N, (rb + 1) * MC);
                for (int n0 = rb * MC; n0 < n_end; n0 += MR) {
                    const int rows = std::min(MR, n_end - n0);
                    const float* a_rows[MR];
                    for (int r = 0; r < MR; r++)
                        a_rows[r] = r < rows ? inp + (size_t)(n0 + r) * C + c0 : zeros.data();
                    if (rows == MR && ocols == NR) {
                        micro_kernel(kc, a_rows, wpp, out + (size_t)n0 * OC + o0, OC, accumulate, bp);
                    } else {  // edge tile through a padded temporary
                        float tmp[MR * NR];
                        if (accumulate)
                            for (int r = 0; r < rows; r++)
                                memcpy(tmp + r * NR, out + (size_t)(n0 + r) * OC + o0, ocols * sizeof(float));
                        micro_kernel(kc, a_rows, wpp, tmp, NR, accumulate, bp);
                        for (int r = 0; r < rows; r++)
                            memcpy(out + (size_t)(n0 + r) * OC + o0, tmp + r * NR, ocols * sizeof(float));
                    }
                }
            }
        }
    }
}

}  // namespace reco
