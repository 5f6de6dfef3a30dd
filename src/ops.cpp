// ops.cpp — CPU reference implementations of the tower operators (see ops.h).
#include "ops.h"

#include "cpu_features.h"

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
        double mean = 0;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        double var = 0;
        for (int i = 0; i < C; i++) { double d = x[i] - mean; var += d * d; }
        var /= C;
        float rstd = (float)(1.0 / std::sqrt(var + eps));
        float m = (float)mean;
        for (int i = 0; i < C; i++) y[i] = (x[i] - m) * rstd * w[i] + b[i];
    }
}

static void exp_shifted_inplace(float* a, int n, float shift, float* sum);  // a = e^(a − shift), below

// Core with an explicit row stride for q/k/v (C for separate buffers, 3C for packed qkv).
static void attention_core(float* out, const float* q, const float* k, const float* v, size_t stride,
                           int B, int T, int C, int NH, bool causal) {
    const int hd = C / NH;
    const float scale = 1.0f / std::sqrt((float)hd);
    #pragma omp parallel
    {
        std::vector<float> att(T);
        #pragma omp for collapse(3)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < T; i++) {
                    const float* qi = q + ((size_t)b * T + i) * stride + h * hd;
                    int jmax = causal ? i + 1 : T;
                    float maxv = -INFINITY;
                    for (int j = 0; j < jmax; j++) {
                        const float* kj = k + ((size_t)b * T + j) * stride + h * hd;
                        float s = 0;
                        #pragma omp simd reduction(+ : s)
                        for (int d = 0; d < hd; d++) s += qi[d] * kj[d];
                        s *= scale;
                        att[j] = s;
                        if (s > maxv) maxv = s;
                    }
                    float sum = 0;
                    exp_shifted_inplace(att.data(), jmax, maxv, &sum);
                    float inv = 1.0f / sum;
                    float* oi = out + ((size_t)b * T + i) * C + h * hd;
                    for (int d = 0; d < hd; d++) oi[d] = 0;
                    for (int j = 0; j < jmax; j++) {
                        const float* vj = v + ((size_t)b * T + j) * stride + h * hd;
                        float a = att[j] * inv;
                        #pragma omp simd
                        for (int d = 0; d < hd; d++) oi[d] += a * vj[d];
                    }
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
