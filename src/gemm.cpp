// gemm.cpp — the CPU hot loop: out[N,OC] = inp[N,C] · W[OC,C]ᵀ + bias   (every Linear of CLIP).
//
// A cache-blocked GEMM (the Goto/BLIS scheme, simplified):
//   W is packed once into column panels of NR = 64 outputs: Wp[panel][c][NR] (pack_weight; the towers
//   pack each Linear at load time). In parallel over (row block of MC rows) × (group of NP panels):
//     for each KC-slice of the inner dimension C, for each panel, for each strip of MR rows:
//       micro-kernel: an MR×NR tile of out kept in registers, rank-1 updates over the KC slice
//         acc[r][0:NR] += inp[n+r][c] · Wp[panel][c][0:NR]
// The input rows are read in place (broadcast loads from MR row streams), not packed: packing the
// input per task cost ~15% of the time on the tower shapes (bench_gemm: 340 → 400+ GFLOP/s, 2 threads).
// The micro-kernel is chosen at run time (src/cpu_features.h): AVX-512 (6×64 tile = 24 zmm
// accumulators), AVX2+FMA (the 64 columns as four 6×16 tiles, 12 ymm accumulators) or portable
// scalar loops; each is compiled for its own target whatever -march the build used, and the packed
// layout is the same for all. Edges (N % MR, OC % NR) go through zero-padded temporaries.
// Summation order differs from the naive loop, so results agree with matmul_forward_naive to
// rounding (tests/test_ops.cpp runs every level).
#include <algorithm>
#include <cstring>
#include <immintrin.h>
#include <omp.h>
#include <vector>

#include "cpu_features.h"
#include "impl.h"
#include "common.h"
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

// Micro-kernel contract: acc(MR×NR) (+)= A[0:MR][0:kc] · wp[0:kc][0:NR]; the tile is written to c
// (row stride ldc). A is read in place: a points at inp[n0][c0] and rows are lda apart (no packing:
// each thread streams MR rows of the input from L1/L2 while the weight panel stays in L2).
// accumulate: add onto c (later K slices); else start from the bias (or zero).
typedef void (*MicroKernel)(int kc, const float* a, size_t lda, const float* wp, float* c, int ldc, bool accumulate,
                            const float* bias);

