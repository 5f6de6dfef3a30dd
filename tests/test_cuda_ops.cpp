// test_cuda_ops.cpp — every tower kernel (kernels/tower_kernels.cuh) against its CPU reference
// (src/ops.h, or the loop of clip_vision.cpp / clip_text.cpp it mirrors, re-stated here), llm.c style:
// per-op tolerances |gpu − cpu| ≤ atol + rtol·|cpu|, sized by the 16-bit rounding the kernel does.
// Inputs that a kernel reads in 16 bits are rounded the same way for the CPU reference first, so the
// comparison measures the kernel, not the input rounding.
// Skips visibly without a CUDA device or in a CUDA=0 build.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "device.h"
#include "ops.h"
#include "safetensors.h"
#include "test_util.h"
#if RECO_CUDA
#include "gpu_ops.h"
#endif

using namespace reco;

#if RECO_CUDA
using gpu_ops::Act;

namespace {

std::vector<float> randn(size_t n, unsigned seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// host rounding to the activation type (round to nearest even, as the device's conversions)
float round_act(float x, Act act) {
    return act == Act::F16 ? half_to_float(float_to_half(x)) : bf16_to_float(float_to_bf16(x));
}
std::vector<float> rounded(std::vector<float> v, Act act) {
    for (auto& x : v) x = round_act(x, act);
    return v;
}
// one unit in the last place of act, relative
double act_eps(Act act) { return act == Act::F16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7); }
const char* act_name(Act act) { return act == Act::F16 ? "fp16" : "bf16"; }

// max over i of |a-b| / (atol + rtol·|b|): ≤ 1 passes
double worst(const std::vector<float>& gpu, const std::vector<float>& cpu, double atol, double rtol) {
    REQUIRE(gpu.size() == cpu.size());
    double w = 0;
    for (size_t i = 0; i < gpu.size(); i++) {
        if (!std::isfinite(gpu[i])) return INFINITY;
        w = std::max(w, std::fabs((double)gpu[i] - cpu[i]) / (atol + rtol * std::fabs((double)cpu[i])));
    }
    return w;
}

}  // namespace
#endif

TEST_CASE("cuda ops: im2col, vision and text embeddings equal their CPU loops exactly") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    for (Act act : {Act::F16, Act::BF16}) {
        const int B = 2, S = 64, P = 16, G = S / P, K = 3 * P * P;
        auto pix = randn((size_t)B * 3 * S * S, 1);
        std::vector<float> cols((size_t)B * G * G * K), want(cols.size());
        gpu_ops::im2col(cols.data(), pix.data(), B, S, P, act);
        // the definition: row (b, gy·G+gx), column (c·P + py)·P + px  (conv weight [C,3,P,P] order)
        for (int b = 0; b < B; b++)
            for (int gy = 0; gy < G; gy++)
                for (int gx = 0; gx < G; gx++)
                    for (int c = 0; c < 3; c++)
                        for (int py = 0; py < P; py++)
                            for (int px = 0; px < P; px++)
                                want[((size_t)b * G * G + gy * G + gx) * K + (c * P + py) * P + px] = round_act(
                                    pix[(((size_t)b * 3 + c) * S + gy * P + py) * S + gx * P + px], act);
        CHECK(cols == want);
    }
    {
        const int B = 3, T = 17, C = 40;
        auto patches = randn((size_t)B * (T - 1) * C, 2), cls = randn(C, 3), pos = randn((size_t)T * C, 4);
        std::vector<float> x((size_t)B * T * C), want(x.size());
        gpu_ops::vision_embed(x.data(), patches.data(), cls.data(), pos.data(), B, T, C);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < C; i++)
                    want[((size_t)b * T + t) * C + i] =
                        (t == 0 ? cls[i] : patches[((size_t)b * (T - 1) + t - 1) * C + i]) + pos[(size_t)t * C + i];
        CHECK(x == want);
    }
    {
        const int B = 2, T = 77, C = 24, V = 300;
        auto tok = randn((size_t)V * C, 5), pos = randn((size_t)T * C, 6);
        std::vector<int> ids((size_t)B * T);
        for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)((i * 7919) % V);
        std::vector<float> x((size_t)B * T * C), want(x.size());
        gpu_ops::text_embed(x.data(), ids.data(), tok.data(), V, pos.data(), B, T, C);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < C; i++)
                    want[((size_t)b * T + t) * C + i] =
                        tok[(size_t)ids[(size_t)b * T + t] * C + i] + pos[(size_t)t * C + i];
        CHECK(x == want);
    }
