// ops.cpp — CPU reference implementations of the tower operators (see ops.h).
#include "ops.h"

#include "cpu_features.h"
#include "impl.h"
#include "reference/reference.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <vector>

namespace reco {

void matmul_forward_naive(float* out, const float* inp, const float* weight, const float* bias,
                          int N, int C, int OC) {
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)inp[(size_t)n * C + c] * weight[(size_t)o * C + c];
            out[(size_t)n * OC + o] = (float)acc;
        }
    }
}

void layernorm_forward(float* out, const float* inp, const float* w, const float* b,
                       int N, int C, float eps) {
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float* x = inp + (size_t)n * C;
        float* y = out + (size_t)n * C;
        // two-pass mean / variance in double for a stable reference
        // (omp simd: vector accumulators, several partial sums in double; no longer one latency-bound chain)
        double mean = 0;
        #pragma omp simd reduction(+ : mean)
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        double var = 0;
        #pragma omp simd reduction(+ : var)
        for (int i = 0; i < C; i++) { double d = x[i] - mean; var += d * d; }
        var /= C;
        float rstd = (float)(1.0 / std::sqrt(var + eps));
        float m = (float)mean;
        #pragma omp simd
        for (int i = 0; i < C; i++) y[i] = (x[i] - m) * rstd * w[i] + b[i];
    }
}

static void exp_shifted_inplace(float* a, int n, float shift, float* sum);  // a = e^(a − shift), below

// Fast attention, one (sequence, head) at a time, as row-vector operations (attention_reference is
// the definition): K is transposed once into kt[hd][T], so the scores of query i are
//   s[0:n] = Σ_d q_i[d] · kt[d][0:n]   (a vector FMA along the keys, d ascending as in the reference)
// then the softmax (exp_shifted_inplace), then out_i = Σ_j p_j · v_j (a vector FMA along the head
// dimension, j ascending). The inner loops are contiguous, so each ISA wrapper below vectorises them.
static inline __attribute__((always_inline)) void attention_head(float* out, const float* q, const float* k,
                                                                 const float* v, size_t stride, int T, int C, int hd,
                                                                 bool causal, float* kt, float* s) {
    const float scale = 1.0f / std::sqrt((float)hd);
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) kt[(size_t)d * T + j] = k[(size_t)j * stride + d];
    for (int i = 0; i < T; i++) {
        const float* qi = q + (size_t)i * stride;
        const int n = causal ? i + 1 : T;  // causal: key j > i is masked
        for (int j = 0; j < n; j++) s[j] = 0;
        for (int d = 0; d < hd; d++) {
            const float qd = qi[d];
            const float* kd = kt + (size_t)d * T;
            #pragma omp simd
            for (int j = 0; j < n; j++) s[j] += qd * kd[j];
        }
        float maxs = -INFINITY;
        #pragma omp simd reduction(max : maxs)
        for (int j = 0; j < n; j++) {
            s[j] *= scale;
            maxs = std::max(maxs, s[j]);
        }
        float sum = 0;
        exp_shifted_inplace(s, n, maxs, &sum);
        const float inv = 1.0f / sum;
        float* oi = out + (size_t)i * C;
        for (int d = 0; d < hd; d++) oi[d] = 0;
        for (int j = 0; j < n; j++) {
            const float pj = s[j] * inv;
            const float* vj = v + (size_t)j * stride;
            #pragma omp simd
            for (int d = 0; d < hd; d++) oi[d] += pj * vj[d];
        }
    }
}

typedef void (*AttentionHead)(float*, const float*, const float*, const float*, size_t, int, int, int, bool, float*,
                              float*);
