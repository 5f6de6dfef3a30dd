// test_fusion_grad.cpp — the fusion module's hand-written backward against finite differences
// (double precision), the fast query-row path against the full-sequence reference, and 10 AdamW
// training steps against a PyTorch autograd + torch.optim.AdamW fixture
// (tools/make_fusion_fixture.py → tests/fixtures/fusion/).
//
// Finite differences: the 5-point central stencil of fd_util.h (shared with test_sigmoid_loss.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include <unistd.h>

#include "adamw.h"
#include "fd_util.h"
#include "common.h"
#include "fusion.h"
#include "fusion_gemm.h"
#include "fusion_ops.h"
#include "fusion_train.h"
#include "nce_loss.h"
#include "safetensors.h"
#include "test_util.h"
#include "torch_fixture_replay.h"

using namespace reco;
using namespace reco::fusion_ops;

using namespace fdutil;

// ------------------------------------------------------------------------ single ops
TEST_CASE("fusion grad: linear, layernorm, attention, gelu, residual, l2norm match finite differences") {
    std::mt19937_64 rng(7);
    double worst_all = 0;
    {  // linear: L = Σ w·(x·Wᵀ + b)
        const int N = 3, C = 5, OC = 4;
        auto x = randn(N * C, rng), W = randn(OC * C, rng), b = randn(OC, rng), w = randn(N * OC, rng);
        std::vector<double> out(N * OC), dx(N * C, 0), dW(OC * C, 0), db(OC, 0);
        auto f = [&] { linear_forward(out.data(), x.data(), W.data(), b.data(), N, C, OC); return dot(out, w); };
        f();
        linear_backward(dx.data(), dW.data(), db.data(), w.data(), x.data(), W.data(), N, C, OC);
        double e = std::max({fd_check(f, x, dx), fd_check(f, W, dW), fd_check(f, b, db)});
        CHECK(e < kTol);
        worst_all = std::max(worst_all, e);
        printf("  fd linear      max rel err %.2e\n", e);
    }
    {  // layernorm
        const int N = 3, C = 7;
        auto x = randn(N * C, rng, 2.0), g = randn(C, rng), b = randn(C, rng), w = randn(N * C, rng);
        for (auto& v : x) v += 0.5;
        std::vector<double> out(N * C), mean(N), rstd(N), dx(N * C, 0), dg(C, 0), db(C, 0);
        auto f = [&] {
            layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data(), N, C);
            return dot(out, w);
        };
        f();
        layernorm_backward(dx.data(), dg.data(), db.data(), w.data(), x.data(), g.data(), mean.data(), rstd.data(), N, C);
        double e = std::max({fd_check(f, x, dx), fd_check(f, g, dg), fd_check(f, b, db)});
        CHECK(e < kTol);
        worst_all = std::max(worst_all, e);
        printf("  fd layernorm   max rel err %.2e\n", e);
    }
    {  // attention + softmax
        const int Tn = 4, C = 8, NH = 2;
        auto q = randn(Tn * C, rng), k = randn(Tn * C, rng), v = randn(Tn * C, rng), w = randn(Tn * C, rng);
        std::vector<double> out(Tn * C), P(NH * Tn * Tn), dq(Tn * C, 0), dk(Tn * C, 0), dv(Tn * C, 0);
        auto f = [&] {
            attention_forward(out.data(), P.data(), q.data(), k.data(), v.data(), Tn, C, NH);
            return dot(out, w);
        };
        f();
        attention_backward(dq.data(), dk.data(), dv.data(), w.data(), P.data(), q.data(), k.data(), v.data(), Tn, C, NH);
        double e = std::max({fd_check(f, q, dq), fd_check(f, k, dk), fd_check(f, v, dv)});
        CHECK(e < kTol);
        worst_all = std::max(worst_all, e);
        printf("  fd attention   max rel err %.2e\n", e);
    }
    {  // GELU, including the tails
        std::vector<double> x = {-4, -2.5, -1, -0.3, 0, 0.2, 0.9, 1.7, 3.5}, w = randn(9, rng), out(9), dx(9, 0);
        auto f = [&] { gelu_forward(out.data(), x.data(), x.size()); return dot(out, w); };
        f();
        gelu_backward(dx.data(), w.data(), x.data(), x.size());
        double e = fd_check(f, x, dx);
        CHECK(e < kTol);
        worst_all = std::max(worst_all, e);
        printf("  fd gelu        max rel err %.2e\n", e);
        // the forward itself: GELU(1) = Φ(1) = 0.8413447460685429 (standard normal CDF)
        double one = 1, g1;
        gelu_forward(&g1, &one, 1);
        CHECK(g1 == doctest::Approx(0.8413447460685429).epsilon(1e-15));
    }
    {  // residual
        auto a = randn(6, rng), b = randn(6, rng), w = randn(6, rng);
        std::vector<double> out(6), da(6, 0), db(6, 0);
        auto f = [&] { residual_forward(out.data(), a.data(), b.data(), 6); return dot(out, w); };
        f();
        residual_backward(da.data(), db.data(), w.data(), 6);
        double e = std::max(fd_check(f, a, da), fd_check(f, b, db));
        CHECK(e < kTol);
        worst_all = std::max(worst_all, e);
        printf("  fd residual    max rel err %.2e\n", e);
    }
    {  // L2 normalisation
        const int N = 2, C = 5;
        auto x = randn(N * C, rng), w = randn(N * C, rng);
        std::vector<double> out(N * C), norm(N), dx(N * C, 0);
        auto f = [&] { l2norm_forward(out.data(), norm.data(), x.data(), N, C); return dot(out, w); };
        f();
        l2norm_backward(dx.data(), w.data(), out.data(), norm.data(), N, C);
        double e = fd_check(f, x, dx);
        CHECK(e < kTol);
        worst_all = std::max(worst_all, e);
        printf("  fd l2norm      max rel err %.2e\n", e);
    }
    printf("fusion grad: single ops, worst max rel err %.2e\n", worst_all);
}

