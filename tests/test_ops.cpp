// test_ops.cpp — the fast GEMM against the naive triple loop; activations against closed forms;
// attention against its definition in double.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "impl.h"
#include "ops.h"
#include "test_util.h"

using namespace reco;

TEST_CASE("matmul_forward equals the naive reference on odd shapes, at every kernel level of this CPU") {
  for (int lv = 0; lv <= (int)isa_supported(); lv++) {
    set_isa_limit((Isa)lv);
    const std::string level = std::string(isa_name((Isa)lv)) + " (" + gemm_kernel_name() + ")";
    INFO("kernel level " << level);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0, 1);
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {50, 768, 768}, {77, 64, 200}, {130, 33, 65}, {8, 3072, 17}};
    for (auto& s : shapes) {
        int N = s[0], C = s[1], OC = s[2];
        std::vector<float> x((size_t)N * C), w((size_t)OC * C), b(OC), y1((size_t)N * OC), y2((size_t)N * OC);
        for (auto& v : x) v = nd(rng);
        for (auto& v : w) v = nd(rng);
        for (auto& v : b) v = nd(rng);
        matmul_forward(y1.data(), x.data(), w.data(), b.data(), N, C, OC);
        matmul_forward_naive(y2.data(), x.data(), w.data(), b.data(), N, C, OC);
        double maxerr = 0;
        for (size_t i = 0; i < y1.size(); i++) maxerr = std::max(maxerr, (double)std::fabs(y1[i] - y2[i]));
        INFO("N=" << N << " C=" << C << " OC=" << OC);
        CHECK(maxerr < 1e-4 * std::sqrt((double)C) + 1e-5);
        matmul_forward(y1.data(), x.data(), w.data(), nullptr, N, C, OC);
        matmul_forward_naive(y2.data(), x.data(), w.data(), nullptr, N, C, OC);
        maxerr = 0;
        for (size_t i = 0; i < y1.size(); i++) maxerr = std::max(maxerr, (double)std::fabs(y1[i] - y2[i]));
        CHECK(maxerr < 1e-4 * std::sqrt((double)C) + 1e-5);
    }
  }
  set_isa_limit(Isa::avx512_bf16);  // back to what the CPU supports
}

TEST_CASE("activations match their closed forms") {
    float x[5] = {-3.f, -0.5f, 0.f, 0.7f, 2.f};
    float q[5], g[5];
    for (int i = 0; i < 5; i++) q[i] = g[i] = x[i];
    quick_gelu_inplace(q, 5);
    gelu_inplace(g, 5);
    // GELU(0.7) = 0.7·Φ(0.7) = 0.7·0.7580363 (standard normal CDF table value)
    CHECK(g[3] == doctest::Approx(0.7 * 0.7580363).epsilon(1e-6));
    CHECK(g[2] == 0.0f);
    // quick_gelu(2) = 2 / (1 + e^-3.404)
    CHECK(q[4] == doctest::Approx(2.0 / (1.0 + std::exp(-3.404))).epsilon(1e-6));
}

TEST_CASE("the vectorisable exp used by quick_gelu is within 2 ulp of expf on [-87, 88]") {
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.000731f) {
        float a = exp_approx_for_test(x), b = std::exp(x);
        double ulp = std::fabs((double)a - b) / (std::nextafter(b, INFINITY) - b);
        worst = std::max(worst, ulp);
    }
    MESSAGE("exp_approx worst error: " << worst << " ulp");
    CHECK(worst <= 2.0);
    CHECK(exp_approx_for_test(0.0f) == 1.0f);
    CHECK(exp_approx_for_test(-200.0f) > 0.0f);  // clamped, no denormals or NaN downstream
}

// NaN used to reach the float→int conversion and a left shift of a negative int (undefined
// behaviour; UBSan reports it, `make sanitize`). x86 happened to return NaN anyway.
TEST_CASE("exp_approx and quick_gelu: NaN in gives NaN out, ±Inf is clamped, no undefined behaviour") {
    CHECK(std::isnan(exp_approx_for_test(NAN)));
    CHECK(std::isnan(exp_approx_for_test(-NAN)));
    CHECK(exp_approx_for_test(INFINITY) == exp_approx_for_test(88.0f));
    CHECK(exp_approx_for_test(-INFINITY) == exp_approx_for_test(-87.0f));
    CHECK(exp_approx_for_test(-INFINITY) > 0.0f);
    // through the vectorised loop too (n > 1 and the clamped path for the neighbours)
    std::vector<float> x = {1.0f, NAN, -INFINITY, INFINITY, -1.0f, 0.0f, NAN, 3.0f};
    quick_gelu_inplace(x.data(), x.size());
    CHECK(std::isnan(x[1]));
    CHECK(std::isnan(x[6]));
    CHECK(x[3] == INFINITY);
    CHECK(x[0] == doctest::Approx(1.0 / (1.0 + std::exp(-1.702))).epsilon(1e-6));
}