static void attention_head_portable(float* out, const float* q, const float* k, const float* v, size_t stride, int T,
                                    int C, int hd, bool causal, float* kt, float* s) {
    attention_head(out, q, k, v, stride, T, C, hd, causal, kt, s);
}
__attribute__((target("avx2,fma"))) static void attention_head_avx2(float* out, const float* q, const float* k,
                                                                    const float* v, size_t stride, int T, int C,
                                                                    int hd, bool causal, float* kt, float* s) {
    attention_head(out, q, k, v, stride, T, C, hd, causal, kt, s);
}
// Two rows of a small product with their accumulators in registers, the columns [col0, col0 + 16·NV):
//   out_r[col] = Σ_{k<K} a_r[k] · B[k·ldb + col]   (r = 0, 1; k ascending)
// The scores use it with a = two queries, B = Kᵀ; the outputs with a = two rows of p, B = V.
template <int NV>
__attribute__((target("avx512f,fma"))) static inline void two_rows_times(const float* a0, const float* a1,
                                                                          const float* B, size_t ldb, int K,
                                                                          int col0, float* out0, float* out1) {
    __m512 acc0[NV], acc1[NV];
    for (int c = 0; c < NV; c++) acc0[c] = acc1[c] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        const __m512 x0 = _mm512_set1_ps(a0[k]), x1 = _mm512_set1_ps(a1[k]);
        for (int c = 0; c < NV; c++) {
            const __m512 b = _mm512_loadu_ps(B + (size_t)k * ldb + col0 + 16 * c);
            acc0[c] = _mm512_fmadd_ps(x0, b, acc0[c]);
            acc1[c] = _mm512_fmadd_ps(x1, b, acc1[c]);
        }
    }
    for (int c = 0; c < NV; c++) {
        _mm512_storeu_ps(out0 + col0 + 16 * c, acc0[c]);
        _mm512_storeu_ps(out1 + col0 + 16 * c, acc1[c]);
    }
}
// The same over `cols` columns (a multiple of 16), 64 at a time.
__attribute__((target("avx512f,fma"))) static void two_rows_times(const float* a0, const float* a1, const float* B,
                                                                   size_t ldb, int K, int cols, float* out0,
                                                                   float* out1) {
    for (int col0 = 0; col0 < cols; col0 += 64) {
        switch (std::min(4, (cols - col0) / 16)) {
            case 1: two_rows_times<1>(a0, a1, B, ldb, K, col0, out0, out1); break;
            case 2: two_rows_times<2>(a0, a1, B, ldb, K, col0, out0, out1); break;
            case 3: two_rows_times<3>(a0, a1, B, ldb, K, col0, out0, out1); break;
            default: two_rows_times<4>(a0, a1, B, ldb, K, col0, out0, out1); break;
        }
    }
}

// AVX-512, for head sizes that are a multiple of 16 (CLIP's and SigLIP's 64): the same sums as
// attention_head, but two queries at a time with their accumulators in registers (the generic loops
// keep s[] and out_i[] in memory, and each step then waits on a store: 2× slower on ViT-B/32). kt is
// padded with zero keys to a multiple of 16 (ldk floats per row); the padded scores are never used.
__attribute__((target("avx512f,avx512dq,fma"))) static void attention_head_avx512(float* out, const float* q,
                                                                                  const float* k, const float* v,
                                                                                  size_t stride, int T, int C, int hd,
                                                                                  bool causal, float* kt, float* s) {
    if (hd % 16 != 0) return attention_head(out, q, k, v, stride, T, C, hd, causal, kt, s);
    const float scale = 1.0f / std::sqrt((float)hd);
    const int ldk = (T + 15) / 16 * 16;  // kt row length and s row length (two rows of s)
    for (int d = 0; d < hd; d++) {
        for (int j = 0; j < T; j++) kt[(size_t)d * ldk + j] = k[(size_t)j * stride + d];
        for (int j = T; j < ldk; j++) kt[(size_t)d * ldk + j] = 0.0f;
    }
    float* spare = s + 2 * (size_t)ldk;  // hd zeros: the second query of an odd last pair, and its output
    for (int i0 = 0; i0 < T; i0 += 2) {
        const int rows = std::min(2, T - i0);
        const float* q0 = q + (size_t)i0 * stride;
        const float* q1 = q0 + stride;
        if (rows == 1) {
            std::fill(spare, spare + hd, 0.0f);
            q1 = spare;
        }
        const int n_row[2] = {causal ? i0 + 1 : T, causal ? std::min(i0 + 2, T) : T};  // keys each row sees
        const int n = n_row[rows - 1];
        two_rows_times(q0, q1, kt, ldk, hd, (n + 15) / 16 * 16, s, s + ldk);  // the scores of both queries
        for (int r = 0; r < 2; r++) {  // softmax of each row over its keys; p_j = 0 past them
            float* sr = s + (size_t)r * ldk;
            const int nr = n_row[r];
            float maxs = -INFINITY;
            for (int j = 0; j < nr; j++) {
                sr[j] *= scale;
                maxs = std::max(maxs, sr[j]);
            }
            float sum = 0;
            exp_shifted_inplace(sr, nr, maxs, &sum);
            const float inv = 1.0f / sum;
            for (int j = 0; j < nr; j++) sr[j] *= inv;
            for (int j = nr; j < n; j++) sr[j] = 0.0f;
        }
        float* o0 = out + (size_t)i0 * C;
        float* o1 = rows == 2 ? o0 + C : spare;  // an unpaired query's partner writes to scratch
        two_rows_times(s, s + ldk, v, stride, n, hd, o0, o1);  // Σ_j p_j · v_j for both
    }
}