TEST_CASE("fusion grad: NCE and the 3-term loss match finite differences; clamp at s = 100") {
    std::mt19937_64 rng(11);
    const int N = 5, d = 4;
    auto A = randn(N * d, rng), Bm = randn(N * d, rng), V = randn(N * d, rng), Tt = randn(N * d, rng);
    normalize_rows(A, d);
    normalize_rows(Bm, d);
    normalize_rows(V, d);
    normalize_rows(Tt, d);
    {  // one NCE term, gradients w.r.t. A, B, s
        std::vector<double> s = {3.0}, dA(N * d, 0), dB(N * d, 0), ds(1, 0);
        auto f = [&] { return nce_loss<double>(A.data(), Bm.data(), N, d, s[0], nullptr, nullptr, nullptr); };
        nce_loss<double>(A.data(), Bm.data(), N, d, s[0], dA.data(), dB.data(), ds.data());
        double e = std::max({fd_check(f, A, dA), fd_check(f, Bm, dB), fd_check(f, s, ds)});
        CHECK(e < kTol);
        printf("  fd nce         max rel err %.2e\n", e);
        // closed form at s → identical rows: A = B = one-hot rows gives logits s·I, CE = log(1 + (N-1)e^{-s})
        std::vector<double> I(N * N, 0.0);
        for (int i = 0; i < N; i++) I[i * N + i] = 1;
        double l = nce_loss<double>(I.data(), I.data(), N, N, 2.0, nullptr, nullptr, nullptr);
        CHECK(l == doctest::Approx(std::log(1 + (N - 1) * std::exp(-2.0))).epsilon(1e-12));
    }
    for (double ls : {std::log(1 / 0.07), std::log(150.0)}) {  // unclamped, clamped
        std::vector<double> lsv = {ls}, dVb(N * d, 0), dTb(N * d, 0), dls(1, 0);
        auto f = [&] {
            return reco_loss<double>(A.data(), Bm.data(), V.data(), Tt.data(), N, d, lsv[0], nullptr, nullptr, nullptr);
        };
        reco_loss<double>(A.data(), Bm.data(), V.data(), Tt.data(), N, d, lsv[0], dVb.data(), dTb.data(), dls.data());
        double e = std::max({fd_check(f, A, dVb), fd_check(f, Bm, dTb), fd_check(f, lsv, dls)});
        CHECK(e < kTol);
        printf("  fd reco_loss   logit_scale %.3f: max rel err %.2e, dL/dlogit_scale %.3e\n", ls, e, dls[0]);
        if (ls > std::log(100.0)) CHECK(dls[0] == 0.0);
        else CHECK(std::fabs(dls[0]) > 1e-6);
    }
}

