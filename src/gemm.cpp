// gemm.cpp — the CPU hot loop: out[N,OC] = inp[N,C] · W[OC,C]ᵀ + bias   (every Linear of CLIP).
//
// A classic cache-blocked GEMM (the Goto/BLIS scheme, simplified):
//   for each KC-slice of the inner dimension C (inside each task):
//     W is packed into column panels of NR outputs: Wp[panel][c][NR] (pack_weight; the towers
//     pack each Linear once at load time), then in parallel over (row block of MC rows) × (group of panels):
//       micro-kernel: an MR×NR tile of out kept in registers, rank-1 updates over the KC slice
//         acc[r][0:NR] += inp[n+r][c] · Wp[panel][c][0:NR]
// The micro-kernel uses GCC vector extensions (vector_size), which compile to AVX-512 with
// -march=native on this machine, to AVX2 or SSE elsewhere. Edges (N % MR, OC % NR) go through a
// zero-padded temporary tile. Summation order differs from the naive loop, so results agree
// with matmul_forward_naive to rounding (tests/test_ops.cpp).
#include <algorithm>
#include <cstring>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <vector>

#include "impl.h"
#include "ops.h"
#include "reference/reference.h"

#ifndef GEMM_NP
#define GEMM_NP 4
#endif

namespace reco {

#if defined(__AVX512F__)
constexpr int VW = 16;  // floats per vector register
#elif defined(__AVX__)
constexpr int VW = 8;
#else
constexpr int VW = 4;   // SSE
#endif
typedef float vecf __attribute__((vector_size(VW * sizeof(float))));

#if defined(GEMM_MR)
constexpr int MR = GEMM_MR;
#elif defined(__AVX512F__)
constexpr int MR = 6;        // rows of the register tile: 6×4 accumulators of the 32 zmm registers
#else
constexpr int MR = 6;        // 6×2 accumulators of the 16 ymm registers
#endif
#ifndef GEMM_NV
#if defined(__AVX512F__)
#define GEMM_NV 4  // 6×64 tile: per k, 4 loads + 6 broadcasts feed 24 FMAs; 64 divides every CLIP width
#else
#define GEMM_NV 2  // 6×16 (AVX2): 12 accumulators of the 16 ymm registers
#endif
#endif
constexpr int NV = GEMM_NV;  // vectors per row of the register tile
constexpr int NR = NV * VW;  // columns of the register tile
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
constexpr int KC = GEMM_KC;      // inner-dimension slice: Wp slice for one panel = KC·NR floats (64 KB with AVX-512)
#ifndef GEMM_MC
#define GEMM_MC 96
#endif
constexpr int MC = GEMM_MC;       // rows per block (a multiple of MR): packed inp block MC·KC floats (96 KB), in L2

static inline vecf load(const float* p) { vecf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float* p, vecf v) { memcpy(p, &v, sizeof v); }
#if defined(__AVX512F__)
static inline vecf splat(float x) { return (vecf)_mm512_set1_ps(x); }  // one vbroadcastss from memory
#elif defined(__AVX__)
static inline vecf splat(float x) { return (vecf)_mm256_set1_ps(x); }
#else
static inline vecf splat(float x) { return vecf{} + x; }
#endif

// acc(MR×NR) (+)= ap[0:kc][0:MR]ᵀ · wp[0:kc][0:NR]; the tile is written to c (row stride ldc).
// ap is a packed strip of MR input rows (ap[k·MR + r] = inp[n0+r][c0+k]) so one pointer walks it.
// accumulate: add onto c (later K slices); else start from the bias (or zero).
static inline void micro_kernel(int kc, const float* ap, const float* wp, float* c, int ldc, bool accumulate,
                                const float* bias) {
    vecf acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = accumulate ? load(c + (size_t)r * ldc + v * VW) : bias ? load(bias + v * VW) : vecf{};
    for (int k = 0; k < kc; k++) {
        vecf w[NV];
        for (int v = 0; v < NV; v++) w[v] = load(wp + (size_t)k * NR + v * VW);
        const float* a = ap + (size_t)k * MR;
        #pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            const vecf x = splat(a[r]);
            #pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] += x * w[v];
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) store(c + (size_t)r * ldc + v * VW, acc[r][v]);
}

// Pack rows [n0, n_end) × columns [c0, c0+kc) of inp into MR-row strips: ap[strip][k][MR], zero-padded.
static void pack_rows(float* ap, const float* inp, int C, int n0, int n_end, int c0, int kc) {
    for (int s0 = n0; s0 < n_end; s0 += MR) {
        const int rows = std::min(MR, n_end - s0);
        for (int r = 0; r < MR; r++) {
            if (r < rows) {
                const float* src = inp + (size_t)(s0 + r) * C + c0;
                for (int k = 0; k < kc; k++) ap[(size_t)k * MR + r] = src[k];
            } else {
                for (int k = 0; k < kc; k++) ap[(size_t)k * MR + r] = 0.0f;
            }
        }
        ap += (size_t)kc * MR;
    }
}

void pack_weight(PackedWeight& pw, const float* weight, int OC, int C) {
    pw.OC = OC;
    pw.C = C;
    pw.weight = weight;
    pw.panels = (OC + NR - 1) / NR;
    pw.data.assign((size_t)pw.panels * C * NR, 0.0f);
    #pragma omp parallel for schedule(static)
    for (int p = 0; p < pw.panels; p++) {
        float* dst = pw.data.data() + (size_t)p * C * NR;
        for (int j = 0; j < NR && p * NR + j < OC; j++) {
            const float* src = weight + (size_t)(p * NR + j) * C;
            for (int c = 0; c < C; c++) dst[(size_t)c * NR + j] = src[c];
        }
    }
}

void matmul_forward_packed(float* out, const float* inp, const PackedWeight& pw, const float* bias, int N) {
    if (impl() == Impl::reference) return matmul_reference(out, inp, pw.weight, bias, N, pw.C, pw.OC);
    const int C = pw.C, OC = pw.OC, panels = pw.panels;
    if (N <= 0 || OC <= 0) return;
    if (C <= 0) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] = bias ? bias[o] : 0.0f;
        return;
    }
    std::vector<float> bias_pad;
    if (bias) {
        bias_pad.assign((size_t)panels * NR, 0.0f);
        memcpy(bias_pad.data(), bias, OC * sizeof(float));
    }
    constexpr int NP = GEMM_NP;  // panels per task: W slice KC×NP·NR stays in L2 while the rows sweep it
    const int row_blocks = (N + MC - 1) / MC, groups = (panels + NP - 1) / NP;
    // One parallel region; tasks own disjoint output tiles, so no barrier between K slices.
    #pragma omp parallel
    {
        std::vector<float> ap((size_t)MC * KC);  // this thread's packed input block
        #pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < row_blocks * groups; task++) {
            const int rb = task / groups, g = task % groups;
            const int n_begin = rb * MC, n_end = std::min(N, n_begin + MC);
            const int p_end = std::min(panels, (g + 1) * NP);
            for (int c0 = 0; c0 < C; c0 += KC) {
                const int kc = std::min(KC, C - c0);
                const bool accumulate = c0 > 0;
                pack_rows(ap.data(), inp, C, n_begin, n_end, c0, kc);
                for (int p = g * NP; p < p_end; p++) {
                    const float* wpp = pw.data.data() + ((size_t)p * C + c0) * NR;
                    const float* bp = bias ? bias_pad.data() + (size_t)p * NR : nullptr;
                    const int o0 = p * NR, ocols = std::min(NR, OC - o0);
                    for (int n0 = n_begin; n0 < n_end; n0 += MR) {
                        const int rows = std::min(MR, n_end - n0);
                        const float* aps = ap.data() + (size_t)(n0 - n_begin) * kc;
                        if (rows == MR && ocols == NR) {
                            micro_kernel(kc, aps, wpp, out + (size_t)n0 * OC + o0, OC, accumulate, bp);
                        } else {  // edge tile through a padded temporary
                            float tmp[MR * NR] = {};
                            if (accumulate)
                                for (int r = 0; r < rows; r++)
                                    memcpy(tmp + r * NR, out + (size_t)(n0 + r) * OC + o0, ocols * sizeof(float));
                            micro_kernel(kc, aps, wpp, tmp, NR, accumulate, bp);
                            for (int r = 0; r < rows; r++)
                                memcpy(out + (size_t)(n0 + r) * OC + o0, tmp + r * NR, ocols * sizeof(float));
                        }
                    }
                }
            }
        }
    }
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
    if (impl() == Impl::reference) return matmul_reference(out, inp, weight, bias, N, C, OC);
    if (N <= 0 || OC <= 0) return;
    PackedWeight pw;
    pack_weight(pw, weight, OC, C);
    matmul_forward_packed(out, inp, pw, bias, N);
}

}  // namespace reco