#endif
}

TEST_CASE("cuda ops: LayerNorm (plain, gathered rows, fused residual) against layernorm_forward") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    for (int C : {16, 48, 512, 768, 1024, 1000}) {
        const int N = 37;
        auto x = randn((size_t)N * C, 10 + C, 3.0f), w = randn(C, 11), b = randn(C, 12);
        for (auto& v : x) v += 5.0f;  // a large mean: the two-pass variance must not cancel
        std::vector<float> out((size_t)N * C), want(out.size());
        gpu_ops::layernorm(out.data(), x.data(), N, nullptr, w.data(), b.data(), N, C, 1e-5f);
        layernorm_forward(want.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
        INFO("C=" << C);
        CHECK(worst(out, want, 1e-5, 2e-5) <= 1.0);
        // gathered rows (CLS / EOT pooling): output row n = LN(input row rows[n])
        std::vector<int> rows = {5, 0, 36, 5};
        std::vector<float> g(rows.size() * C), gw(g.size());
        gpu_ops::layernorm(g.data(), x.data(), N, rows.data(), w.data(), b.data(), (int)rows.size(), C, 1e-6f);
        for (size_t r = 0; r < rows.size(); r++)
            layernorm_forward(gw.data() + r * C, x.data() + (size_t)rows[r] * C, w.data(), b.data(), 1, C, 1e-6f);
        CHECK(worst(g, gw, 1e-5, 2e-5) <= 1.0);
    }
    for (Act act : {Act::F16, Act::BF16}) {
        const int N = 50, C = 768;
        auto x = randn((size_t)N * C, 20), y = randn((size_t)N * C, 21), bias = randn(C, 22), w = randn(C, 23),
             b = randn(C, 24);
        auto yr = rounded(y, act);
        std::vector<float> xg = x, ln((size_t)N * C), xw = x, lnw(ln.size());
        gpu_ops::residual_layernorm(xg.data(), ln.data(), y.data(), bias.data(), w.data(), b.data(), N, C, 1e-5f, act);
        for (size_t i = 0; i < xw.size(); i++) xw[i] = xw[i] + (yr[i] + bias[i % C]);
        layernorm_forward(lnw.data(), xw.data(), w.data(), b.data(), N, C, 1e-5f);
        INFO(act_name(act));
        CHECK(xg == xw);                                   // the fp32 residual stream: same adds, same order
        CHECK(worst(ln, lnw, 1e-4, act_eps(act)) <= 1.0);  // one 16-bit rounding of the output
        std::vector<float> xonly = x;
        gpu_ops::residual_layernorm(xonly.data(), nullptr, y.data(), bias.data(), w.data(), b.data(), N, C, 1e-5f, act);
        CHECK(xonly == xw);
    }
#endif
}

TEST_CASE("cuda ops: bias + quick_gelu / exact GELU against quick_gelu_inplace / gelu_inplace") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    for (Act act : {Act::F16, Act::BF16})
        for (bool quick : {true, false}) {
            const int N = 33, M = 3072;
            auto h = randn((size_t)N * M, 30, 2.5f), bias = randn(M, 31);
            std::vector<float> g = h, want = rounded(h, act);
            gpu_ops::bias_act(g.data(), bias.data(), N, M, quick, act);
            for (size_t i = 0; i < want.size(); i++) want[i] += bias[i % M];
            if (quick) quick_gelu_inplace(want.data(), want.size());
            else gelu_inplace(want.data(), want.size());
            INFO(act_name(act) << (quick ? " quick_gelu" : " gelu"));
            CHECK(worst(g, want, 1e-6, act_eps(act)) <= 1.0);
        }
#endif
}