// ------------------------------------------------------------------------ whole module

TEST_CASE("fusion grad: module forward/backward (fast and reference) match finite differences, incl. inputs") {
    for (bool reference : {false, true}) {
        Problem p = make_problem(8, 2, 3, 3, 21);
        const int D = p.dims.d;
        std::mt19937_64 rng(5);
        auto w = randn((size_t)p.B * D, rng);  // L = Σ w·q̄
        std::vector<double> mod(p.params.begin(), p.params.begin() + p.dims.module_numel());
        FusionCache<double> c;
        FusionRefCache<double> rc;
        auto f = [&] {
            if (reference) {
                fusion_forward_ref(rc, p.dims, mod.data(), p.V.data(), p.nbr_txt_for_img.data(), p.B, p.k);
                return dot(rc.out, w);
            }
            fusion_forward(c, p.dims, mod.data(), p.V.data(), p.nbr_txt_for_img.data(), p.B, p.k);
            return dot(c.out, w);
        };
        f();
        std::vector<double> dmod(mod.size(), 0), dq(p.V.size(), 0), dnbr(p.nbr_txt_for_img.size(), 0);
        if (reference) fusion_backward_ref(rc, p.dims, mod.data(), dmod.data(), w.data(), dq.data(), dnbr.data());
        else fusion_backward(c, p.dims, mod.data(), dmod.data(), w.data(), dq.data(), dnbr.data());
        double e_params = fd_check(f, mod, dmod);  // every parameter entry
        double e_q = fd_check(f, p.V, dq), e_nbr = fd_check(f, p.nbr_txt_for_img, dnbr);
        CHECK(e_params < kTol);
        CHECK(e_q < kTol);
        CHECK(e_nbr < kTol);
        printf("  fd module %-9s all %zu params: max rel err %.2e; d/dq %.2e; d/dnbr %.2e\n",
               reference ? "reference" : "fast", mod.size(), e_params, e_q, e_nbr);
    }
}

TEST_CASE("fusion grad: the training loss w.r.t. every parameter tensor and logit_scale matches finite differences") {
    Problem p = make_problem(16, 4, 6, 3, 33);
    const auto table = fusion_param_table(p.dims);
    std::mt19937_64 rng(9);
    for (bool reference : {false, true}) {
        FusionLossWorkspace<double> ws;
        auto f = [&] {
            return fusion_loss<double>(p.dims, p.params.data(), nullptr, p.V.data(), p.T.data(),
                                       p.nbr_txt_for_img.data(), p.nbr_img_for_txt.data(), p.B, p.k, ws, reference);
        };
        std::vector<double> grads(p.params.size(), 0.0);
        fusion_loss<double>(p.dims, p.params.data(), grads.data(), p.V.data(), p.T.data(), p.nbr_txt_for_img.data(),
                            p.nbr_img_for_txt.data(), p.B, p.k, ws, reference);
        double worst = 0;
        std::string worst_name;
        for (const ParamEntry& e : table) {
            double err = fd_check(f, p.params, grads, sample(e, 6, rng));
            INFO(e.name);
            CHECK(err < kTol);
            if (err > worst) worst = err, worst_name = e.name;
        }
        const double g_ls = grads.back();
        CHECK(std::fabs(g_ls) > 1e-6);
        printf("  fd loss (%s path) over %zu tensors: max rel err %.2e (%s), dL/dlogit_scale %.4e\n",
               reference ? "reference" : "fast", table.size(), worst, worst_name.c_str(), g_ls);
    }
}