TEST_CASE("quick_gelu and gelu_tanh at every kernel level match their closed forms in double") {
  for (int lv = 0; lv <= (int)isa_supported(); lv++) {
    set_isa_limit((Isa)lv);
    const std::string level = isa_name((Isa)lv);
    std::vector<float> x;
    for (float v = -100.0f; v <= 100.0f; v += 0.0173f) x.push_back(v);
    x.push_back(NAN);
    std::vector<float> q = x, t = x;
    quick_gelu_inplace(q.data(), q.size());
    gelu_tanh_inplace(t.data(), t.size());
    double wq = 0, wt = 0;
    for (size_t i = 0; i + 1 < x.size(); i++) {
        const double v = x[i];
        wq = std::max(wq, std::fabs(q[i] - v / (1.0 + std::exp(-1.702 * v))) / std::max(1.0, std::fabs(v)));
        wt = std::max(wt, std::fabs(t[i] - 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))) /
                              std::max(1.0, std::fabs(v)));
    }
    INFO("level " << level << ": worst error relative to max(1,|x|): quick_gelu " << wq << ", gelu_tanh " << wt);
    CHECK(wq < 2e-7);
    CHECK(wt < 2e-7);
    CHECK(std::isnan(q.back()));
    CHECK(std::isnan(t.back()));
  }
  set_isa_limit(Isa::avx512_bf16);
}

TEST_CASE("gelu_tanh (vectorised x/(1+e^-2u) form) matches the std::tanh definition") {
    std::vector<float> x;
    for (float v = -12.0f; v <= 12.0f; v += 0.00731f) x.push_back(v);
    for (float v : {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f, 1e-20f, -1e-20f}) x.push_back(v);
    std::vector<float> y = x;
    gelu_tanh_inplace(y.data(), y.size());
    double worst = 0;
    for (size_t i = 0; i < x.size(); i++) {
        const double v = x[i], want = 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
        worst = std::max(worst, std::fabs(y[i] - want) / std::max(1.0, std::fabs(v)));
    }
    INFO("worst error relative to max(1,|x|): " << worst);
    CHECK(worst < 2e-7);  // reaches 1.1e-7
    float nan = NAN;
    gelu_tanh_inplace(&nan, 1);
    CHECK(std::isnan(nan));
}

TEST_CASE("matmul_forward_packed with bf16 weights stays within the bf16 rounding bound of the naive fp32 product") {
    if (isa_supported() < Isa::avx512_bf16)
        testutil::skip("this CPU lacks avx512_bf16: bf16 packing falls back to fp32 (covered by the fp32 test)");
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0, 1);
    // tower shapes (C = 768, 3072) and odd edges (C odd: a zero-padded last pair; N, OC not tile multiples)
    int shapes[][3] = {{50, 768, 768}, {13, 3072, 70}, {7, 33, 5}, {1, 1, 1}};
    for (auto& s : shapes) {
        const int N = s[0], C = s[1], OC = s[2];
        std::vector<float> x((size_t)N * C), w((size_t)OC * C), b(OC), y((size_t)N * OC), ref((size_t)N * OC);
        for (auto& v : x) v = nd(rng);
        for (auto& v : w) v = nd(rng);
        for (auto& v : b) v = nd(rng);
        PackedWeight pw;
        pack_weight(pw, w.data(), OC, C, Precision::bf16);
        REQUIRE(!pw.bf16.empty());
        matmul_forward_packed(y.data(), x.data(), pw, b.data(), N);
        matmul_forward_naive(ref.data(), x.data(), w.data(), b.data(), N, C, OC);
        // |error| ≤ (2^-7 + 2^-16)·Σ|x·w| (both operands rounded to bf16, products exact in fp32)
        //          + γ_C·Σ|x·w| + |b|·u (fp32 accumulation), with γ_C ≈ C·2^-24
        double worst = 0, nonzero = 0;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                double A = 0;
                for (int c = 0; c < C; c++) A += std::fabs((double)x[(size_t)n * C + c] * w[(size_t)o * C + c]);
                const double bound = (0x1p-7 + 0x1p-16 + 2.0 * C * 0x1p-24) * A + std::fabs(b[o]) * 0x1p-23;
                const double err = std::fabs((double)y[(size_t)n * OC + o] - ref[(size_t)n * OC + o]);
                worst = std::max(worst, err / bound);
                nonzero = std::max(nonzero, err);
            }
        INFO("N=" << N << " C=" << C << " OC=" << OC << " worst error / bound " << worst);
        CHECK(worst <= 1.0);
        if (C > 1) CHECK(nonzero > 0);  // the bf16 path really ran (fp32 would be near-exact)
    }
}