static void micro_kernel_portable(int kc, const float* a, size_t lda, const float* wp, float* c, int ldc, bool accumulate,
                                  const float* bias) {
    constexpr int NS = 8;  // columns per pass: 6×8 accumulators
    for (int j0 = 0; j0 < NR; j0 += NS) {
        float acc[MR][NS];
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NS; j++)
                acc[r][j] = accumulate ? c[(size_t)r * ldc + j0 + j] : bias ? bias[j0 + j] : 0.0f;
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < NS; j++) acc[r][j] += a[r * lda + k] * wp[(size_t)k * NR + j0 + j];
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NS; j++) c[(size_t)r * ldc + j0 + j] = acc[r][j];
    }
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
static void micro_kernel_avx2(int kc, const float* a, size_t lda, const float* wp, float* c, int ldc, bool accumulate,
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
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                const __m256 x = _mm256_broadcast_ss(a + r * lda + k);
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
static void micro_kernel_avx512(int kc, const float* a, size_t lda, const float* wp, float* c, int ldc, bool accumulate,
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
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m512 x = _mm512_set1_ps(a[r * lda + k]);
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

// bf16: a holds pairs a[r·lda + kp] = (inp[n0+r][c0+2kp], inp[n0+r][c0+2kp+1]) as bf16, wp pairs
// wp[kp·NR + j]; kpc = number of pairs. Each vdpbf16ps adds both products of a pair into the fp32 lane.
static void micro_kernel_bf16(int kpc, const uint32_t* a, size_t lda, const uint32_t* wp, float* c, int ldc,
                              bool accumulate, const float* bias) __attribute__((target("avx512f,avx512bf16")));
static void micro_kernel_bf16(int kpc, const uint32_t* a, size_t lda, const uint32_t* wp, float* c, int ldc,
                              bool accumulate, const float* bias) {
    __m512 acc[MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc[r][v] = accumulate ? _mm512_loadu_ps(c + (size_t)r * ldc + 16 * v)
                        : bias     ? _mm512_loadu_ps(bias + 16 * v)
                                   : _mm512_setzero_ps();
    for (int k = 0; k < kpc; k++) {
        __m512bh w[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) w[v] = (__m512bh)_mm512_loadu_si512(wp + (size_t)k * NR + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[r * lda + k]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, w[v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(c + (size_t)r * ldc + 16 * v, acc[r][v]);
}

// fp32 → bf16 bits, round to nearest even (finite values; NaN stays NaN).
static inline uint32_t to_bf16(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7F800000u) == 0x7F800000u) return (b >> 16) | ((b & 0xFFFF) ? 0x40 : 0);
    return (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
}

Precision parse_precision(const std::string& s) {
    if (s == "fp32") return Precision::fp32;
    if (s == "bf16") return Precision::bf16;
    fail("--precision %s: expected fp32 (default, exact parity path) or bf16", s.c_str());
}
const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

static MicroKernel micro_kernel_for(Isa level) {
    if (level >= Isa::avx512) return micro_kernel_avx512;
    if (level >= Isa::avx2) return micro_kernel_avx2;
    return micro_kernel_portable;
}

const char* gemm_kernel_name() {
    Isa l = isa_active();
    return l >= Isa::avx512 ? "avx512 fp32 6x64" : l >= Isa::avx2 ? "avx2 fp32 4 x 6x16" : "portable fp32";
}

void pack_weight(PackedWeight& pw, const float* weight, int OC, int C, Precision precision) {
    pw.OC = OC;
    pw.C = C;
    pw.weight = weight;
    pw.panels = (OC + NR - 1) / NR;
    pw.data.clear();
    pw.bf16.clear();
    if (precision == Precision::bf16 && isa_active() >= Isa::avx512_bf16) {
        const int CP = (C + 1) / 2;
        pw.bf16.assign((size_t)pw.panels * CP * NR, 0u);
        #pragma omp parallel for schedule(static)
        for (int p = 0; p < pw.panels; p++) {
            uint32_t* dst = pw.bf16.data() + (size_t)p * CP * NR;
            for (int j = 0; j < NR && p * NR + j < OC; j++) {
                const float* src = weight + (size_t)(p * NR + j) * C;
                for (int cp = 0; cp < CP; cp++)
                    dst[(size_t)cp * NR + j] = to_bf16(src[2 * cp]) | (2 * cp + 1 < C ? to_bf16(src[2 * cp + 1]) << 16 : 0u);
            }
        }
        return;
    }
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

// The blocked driver over "units" of the inner dimension (fp32: one C value; bf16: a pair of them).
// a: the input rows in units, row n at a + n·lda (CU units per row); wdata: the packed weight, CU units
// per panel row; kernel: a micro-kernel of the contract above. Rows are read in place; only the last,
// partial strip of a row block (N % MR rows) is copied into a zero-padded MR-row temporary.
template <class T, class Kernel>
static void gemm_driver(float* out, const T* a, size_t lda, const T* wdata, int CU, int KCU, const float* bias, int N,
                        int OC, int panels, Kernel kernel) {
    std::vector<float> bias_pad;
    if (bias) {
        bias_pad.assign((size_t)panels * NR, 0.0f);
        memcpy(bias_pad.data(), bias, OC * sizeof(float));
    }
    // panels per task: W slice KC×NP·NR stays in L2 while the rows sweep it; fewer when there would be
    // too few tasks to keep every thread busy (one image: 50 rows, one row block)
    const int row_blocks = (N + MC - 1) / MC, threads = omp_get_max_threads();
    int NP = GEMM_NP;
    while (NP > 1 && (long long)row_blocks * ((panels + NP - 1) / NP) < 4LL * threads) NP /= 2;
    const int groups = (panels + NP - 1) / NP;
    // One parallel region; tasks own disjoint output tiles, so no barrier between K slices.
    #pragma omp parallel
    {
        std::vector<T> edge((size_t)MR * KCU);  // the partial strip, zero-padded to MR rows
        #pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < row_blocks * groups; task++) {
            const int rb = task / groups, g = task % groups;
            const int n_begin = rb * MC, n_end = std::min(N, n_begin + MC);
            const int p_end = std::min(panels, (g + 1) * NP);
            for (int u0 = 0; u0 < CU; u0 += KCU) {
                const int ku = std::min(KCU, CU - u0);
                const bool accumulate = u0 > 0;
                for (int p = g * NP; p < p_end; p++) {
                    const T* wpp = wdata + ((size_t)p * CU + u0) * NR;
                    const float* bp = bias ? bias_pad.data() + (size_t)p * NR : nullptr;
                    const int o0 = p * NR, ocols = std::min(NR, OC - o0);
                    for (int n0 = n_begin; n0 < n_end; n0 += MR) {
                        const int rows = std::min(MR, n_end - n0);
                        const T* as = a + (size_t)n0 * lda + u0;
                        if (rows == MR && ocols == NR) {
                            kernel(ku, as, lda, wpp, out + (size_t)n0 * OC + o0, OC, accumulate, bp);
                            continue;
                        }
                        size_t la = lda;
                        if (rows < MR) {  // copy the partial strip into the zero-padded temporary
                            std::fill(edge.begin(), edge.end(), T(0));
                            for (int r = 0; r < rows; r++) memcpy(edge.data() + (size_t)r * ku, as + (size_t)r * lda, ku * sizeof(T));
                            as = edge.data(), la = ku;
                        }
                        float tmp[MR * NR] = {};  // edge tile of out
                        if (accumulate)
                            for (int r = 0; r < rows; r++)
                                memcpy(tmp + r * NR, out + (size_t)(n0 + r) * OC + o0, ocols * sizeof(float));
                        kernel(ku, as, la, wpp, tmp, NR, accumulate, bp);
                        for (int r = 0; r < rows; r++)
                            memcpy(out + (size_t)(n0 + r) * OC + o0, tmp + r * NR, ocols * sizeof(float));
                    }
                }
            }
        }
    }
}

// inp [N, C] → bf16 pairs [N, CP] (CP = ⌈C/2⌉, a zero pads odd C), round to nearest even; once per
// product, in parallel (vcvtne2ps2bf16 over 32 values at a time).
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static void convert_rows_bf16(uint32_t* dst, const float* inp, int N, int C) {
    const int CP = (C + 1) / 2;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float* src = inp + (size_t)n * C;
        uint32_t* d = dst + (size_t)n * CP;
        int c = 0;
        for (; c + 32 <= C; c += 32)
            _mm512_storeu_si512(d + c / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + c + 16), _mm512_loadu_ps(src + c)));
        for (; c < C; c += 2) d[c / 2] = to_bf16(src[c]) | (c + 1 < C ? to_bf16(src[c + 1]) << 16 : 0u);
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
    if (!pw.bf16.empty()) {  // packed for bf16 (only where the CPU has avx512_bf16)
        const int CP = (C + 1) / 2;
        std::vector<uint32_t> rows((size_t)N * CP);
        convert_rows_bf16(rows.data(), inp, N, C);
        gemm_driver<uint32_t>(out, rows.data(), CP, pw.bf16.data(), CP, KC / 2, bias, N, OC, panels, micro_kernel_bf16);
        return;
    }
    gemm_driver<float>(out, inp, C, pw.data.data(), C, KC, bias, N, OC, panels, micro_kernel_for(isa_active()));
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
    if (impl() == Impl::reference) return matmul_reference(out, inp, weight, bias, N, C, OC);
    if (N <= 0 || OC <= 0) return;
    PackedWeight pw;
    pack_weight(pw, weight, OC, C);
    matmul_forward_packed(out, inp, pw, bias, N);
}

}  // namespace reco