// ------------------------------------------------------------------------ fast path vs reference
TEST_CASE("fusion: fast query-row path equals the full-sequence reference (float, d=32, 4 heads, k=5, B=8)") {
    Problem pd = make_problem(32, 4, 8, 5, 77);
    auto tof = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    std::vector<float> params = tof(pd.params), V = tof(pd.V), T = tof(pd.T), nt = tof(pd.nbr_txt_for_img),
                       ni = tof(pd.nbr_img_for_txt);
    const FusionDims dims = pd.dims;
    // module outputs and input gradients
    FusionCache<float> c;
    FusionRefCache<float> rc;
    fusion_forward(c, dims, params.data(), V.data(), nt.data(), pd.B, pd.k);
    fusion_forward_ref(rc, dims, params.data(), V.data(), nt.data(), pd.B, pd.k);
    auto rel = [](const float* a, const float* b, size_t n) {  // max|a−b| / max|b|
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) num = std::max(num, (double)std::fabs(a[i] - b[i])), den = std::max(den, (double)std::fabs(b[i]));
        return den > 0 ? num / den : num;
    };
    const double e_out = rel(c.out.data(), rc.out.data(), c.out.size());
    CHECK(e_out < 1e-5);
    // whole-loss gradients, tensor by tensor
    FusionLossWorkspace<float> ws;
    std::vector<float> g_fast(params.size(), 0.f), g_ref(params.size(), 0.f);
    float l_fast = fusion_loss<float>(dims, params.data(), g_fast.data(), V.data(), T.data(), nt.data(), ni.data(), pd.B, pd.k, ws, false);
    float l_ref = fusion_loss<float>(dims, params.data(), g_ref.data(), V.data(), T.data(), nt.data(), ni.data(), pd.B, pd.k, ws, true);
    CHECK(std::fabs(l_fast - l_ref) <= 1e-5 * std::fabs(l_ref));
    double worst = 0;
    float gmax = 0;
    for (float g : g_ref) gmax = std::max(gmax, std::fabs(g));
    for (const ParamEntry& e : fusion_param_table(dims)) {
        double err;
        if (e.name.find("k_proj.bias") != std::string::npos) {
            // true gradient is exactly 0: fast path returns 0, the reference its rounding noise
            double noise = 0;
            for (size_t i = 0; i < e.numel; i++) noise = std::max(noise, (double)std::fabs(g_ref[e.offset + i] - g_fast[e.offset + i]));
            err = noise / gmax;
        } else {
            err = rel(g_fast.data() + e.offset, g_ref.data() + e.offset, e.numel);
        }
        INFO(e.name);
        CHECK(err < 1e-5);
        worst = std::max(worst, err);
    }
    printf("fusion fast vs reference (fp32): output rel diff %.2e, loss %.7f vs %.7f, worst gradient tensor rel diff %.2e\n",
           e_out, l_fast, l_ref, worst);
    // the same in double must agree to rounding
    FusionLossWorkspace<double> wsd;
    std::vector<double> gd_fast(pd.params.size(), 0), gd_ref(pd.params.size(), 0);
    double ld_fast = fusion_loss<double>(dims, pd.params.data(), gd_fast.data(), pd.V.data(), pd.T.data(),
                                         pd.nbr_txt_for_img.data(), pd.nbr_img_for_txt.data(), pd.B, pd.k, wsd, false);
    double ld_ref = fusion_loss<double>(dims, pd.params.data(), gd_ref.data(), pd.V.data(), pd.T.data(),
                                        pd.nbr_txt_for_img.data(), pd.nbr_img_for_txt.data(), pd.B, pd.k, wsd, true);
    CHECK(std::fabs(ld_fast - ld_ref) < 1e-12);
    double dmax = 0;
    for (size_t i = 0; i < gd_fast.size(); i++) dmax = std::max(dmax, std::fabs(gd_fast[i] - gd_ref[i]));
    CHECK(dmax < 1e-12);
}