// Self-attention in double, straight from the definition: out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j.
static std::vector<double> attention_double(const std::vector<float>& qkv, int B, int T, int C, int NH, bool causal) {
    const int hd = C / NH;
    std::vector<double> out((size_t)B * T * C, 0.0);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const int n = causal ? i + 1 : T;
                std::vector<double> p(n);
                double mx = -1e300, sum = 0;
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int d = 0; d < hd; d++)
                        s += (double)qkv[((size_t)b * T + i) * 3 * C + h * hd + d] *
                             qkv[((size_t)b * T + j) * 3 * C + C + h * hd + d];
                    p[j] = s / std::sqrt((double)hd);
                    mx = std::max(mx, p[j]);
                }
                for (int j = 0; j < n; j++) sum += (p[j] = std::exp(p[j] - mx));
                for (int j = 0; j < n; j++)
                    for (int d = 0; d < hd; d++)
                        out[((size_t)b * T + i) * C + h * hd + d] +=
                            p[j] / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * hd + d];
            }
    return out;
}

TEST_CASE("attention_forward_qkv at every kernel level, and the plain reference, match attention in double") {
    // (B, T, C, NH, causal): ViT-B/32 and CLIP text shapes, odd T (an unpaired last query), T = 1,
    // T past 64 (several key chunks), head sizes 64, 16, 48 (register path) and 72, 8 (generic loops)
    const int shapes[][5] = {{2, 50, 768, 12, 0}, {2, 77, 512, 8, 1}, {1, 1, 64, 1, 0}, {1, 1, 64, 1, 1},
                             {3, 33, 64, 4, 1},   {1, 130, 96, 2, 0}, {1, 129, 96, 2, 1}, {2, 17, 144, 2, 0},
                             {2, 21, 16, 2, 1}};
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0, 1);
    for (auto& sh : shapes) {
        const int B = sh[0], T = sh[1], C = sh[2], NH = sh[3];
        const bool causal = sh[4] != 0;
        std::vector<float> qkv((size_t)B * T * 3 * C), out((size_t)B * T * C);
        for (auto& v : qkv) v = 1.5f * nd(rng);  // scores of a few units: a peaked softmax
        const std::vector<double> want = attention_double(qkv, B, T, C, NH, causal);
        auto check = [&](const std::string& what) {
            double worst = 0;
            for (size_t i = 0; i < out.size(); i++) worst = std::max(worst, std::fabs(out[i] - want[i]));
            INFO(what << " B=" << B << " T=" << T << " C=" << C << " heads=" << NH << " causal=" << causal
                      << " max |err| " << worst);
            CHECK(worst < 5e-6);  // reached: 3.8e-6 (float sums of 64–768 terms)
        };
        for (int lv = 0; lv <= (int)isa_supported(); lv++) {
            set_isa_limit((Isa)lv);
            attention_forward_qkv(out.data(), qkv.data(), B, T, C, NH, causal);
            check(std::string("level ") + isa_name((Isa)lv));
        }
        set_isa_limit(isa_supported());
        ImplScope ref(Impl::reference);
        attention_forward_qkv(out.data(), qkv.data(), B, T, C, NH, causal);
        check("reference");
    }
}

TEST_CASE("reco info without a file names this CPU's kernels; RECO_ISA caps them; a bad value is a note") {
    std::string out;
    REQUIRE(run_cmd(testutil::reco_bin() + "info", &out) == 0);
    for (const char* line : {"cpu: ", "top-k: ", "gemm: ", "attention: "}) CHECK_MESSAGE(out.find(line) != std::string::npos, out);
    REQUIRE(run_cmd("RECO_ISA=portable " + testutil::reco_bin() + "info", &out) == 0);
    CHECK_MESSAGE(out.find("kernels: portable") != std::string::npos, out);
    CHECK(out.find("gemm: portable fp32") != std::string::npos);
    CHECK(out.find("attention: portable loops") != std::string::npos);
    CHECK(out.find("top-k: portable exact fma") != std::string::npos);
    REQUIRE(run_cmd("RECO_ISA=avx9000 " + testutil::reco_bin() + "info", &out) == 0);
    CHECK(out.find("RECO_ISA=avx9000 is not one of") != std::string::npos);
}
