// topk_avx2.cpp — the exact top-k micro-kernels for AVX2 + FMA + F16C (SPEC §5; driver in
// topk_blocked.h). Compiled for that target by the pragma below whatever -march the build used;
// topk.cpp calls them only when cpu_features() reports AVX2, FMA and F16C.
#include <immintrin.h>

#include "topk_blocked.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace reco {
namespace topk_detail {
namespace {

// 16 ymm registers: QV vectors of 8 queries × RB rows = 12 accumulators; per output exactly the
// reference fmaf chain.
template <int QV>
struct KernelAvx2 {
    static constexpr int G = 8 * QV, RB = 12 / QV;

    static void convert(const uint16_t* src, float* dst, size_t n) {
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps(dst + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src + j))));
        for (; j < n; j++) dst[j] = _cvtsh_ss(src[j]);
    }

    static void run(const float* rows, const float* qp, int d, float* out) {
        __m256 acc[RB][QV];
#pragma GCC unroll 12
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 2
            for (int v = 0; v < QV; v++) acc[r][v] = _mm256_setzero_ps();
        for (int c = 0; c < d; c++) {
            __m256 q[QV];
#pragma GCC unroll 2
            for (int v = 0; v < QV; v++) q[v] = _mm256_load_ps(qp + (size_t)c * G + 8 * v);
#pragma GCC unroll 12
            for (int r = 0; r < RB; r++) {
                __m256 m = _mm256_broadcast_ss(rows + (size_t)r * d + c);
#pragma GCC unroll 2
                for (int v = 0; v < QV; v++) acc[r][v] = _mm256_fmadd_ps(m, q[v], acc[r][v]);
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 2
            for (int v = 0; v < QV; v++) _mm256_store_ps(out + r * G + 8 * v, acc[r][v]);
    }

    static void select(const float* out, int rows, int i0, int q0, Heaps& h, const int* excl) {
        for (int r = 0; r < rows; r++) {
            const float* sr = out + r * G;
            const int i = i0 + r;
            for (int v = 0; v < QV; v++) {
                int m = _mm256_movemask_ps(
                    _mm256_cmp_ps(_mm256_load_ps(sr + 8 * v), _mm256_loadu_ps(&h.thr[q0 + 8 * v]), _CMP_GE_OQ));
                while (m) {
                    int l = __builtin_ctz(m) + 8 * v;
                    m &= m - 1;
                    if (!excl || excl[q0 + l] != i) h.push(q0 + l, sr[l], i);
                }
            }
        }
    }
};

}  // namespace

void search_exact_avx2(const float* queries, const uint16_t* mem, int Q, int N, int d, int k,
                       int* out_idx, float* out_score, const int* exclude) {
    if (Q <= 8) search_blocked<KernelAvx2<1>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    else search_blocked<KernelAvx2<2>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
}

}  // namespace topk_detail
}  // namespace reco

#pragma GCC pop_options