TEST_CASE("fusion: parameter table, init statistics, and bad dimensions") {
    FusionDims dims;  // d = 512, 8 heads
    auto t = fusion_param_table(dims);
    CHECK(t.size() == 33);
    CHECK(dims.module_numel() == 3152384);  // ≈ 3.15M per module (SPEC §3; paper 3.16M)
    CHECK(t.back().name == "logit_scale");
    CHECK(t.back().offset == 2 * dims.module_numel());
    CHECK(t[2].name == "image_fusion.attn.q_proj.weight");
    CHECK(t[2].weight_decay);
    CHECK_FALSE(t[3].weight_decay);
    FusionModel m;
    m.init(FusionDims{64, 8}, 2.5f, 1);
    const ParamEntry& fc2 = m.entry("text_fusion.mlp.fc2.weight");
    double maxabs = 0, sumsq = 0;
    for (size_t i = 0; i < fc2.numel; i++) {
        double v = m.params[fc2.offset + i];
        maxabs = std::max(maxabs, std::fabs(v));
        sumsq += v * v;
    }
    // U(-1/√256, 1/√256): max → 1/16, variance = bound²/3
    CHECK(maxabs <= 1.0 / 16);
    CHECK(maxabs > 0.99 / 16);
    CHECK(sumsq / fc2.numel == doctest::Approx(1.0 / 256 / 3).epsilon(0.02));
    CHECK(m.params[m.entry("image_fusion.ln2.weight").offset] == 1.0f);
    CHECK(m.params[m.entry("image_fusion.ln2.bias").offset] == 0.0f);
    CHECK(m.logit_scale() == 2.5f);
    CHECK_THROWS_AS(fusion_param_table(FusionDims{30, 4}), reco::Error);
    CHECK_THROWS_AS(m.entry("image_fusion.nope"), reco::Error);
}

// ------------------------------------------------------------------------ PyTorch fixture
TEST_CASE("fusion: 10 AdamW steps reproduce the PyTorch fixture (losses, first gradients, final weights)") {
    const TorchReplay r = replay_torch_fixture("tests/fixtures/fusion/", LossKind::nce);
    printf("fusion vs PyTorch: %d steps, max loss rel err %.2e, step-0 gradient max err %.2e, "
           "final weights max |diff| %.2e (max diff/update %.2e)\n",
           r.steps, r.worst_loss, r.worst_grad, r.worst_w, r.worst_rel_update);
}

// ------------------------------------------------------------------------ the GEMM under all of it
TEST_CASE("fusion gemm: every transposition, odd shapes, strides, beta, batches equal a double triple loop") {
    std::mt19937_64 rng(3);
    std::normal_distribution<float> nd(0, 1);
    const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {9, 33, 17}, {70, 45, 300}, {130, 1100, 40}, {64, 520, 257}};
    double worst = 0;
    bool padding_untouched = true;
    for (auto& s : shapes)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (float beta : {0.0f, 1.0f}) {
                    const int M = s[0], N = s[1], K = s[2], count = 3;
                    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;  // padded rows
                    const size_t sA = (size_t)(ta ? K : M) * lda, sB = (size_t)(tb ? N : K) * ldb, sC = (size_t)M * ldc;
                    std::vector<float> A(sA * count), B(sB * count), C(sC * count), C0;
                    for (auto& v : A) v = nd(rng);
                    for (auto& v : B) v = nd(rng);
                    for (auto& v : C) v = nd(rng);
                    C0 = C;
                    gemm_batched<float>(count, ta, tb, M, N, K, 0.5f, A.data(), lda, sA, B.data(), ldb, sB, beta,
                                        C.data(), ldc, sC);
                    for (int b = 0; b < count; b++)
                        for (int i = 0; i < M; i++)
                            for (int j = 0; j < N; j++) {
                                double acc = 0;
                                for (int p = 0; p < K; p++) {
                                    double a = ta ? A[b * sA + (size_t)p * lda + i] : A[b * sA + (size_t)i * lda + p];
                                    double bb = tb ? B[b * sB + (size_t)j * ldb + p] : B[b * sB + (size_t)p * ldb + j];
                                    acc += a * bb;
                                }
                                const double want = beta * C0[b * sC + (size_t)i * ldc + j] + 0.5 * acc;
                                worst = std::max(worst, std::fabs(C[b * sC + (size_t)i * ldc + j] - want) / std::sqrt((double)K));
                            }
                    // the padding between rows of C is untouched
                    for (int b = 0; b < count; b++)
                        for (int i = 0; i < M; i++)
                            padding_untouched &= C[b * sC + (size_t)i * ldc + N] == C0[b * sC + (size_t)i * ldc + N];
                }
    CHECK(padding_untouched);
    CHECK(worst < 1e-5);
    printf("fusion gemm vs triple loop: max |err|/sqrt(K) %.2e\n", worst);
}