const char* attention_kernel_name() {
    const Isa l = isa_active();
    return l >= Isa::avx512 ? "avx512, per head, 2 queries in registers (head size a multiple of 16; else vector loops)"
           : l >= Isa::avx2 ? "avx2 vector loops, per head"
                            : "portable loops, per head";
}

// Core with an explicit row stride for q/k/v (C for separate buffers, 3C for packed qkv).
static void attention_core(float* out, const float* q, const float* k, const float* v, size_t stride,
                           int B, int T, int C, int NH, bool causal) {
    if (impl() == Impl::reference) return attention_reference(out, q, k, v, stride, B, T, C, NH, causal);
    const int hd = C / NH;
    const Isa level = isa_active();
    const AttentionHead head = level >= Isa::avx512 ? attention_head_avx512
                               : level >= Isa::avx2 ? attention_head_avx2
                                                    : attention_head_portable;
    #pragma omp parallel
    {
        const int ldk = (T + 15) / 16 * 16;  // room for attention_head_avx512's padding and spare row
        std::vector<float> kt((size_t)hd * ldk), s(2 * (size_t)ldk + hd);
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const size_t row = (size_t)b * T;
                head(out + row * C + h * hd, q + row * stride + h * hd, k + row * stride + h * hd,
                     v + row * stride + h * hd, stride, T, C, hd, causal, kt.data(), s.data());
            }
    }
}

void attention_forward(float* out, const float* q, const float* k, const float* v,
                       int B, int T, int C, int NH, bool causal) {
    attention_core(out, q, k, v, C, B, T, C, NH, causal);
}

void attention_forward_qkv(float* out, const float* qkv, int B, int T, int C, int NH, bool causal) {
    attention_core(out, qkv, qkv + C, qkv + 2 * C, 3 * (size_t)C, B, T, C, NH, causal);
}

// e^x for float, written so the compiler can vectorise it (std::exp is a scalar libm call):
// x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, ln2 split in two), e^r by its degree-7 Taylor polynomial
// (truncation error < 2e-8 relative), then scaled by 2^n through the exponent bits. Within 2 ulp of
// expf over [-87, 88] (tests/test_ops.cpp); inputs outside are clamped (e^-87 ≈ 1.6e-38, e^88 ≈ 1.7e38).
// NaN fails both comparisons of the clamp, and converting it to int (for 2^n) is undefined behaviour
// (x86 gives INT_MIN, then a negative number is shifted): it goes through the arithmetic as 0 and
// comes back out as NaN. Finite inputs take exactly the same path as before.
static inline float exp_approx(float x) {
    const bool is_nan = x != x;
    const float x_in = x;
    x = is_nan ? 0.0f : x;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // (std::fmin/fmax are libm calls: no vectorising)
    const float n = std::floor(x * 1.44269504f + 0.5f);
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;  // n ∈ [-125, 127]: a normal float's exponent
    float scale;
    std::memcpy(&scale, &bits, 4);
    return is_nan ? x_in : p * scale;
}

float exp_approx_for_test(float x) { return exp_approx(x); }

// AVX-512 twins of exp_approx and the two activations that use it (GCC did not vectorise the scalar
// loops: floor and the int shift kept them scalar, 6% of a ViT-B/32 forward). The same steps: clamp,
// n = ⌊x·log2e + ½⌋, Cody–Waite r, degree-7 Horner, scaled by 2^n (vscalefps); NaN passes through.
// Chosen at run time (cpu_features.h); the scalar loops stay the fallback and the reference.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,fma")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's own intrinsics headers (false positive)
static inline __m512 exp_approx16(__m512 x) {
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504f), _mm512_set1_ps(0.5f)),
                                          _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_mask_blend_ps(nan, _mm512_scalef_ps(p, n), x);
}

