// topk_avx512.cpp — the exact top-k micro-kernels for AVX-512 (SPEC §5; driver in topk_blocked.h).
// Compiled for avx512f/bw/vl/dq + fma + f16c by the target pragma below whatever -march the build
// used; topk.cpp calls them only when cpu_features() reports that level.
#include <immintrin.h>

#include "topk_blocked.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")

namespace reco {
namespace topk_detail {
namespace {

// QV vectors of 16 queries × RB rows = 24 accumulators in registers. Per c: QV vector loads of
// queries, RB broadcasts of memory values, 24 FMAs; per output exactly the reference fmaf chain.
// QV = 4 for large batches, QV = 1 when at most 16 queries are searched.
template <int QV>
struct KernelAvx512 {
    static constexpr int G = 16 * QV, RB = 24 / QV;

    static void convert(const uint16_t* src, float* dst, size_t n) {
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            _mm512_storeu_ps(dst + j, _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256((const __m256i*)(src + j))));
        if (j < n) {
            const __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
            _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_cvtph_ps(0xFFFF, _mm256_maskz_loadu_epi16(m, src + j)));
        }
    }

    static void run(const float* rows, const float* qp, int d, float* out) {
        // (the unroll pragmas make the compiler keep all of acc in registers)
        __m512 acc[RB][QV];
#pragma GCC unroll 24
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) acc[r][v] = _mm512_setzero_ps();
        for (int c = 0; c < d; c++) {
            __m512 q[QV];
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) q[v] = _mm512_load_ps(qp + (size_t)c * G + 16 * v);
#pragma GCC unroll 24
            for (int r = 0; r < RB; r++) {
                __m512 m = _mm512_set1_ps(rows[(size_t)r * d + c]);
#pragma GCC unroll 4
                for (int v = 0; v < QV; v++) acc[r][v] = _mm512_fmadd_ps(m, q[v], acc[r][v]);
            }
        }
#pragma GCC unroll 24
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) _mm512_store_ps(out + r * G + 16 * v, acc[r][v]);
    }

    static void select(const float* out, int rows, int i0, int q0, Heaps& h, const int* excl) {
        for (int r = 0; r < rows; r++) {
            const float* sr = out + r * G;
            const int i = i0 + r;
            for (int v = 0; v < QV; v++) {
                __mmask16 m = _mm512_cmp_ps_mask(_mm512_load_ps(sr + 16 * v), _mm512_loadu_ps(&h.thr[q0 + 16 * v]),
                                                 _CMP_GE_OQ);
                while (m) {
                    int l = __builtin_ctz(m) + 16 * v;
                    m &= m - 1;
                    if (!excl || excl[q0 + l] != i) h.push(q0 + l, sr[l], i);
                }
            }
        }
    }
};

}  // namespace

void search_exact_avx512(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                         int* out_idx, float* out_score, const int* exclude) {
    if (Q <= 16) search_blocked<KernelAvx512<1>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    else search_blocked<KernelAvx512<4>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
}

}  // namespace topk_detail
}  // namespace reco

#pragma GCC pop_options
