// test_adamw.cpp — AdamW against PyTorch's formula worked by hand (closed forms and a double-precision
// re-derivation written here), weight decay only on 2-D weights, and the learning-rate schedule.
#include <cmath>
#include <vector>

#include "adamw.h"
#include "common.h"
#include "test_util.h"

using namespace reco;

namespace {
// A small buffer: a [2,3] weight (decayed), a [3] bias and a scalar (not decayed).
std::vector<ParamEntry> small_table() {
    std::vector<ParamEntry> t(3);
    t[0].name = "w", t[0].offset = 0, t[0].numel = 6, t[0].shape = {2, 3}, t[0].weight_decay = true;
    t[1].name = "b", t[1].offset = 6, t[1].numel = 3, t[1].shape = {3}, t[1].weight_decay = false;
    t[2].name = "s", t[2].offset = 9, t[2].numel = 1, t[2].shape = {}, t[2].weight_decay = false;
    return t;
}
}  // namespace

TEST_CASE("adamw: constant gradient gives the closed form p_t = p_{t-1}(1 - lr·wd) - lr·g/(|g| + eps)") {
    // With g constant: m_t = g(1-β1ᵗ), v_t = g²(1-β2ᵗ), so m̂ = g, √v̂ = |g| exactly.
    std::vector<float> p = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, -0.75f, 1.0f, -2.0f, 0.1f, 2.6592f};
    const std::vector<float> g = {0.1f, -0.2f, 3.0f, 1e-3f, -5.0f, 0.5f, 0.01f, -0.3f, 2.0f, -0.05f};
    AdamWConfig cfg;  // β1 .9, β2 .999, eps 1e-8, wd 0.05
    AdamW opt(small_table(), p.size(), cfg);
    std::vector<double> ref(p.begin(), p.end());
    const double lr = 1e-2;
    for (int t = 1; t <= 5; t++) {
        opt.step(p.data(), g.data(), lr);
        for (size_t i = 0; i < ref.size(); i++) {
            if (i < 6) ref[i] *= 1 - lr * 0.05;
            ref[i] -= lr * g[i] / (std::fabs(g[i]) + 1e-8);
        }
    }
    CHECK(opt.t == 5);
    for (size_t i = 0; i < p.size(); i++) CHECK(p[i] == doctest::Approx(ref[i]).epsilon(1e-6));
}

TEST_CASE("adamw: varying gradients follow torch's _single_tensor_adamw formula") {
    std::vector<float> p = {0.3f, -0.7f, 1.1f, 0.05f, -0.4f, 0.9f, 0.2f, -0.1f, 0.0f, 3.0f};
    AdamWConfig cfg;
    cfg.weight_decay = 0.1;
    cfg.beta1 = 0.8;
    cfg.beta2 = 0.95;
    AdamW opt(small_table(), p.size(), cfg);
    std::vector<double> P(p.begin(), p.end()), M(p.size(), 0), V(p.size(), 0);
    for (int t = 1; t <= 7; t++) {
        std::vector<float> g(p.size());
        for (size_t i = 0; i < g.size(); i++) g[i] = (float)(std::sin(1.7 * t + 0.9 * i) * (0.1 + i));
        const double lr = 1e-3 * t;  // schedules change lr between steps
        opt.step(p.data(), g.data(), lr);
        // torch: p.mul_(1 - lr·wd); m.lerp_(g, 1-β1); v.mul_(β2).addcmul_(g, g, 1-β2);
        //        p.addcdiv_(m, v.sqrt()/sqrt(1-β2ᵗ) + eps, value = -lr/(1-β1ᵗ))
        for (size_t i = 0; i < P.size(); i++) {
            if (i < 6) P[i] *= 1 - lr * 0.1;
            M[i] = 0.8 * M[i] + 0.2 * g[i];
            V[i] = 0.95 * V[i] + 0.05 * (double)g[i] * g[i];
            const double denom = std::sqrt(V[i]) / std::sqrt(1 - std::pow(0.95, t)) + 1e-8;
            P[i] -= lr / (1 - std::pow(0.8, t)) * M[i] / denom;
        }
    }
    for (size_t i = 0; i < p.size(); i++) {
        CHECK(p[i] == doctest::Approx(P[i]).epsilon(1e-5));
        CHECK(opt.m[i] == doctest::Approx(M[i]).epsilon(1e-5));
        CHECK(opt.v[i] == doctest::Approx(V[i]).epsilon(1e-5));
    }
}

TEST_CASE("adamw: zero gradients decay only the 2-D weights") {
    std::vector<float> p = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, g(10, 0.0f);
    AdamW opt(small_table(), p.size());
    for (int t = 0; t < 3; t++) opt.step(p.data(), g.data(), 0.1);
    const double f = std::pow(1 - 0.1 * 0.05, 3);
    for (int i = 0; i < 6; i++) CHECK(p[i] == doctest::Approx((i + 1) * f).epsilon(1e-6));
    for (int i = 6; i < 10; i++) CHECK(p[i] == (float)(i + 1));
}

TEST_CASE("adamw: a table that does not tile the buffer is rejected") {
    auto t = small_table();
    CHECK_THROWS_AS(AdamW(t, 11), reco::Error);
    t[1].offset = 7;
    CHECK_THROWS_AS(AdamW(t, 10), reco::Error);
}

TEST_CASE("lr schedule: linear warm-up, cosine to zero, constant") {
    LrSchedule s;
    s.base_lr = 1e-3;
    s.warmup_steps = 10;
    s.total_steps = 110;
    CHECK(s.lr_at(0) == doctest::Approx(1e-4));
    CHECK(s.lr_at(4) == doctest::Approx(5e-4));
    CHECK(s.lr_at(9) == doctest::Approx(1e-3));
    CHECK(s.lr_at(10) == doctest::Approx(1e-3));
    CHECK(s.lr_at(60) == doctest::Approx(0.5e-3));                                     // cos(π/2) = 0
    CHECK(s.lr_at(35) == doctest::Approx(1e-3 * 0.5 * (1 + std::sqrt(0.5))).epsilon(1e-9));  // cos(π/4)
    CHECK(s.lr_at(110) == 0.0);
    CHECK(s.lr_at(500) == 0.0);
    for (int64_t i = 11; i < 110; i++) CHECK(s.lr_at(i) < s.lr_at(i - 1));
    s.kind = LrSchedule::Kind::constant;
    CHECK(s.lr_at(0) == 1e-3);
    CHECK(s.lr_at(1000) == 1e-3);
}