// x / (1 + e^(a·x + b·x³)) over n values (quick_gelu: a = −1.702, b = 0; gelu_tanh: a = −2k, b = −2k·0.044715)
static void sigmoid_gate_avx512(float* x, size_t n, float a, float b) {
    const size_t nv = n / 16;
    #pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < nv; i++) {
        const __m512 v = _mm512_loadu_ps(x + 16 * i);
        const __m512 v2 = _mm512_mul_ps(v, v);
        const __m512 arg = _mm512_mul_ps(v, _mm512_fmadd_ps(_mm512_set1_ps(b), v2, _mm512_set1_ps(a)));
        _mm512_storeu_ps(x + 16 * i, _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_approx16(arg))));
    }
}

// a[j] = e^(a[j] − shift) for j < n, *sum = Σ a[j] (the softmax numerators of one attention row).
static void exp_shifted_avx512(float* a, int n, float shift, float* sum) {
    __m512 acc = _mm512_setzero_ps();
    const __m512 sh = _mm512_set1_ps(shift);
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = exp_approx16(_mm512_sub_ps(_mm512_loadu_ps(a + j), sh));
        _mm512_storeu_ps(a + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (j < n) {
        const __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        const __m512 e = exp_approx16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + j), sh));
        _mm512_mask_storeu_ps(a + j, m, e);
        acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(m, e));
    }
    alignas(64) float lanes[16];  // (_mm512_reduce_add_ps trips a GCC 12 header warning under the pragma)
    _mm512_store_ps(lanes, acc);
    float total = 0;
    for (float v : lanes) total += v;
    *sum = total;
}
#pragma GCC diagnostic pop
#pragma GCC pop_options

static void exp_shifted_inplace(float* a, int n, float shift, float* sum) {
    if (isa_active() >= Isa::avx512) return exp_shifted_avx512(a, n, shift, sum);
    float s = 0;
    for (int j = 0; j < n; j++) s += (a[j] = std::exp(a[j] - shift));
    *sum = s;
}

void quick_gelu_inplace(float* x, size_t n) {
    size_t done = 0;
    if (isa_active() >= Isa::avx512) sigmoid_gate_avx512(x, n, -1.702f, 0.0f), done = n / 16 * 16;
    #pragma omp parallel for simd if (n - done > 65536)
    for (size_t i = done; i < n; i++) x[i] = x[i] / (1.0f + exp_approx(-1.702f * x[i]));
}

void gelu_inplace(float* x, size_t n) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * (float)M_SQRT1_2));
}

// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), PyTorch's gelu(approximate="tanh") in fp32, written as
// x / (1 + e^(−2u)) with u = √(2/π)·(x + 0.044715·x³) — the same function, since ½(1 + tanh u) = σ(2u) —
// so it vectorises through exp_approx (std::tanh is a scalar libm call: 30% of SigLIP's image time).
// Within 1.1e-7·max(1, |x|) of the std::tanh form (tests/test_ops.cpp); large |x| saturate to x and 0.
void gelu_tanh_inplace(float* x, size_t n) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    size_t done = 0;
    if (isa_active() >= Isa::avx512) sigmoid_gate_avx512(x, n, -2.0f * k, -2.0f * k * 0.044715f), done = n / 16 * 16;
    #pragma omp parallel for simd if (n - done > 65536)
    for (size_t i = done; i < n; i++) {
        const float v = x[i];
        const float u = k * (v + 0.044715f * v * v * v);
        x[i] = v / (1.0f + exp_approx(-2.0f * u));
    }
}

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::quick_gelu: return "quick_gelu";
        case Activation::gelu: return "gelu";
        default: return "gelu_pytorch_tanh";
    }
}

void activation_inplace(Activation a, float* x, size_t n) {
    switch (a) {
        case Activation::quick_gelu: quick_gelu_inplace(x, n); break;
        case Activation::gelu: gelu_inplace(x, n); break;
        case Activation::gelu_tanh: gelu_tanh_inplace(x, n); break;
    }
}

void residual_add(float* x, const float* y, size_t n) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void l2_normalize_rows(float* x, int N, int C) {
    for (int n = 0; n < N; n++) {
        float* r = x + (size_t)n * C;
        double s = 0;
        for (int i = 0; i < C; i++) s += (double)r[i] * r[i];
        if (s > 0) {
            float inv = (float)(1.0 / std::sqrt(s));
            for (int i = 0; i < C; i++) r[i] *= inv;
        }
    }
}

}  // namespace reco