TEST_CASE("fusion: save/load by SPEC names round-trips; a wrong shape or missing tensor names file and tensor") {
    FusionModel m;
    m.init(FusionDims{16, 4}, 2.0f, 5);
    const std::string path = "/tmp/reco_test_fusion_" + std::to_string(getpid()) + ".safetensors";
    SafeTensorsWriter w;
    m.save(w, "pre.");
    w.write(path);
    FusionModel back;
    back.load(SafeTensors(path), 4, "pre.");
    CHECK(back.dims.d == 16);
    CHECK(back.params == m.params);
    // logit_scale is a 0-d tensor, as torch writes it
    CHECK(SafeTensors(path).info("pre.logit_scale").shape.empty());
    // a wrong shape: the error names the file and the tensor
    SafeTensorsWriter bad;
    for (const ParamEntry& e : m.table) {
        std::vector<int64_t> shape = e.shape;
        if (e.name == "text_fusion.mlp.fc1.weight") shape = {16, 64};  // transposed
        bad.add_f32(e.name, shape, m.params.data() + e.offset);
    }
    bad.write(path);
    try {
        back.load(SafeTensors(path), 4);
        FAIL("no error");
    } catch (const reco::Error& e) {
        const std::string msg = e.what();
        CHECK(msg.find(path) != std::string::npos);
        CHECK(msg.find("text_fusion.mlp.fc1.weight") != std::string::npos);
    }
    // heads that do not divide d
    SafeTensorsWriter ok;
    m.save(ok);
    ok.write(path);
    CHECK_THROWS_AS(back.load(SafeTensors(path), 5), reco::Error);
    // a missing tensor
    SafeTensorsWriter missing;
    for (const ParamEntry& e : m.table)
        if (e.name != "image_fusion.attn.v_proj.bias") missing.add_f32(e.name, e.shape, m.params.data() + e.offset);
    missing.write(path);
    try {
        back.load(SafeTensors(path), 4);
        FAIL("no error");
    } catch (const reco::Error& e) {
        CHECK(std::string(e.what()).find("image_fusion.attn.v_proj.bias") != std::string::npos);
    }
    std::remove(path.c_str());
}

TEST_CASE("fusion: fast path equals the reference at the edges (k = 0, one head, one item)") {
    const int cases[][4] = {{8, 2, 3, 0}, {8, 1, 2, 4}, {12, 3, 1, 2}};  // d, heads, B, k
    for (auto& cs : cases) {
        Problem p = make_problem(cs[0], cs[1], cs[2], cs[3], 99);
        FusionLossWorkspace<double> ws;
        std::vector<double> g1(p.params.size(), 0), g2(p.params.size(), 0);
        if (p.B < 2) {  // the loss needs a batch; check the module alone
            FusionCache<double> c;
            FusionRefCache<double> rc;
            fusion_forward(c, p.dims, p.params.data(), p.V.data(), p.nbr_txt_for_img.data(), p.B, p.k);
            fusion_forward_ref(rc, p.dims, p.params.data(), p.V.data(), p.nbr_txt_for_img.data(), p.B, p.k);
            std::vector<double> w(c.out.size(), 1.0);
            fusion_backward(c, p.dims, p.params.data(), g1.data(), w.data(), (double*)nullptr, (double*)nullptr);
            fusion_backward_ref(rc, p.dims, p.params.data(), g2.data(), w.data(), (double*)nullptr, (double*)nullptr);
            for (size_t i = 0; i < c.out.size(); i++) CHECK(c.out[i] == doctest::Approx(rc.out[i]).epsilon(1e-12));
        } else {
            double l1 = fusion_loss<double>(p.dims, p.params.data(), g1.data(), p.V.data(), p.T.data(),
                                            p.nbr_txt_for_img.data(), p.nbr_img_for_txt.data(), p.B, p.k, ws, false);
            double l2 = fusion_loss<double>(p.dims, p.params.data(), g2.data(), p.V.data(), p.T.data(),
                                            p.nbr_txt_for_img.data(), p.nbr_img_for_txt.data(), p.B, p.k, ws, true);
            CHECK(l1 == doctest::Approx(l2).epsilon(1e-12));
        }
        double dmax = 0;
        for (size_t i = 0; i < g1.size(); i++) dmax = std::max(dmax, std::fabs(g1[i] - g2[i]));
        INFO("d=" << cs[0] << " heads=" << cs[1] << " B=" << cs[2] << " k=" << cs[3]);
        CHECK(dmax < 1e-12);
    }
}
