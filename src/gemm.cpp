// gemm.cpp — the CPU hot loop: out[N,OC] = inp[N,C] · W[OC,C]ᵀ + bias   (every Linear of CLIP).
//
// A classic cache-blocked GEMM (the Goto/BLIS scheme, simplified):
//   for each KC-slice of the inner dimension C (inside each task):
//     W is packed into column panels of NR = 64 outputs: Wp[panel][c][NR] (pack_weight; the towers
//     pack each Linear once at load time), then in parallel over (row block of MC rows) × (group of panels):
//       micro-kernel: an MR×NR tile of out kept in registers, rank-1 updates over the KC slice
//         acc[r][0:NR] += inp[n+r][c] · Wp[panel][c][0:NR]
// The micro-kernel is chosen at run time (src/cpu_features.h): AVX-512 (6×64 tile = 24 zmm
// accumulators), AVX2+FMA (the 64 columns as four 6×16 tiles, 12 ymm accumulators) or portable
// scalar loops; each is compiled for its own target whatever -march the build used, and the packed
// layout is the same for all. Edges (N % MR, OC % NR) go through a zero-padded temporary tile.
// Summation order differs from the naive loop, so results agree with matmul_forward_naive to
// rounding (tests/test_ops.cpp runs every level).
#include <algorithm>
#include <cstring>
#include <immintrin.h>
#include <vector>

#include "cpu_features.h"
#include "impl.h"
#include "ops.h"
#include "reference/reference.h"

#ifndef GEMM_NP
#define GEMM_NP 4
#endif

namespace reco {

constexpr int MR = 6;    // rows of the register tile
constexpr int NR = 64;   // columns of the register tile = packed panel width; 64 divides every CLIP width
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
constexpr int KC = GEMM_KC;      // inner-dimension slice: Wp slice for one panel = KC·NR floats (64 KB)
#ifndef GEMM_MC
#define GEMM_MC 96
#endif
constexpr int MC = GEMM_MC;       // rows per block (a multiple of MR): packed inp block MC·KC floats (96 KB), in L2

// Micro-kernel contract: acc(MR×NR) (+)= ap[0:kc][0:MR]ᵀ · wp[0:kc][0:NR]; the tile is written to c
// (row stride ldc). ap is a packed strip of MR input rows (ap[k·MR + r] = inp[n0+r][c0+k]).
// accumulate: add onto c (later K slices); else start from the bias (or zero).
typedef void (*MicroKernel)(int kc, const float* ap, const float* wp, float* c, int ldc, bool accumulate,
                            const float* bias);

static void micro_kernel_portable(int kc, const float* ap, const float* wp, float* c, int ldc, bool accumulate,
                                  const float* bias) {
    constexpr int NS = 8;  // columns per pass: 6×8 accumulators
    for (int j0 = 0; j0 < NR; j0 += NS) {
        float acc[MR][NS];
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NS; j++)
                acc[r][j] = accumulate ? c[(size_t)r * ldc + j0 + j] : bias ? bias[j0 + j] : 0.0f;
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < NS; j++) acc[r][j] += ap[(size_t)k * MR + r] * wp[(size_t)k * NR + j0 + j];
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NS; j++) c[(size_t)r * ldc + j0 + j] = acc[r][j];
    }
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
static void micro_kernel_avx2(int kc, const float* ap, const float* wp, float* c, int ldc, bool accumulate,
                              const float* bias) {
    for (int j0 = 0; j0 < NR; j0 += 16) {  // four 6×16 tiles (12 of the 16 ymm registers)
        __m256 acc[MR][2];
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < 2; v++)
                acc[r][v] = accumulate ? _mm256_loadu_ps(c + (size_t)r * ldc + j0 + 8 * v)
                            : bias     ? _mm256_loadu_ps(bias + j0 + 8 * v)
                                       : _mm256_setzero_ps();
        for (int k = 0; k < kc; k++) {
            const __m256 w0 = _mm256_loadu_ps(wp + (size_t)k * NR + j0), w1 = _mm256_loadu_ps(wp + (size_t)k * NR + j0 + 8);
            const float* a = ap + (size_t)k * MR;
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                const __m256 x = _mm256_broadcast_ss(a + r);
                acc[r][0] = _mm256_fmadd_ps(x, w0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x, w1, acc[r][1]);
            }
        }
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < 2; v++) _mm256_storeu_ps(c + (size_t)r * ldc + j0 + 8 * v, acc[r][v]);
    }
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,fma")
static void micro_kernel_avx512(int kc, const float* ap, const float* wp, float* c, int ldc, bool accumulate,
                                const float* bias) {
    // 6×64 tile: per k, 4 loads + 6 broadcasts feed 24 FMAs
    __m512 acc[MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc[r][v] = accumulate ? _mm512_loadu_ps(c + (size_t)r * ldc + 16 * v)
                        : bias     ? _mm512_loadu_ps(bias + 16 * v)
                                   : _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 w[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) w[v] = _mm512_loadu_ps(wp + (size_t)k * NR + 16 * v);
        const float* a = ap + (size_t)k * MR;
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m512 x = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) acc[r][v] = _mm512_fmadd_ps(x, w[v], acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(c + (size_t)r * ldc + 16 * v, acc[r][v]);
}
#pragma GCC pop_options

static MicroKernel micro_kernel_for(Isa level) {
    if (level >= Isa::avx512) return micro_kernel_avx512;
    if (level >= Isa::avx2) return micro_kernel_avx2;
    return micro_kernel_portable;
}

const char* gemm_kernel_name() {
    Isa l = isa_active();
    return l >= Isa::avx512 ? "avx512 fp32 6x64" : l >= Isa::avx2 ? "avx2 fp32 4 x 6x16" : "portable fp32";
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
    const MicroKernel micro_kernel = micro_kernel_for(isa_active());
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