TEST_CASE("cuda ops: L2 normalisation and the tensor-core linear against the CPU") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    {
        const int N = 19, C = 512;
        auto x = randn((size_t)N * C, 40);
        std::fill(x.begin(), x.begin() + C, 0.0f);  // a zero row stays zero
        std::vector<float> g = x, want = x;
        gpu_ops::l2_normalize_rows(g.data(), N, C);
        l2_normalize_rows(want.data(), N, C);
        CHECK(worst(g, want, 1e-7, 1e-6) <= 1.0);
    }
    for (Act act : {Act::F16, Act::BF16}) {
        const int shapes[][3] = {{50, 768, 2304}, {77, 512, 512}, {7, 3072, 768}, {13, 48, 24}};
        for (auto& s : shapes) {
            const int N = s[0], C = s[1], OC = s[2];
            auto x = randn((size_t)N * C, 50 + C), w = randn((size_t)OC * C, 51 + OC, 0.05f);
            std::vector<float> out((size_t)N * OC), want(out.size());
            gpu_ops::linear(out.data(), x.data(), w.data(), N, C, OC, act);
            auto xr = rounded(x, act), wr = rounded(w, act);
            matmul_forward_naive(want.data(), xr.data(), wr.data(), nullptr, N, C, OC);  // double accumulation
            INFO(act_name(act) << " N=" << N << " C=" << C << " OC=" << OC);
            // exact products, fp32 accumulation of C terms of size ~0.05: ≲ C·2^-24·Σ|terms|
            CHECK(worst(out, want, 1e-5 * std::sqrt((double)C), 1e-5) <= 1.0);
        }
    }
#endif
}

TEST_CASE("cuda ops: fused attention (tensor-core and scalar kernels, causal and not) against attention_forward_qkv") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    struct Shape {
        int B, T, C, NH;
        bool causal;
    };
    // CLIP's sequences: ViT-B/32 (50), text (77 and a cut batch of 9), ViT-B/16 (197), ViT-L/14 (257);
    // head dims 64 (every CLIP tower), 32, 128; plus odd shapes only the scalar kernel takes.
    const Shape shapes[] = {{3, 50, 768, 12, false}, {2, 77, 512, 8, true},  {4, 9, 512, 8, true},
                            {2, 197, 768, 12, false}, {1, 257, 1024, 16, false}, {2, 77, 256, 8, true},
                            {2, 50, 256, 2, false},  {2, 33, 48, 3, false},   {3, 20, 16, 2, true}};
    for (Act act : {Act::F16, Act::BF16})
        for (const Shape& s : shapes)
            for (int path : {1, 2}) {
                const int hd = s.C / s.NH;
                const bool wmma_ok = (hd == 32 || hd == 64 || hd == 128) && s.T <= 320;
                if (path == 1 && !wmma_ok) continue;
                auto qkv = randn((size_t)s.B * s.T * 3 * s.C, 60 + s.T, 1.0f), bias = randn((size_t)3 * s.C, 61, 0.5f);
                std::vector<float> out((size_t)s.B * s.T * s.C), want(out.size());
                gpu_ops::attention_qkv(out.data(), qkv.data(), bias.data(), s.B, s.T, s.C, s.NH, s.causal, act, path);
                // CPU: the same 16-bit q/k/v values plus the fp32 bias; the tensor-core kernel rounds that sum
                // to 16 bits again when it stages Q, K, V in shared memory, the scalar kernel keeps it in fp32
                std::vector<float> ref = rounded(qkv, act);
                for (size_t i = 0; i < ref.size(); i++) {
                    ref[i] += bias[i % (3 * s.C)];
                    if (path == 1) ref[i] = round_act(ref[i], act);
                }
                attention_forward_qkv(want.data(), ref.data(), s.B, s.T, s.C, s.NH, s.causal);
                INFO(act_name(act) << " B=" << s.B << " T=" << s.T << " C=" << s.C << " NH=" << s.NH
                                   << (s.causal ? " causal" : "") << (path == 1 ? " tensor-core" : " scalar"));
                // scores of size ~√hd·1.5 with 16-bit inputs; P rounded to 16 bits by the tensor-core kernel
                const double tol = act == Act::F16 ? 6e-3 : 4e-2;
                CHECK(worst(out, want, tol, tol) <= 1.0);
            }
#endif
}
