// test_sigmoid_loss.cpp — SigLIP's sigmoid loss as the RECO training loss (`reco train --loss
// sigmoid`, sigmoid_loss.h): its hand-written backward against finite differences (double, fd_util.h)
// for one term, the three-term loss and the whole training loss w.r.t. every parameter tensor
// including logit_scale and logit_bias; and 10 AdamW steps against a PyTorch autograd +
// torch.optim.AdamW fixture (tools/make_sigmoid_fixture.py → tests/fixtures/fusion_sigmoid/).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "adamw.h"
#include "common.h"
#include "fd_util.h"
#include "fusion.h"
#include "fusion_train.h"
#include "safetensors.h"
#include "sigmoid_loss.h"
#include "test_util.h"
#include "torch_fixture_replay.h"

using namespace reco;
using namespace fdutil;

namespace {
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }
}  // namespace

TEST_CASE("sigmoid loss: one term matches finite differences in A, B, t, b; closed form; symmetric; stable") {
    std::mt19937_64 rng(12);
    const int N = 5, d = 4;
    auto A = randn(N * d, rng), Bm = randn(N * d, rng);
    normalize_rows(A, d);
    normalize_rows(Bm, d);
    double worst = 0;
    // the SigLIP initialisation, a moderate point where positives and negatives both matter, and a
    // point where the positive logits are large
    for (auto tb : {std::vector<double>{10.0, -10.0}, {3.0, -1.0}, {20.0, 2.0}}) {
        std::vector<double> t = {tb[0]}, b = {tb[1]}, dA(N * d, 0), dB(N * d, 0), dt(1, 0), db(1, 0);
        auto f = [&] {
            return sigmoid_loss<double>(A.data(), Bm.data(), N, d, t[0], b[0], nullptr, nullptr, nullptr, nullptr);
        };
        sigmoid_loss<double>(A.data(), Bm.data(), N, d, t[0], b[0], dA.data(), dB.data(), dt.data(), db.data());
        const double e = std::max({fd_check(f, A, dA), fd_check(f, Bm, dB), fd_check(f, t, dt), fd_check(f, b, db)});
        INFO("t " << tb[0] << " b " << tb[1]);
        CHECK(e < kTol);
        CHECK(std::fabs(db[0]) > 1e-3);
        worst = std::max(worst, e);
        // SIG(A, B) = SIG(B, A): the labels are symmetric
        CHECK(sigmoid_loss<double>(Bm.data(), A.data(), N, d, t[0], b[0], nullptr, nullptr, nullptr, nullptr) ==
              doctest::Approx(f()).epsilon(1e-13));
    }
    printf("  fd sigmoid     max rel err %.2e\n", worst);
    // closed form: A = B = one-hot rows, so S = I: z_ii = t + b, z_ij = b
    //   SIG = (1/N)[N·softplus(−(t+b)) + N(N−1)·softplus(b)]
    std::vector<double> I(N * N, 0.0);
    for (int i = 0; i < N; i++) I[i * N + i] = 1;
    for (auto tb : {std::vector<double>{10.0, -10.0}, {2.0, -0.5}}) {
        const double want = softplus(-(tb[0] + tb[1])) + (N - 1) * softplus(tb[1]);
        CHECK(sigmoid_loss<double>(I.data(), I.data(), N, N, tb[0], tb[1], nullptr, nullptr, nullptr, nullptr) ==
              doctest::Approx(want).epsilon(1e-13));
    }
    // no overflow at extreme logits (|z| ~ 1e3) in float: the loss is finite and the gradient too
    std::vector<float> If(I.begin(), I.end()), dAf(N * N, 0.f);
    float dtf = 0, dbf = 0;
    const float big = sigmoid_loss<float>(If.data(), If.data(), N, N, 100.f, -900.f, dAf.data(), nullptr, &dtf, &dbf);
    CHECK(std::isfinite(big));
    CHECK(big == doctest::Approx(800.0).epsilon(1e-6));  // softplus(800) + 4·softplus(−900) = 800
    CHECK(std::isfinite(dtf));
    CHECK(dbf == doctest::Approx(-1.0).epsilon(1e-6));  // −σ(800)·N/N from the positives
}

TEST_CASE("sigmoid loss: the three-term loss w.r.t. V̄, T̄, logit_scale, logit_bias matches finite differences; clamp at 100") {
    std::mt19937_64 rng(13);
    const int N = 6, d = 5;
    auto A = randn(N * d, rng), Bm = randn(N * d, rng), V = randn(N * d, rng), Tt = randn(N * d, rng);
    for (auto* v : {&A, &Bm, &V, &Tt}) normalize_rows(*v, d);
    for (double ls : {std::log(10.0), std::log(150.0)}) {  // the SigLIP init (unclamped), clamped
        for (double bias : {-10.0, -1.5}) {
            std::vector<double> lsv = {ls}, bv = {bias}, dVb(N * d, 0), dTb(N * d, 0), dls(1, 0), db(1, 0);
            auto f = [&] {
                return reco_sigmoid_loss<double>(A.data(), Bm.data(), V.data(), Tt.data(), N, d, lsv[0], bv[0],
                                                 nullptr, nullptr, nullptr, nullptr);
            };
            const double L = reco_sigmoid_loss<double>(A.data(), Bm.data(), V.data(), Tt.data(), N, d, lsv[0], bv[0],
                                                       dVb.data(), dTb.data(), dls.data(), db.data());
            // the three terms, each from the one-term function
            const double t = std::min(std::exp(ls), 100.0);
            const double sum = sigmoid_loss<double>(A.data(), Bm.data(), N, d, t, bias, nullptr, nullptr, nullptr, nullptr) +
                               sigmoid_loss<double>(A.data(), Tt.data(), N, d, t, bias, nullptr, nullptr, nullptr, nullptr) +
                               sigmoid_loss<double>(V.data(), Bm.data(), N, d, t, bias, nullptr, nullptr, nullptr, nullptr);
            CHECK(L == doctest::Approx(sum).epsilon(1e-14));
            const double e = std::max({fd_check(f, A, dVb), fd_check(f, Bm, dTb), fd_check(f, lsv, dls),
                                       fd_check(f, bv, db)});
            INFO("logit_scale " << ls << " logit_bias " << bias);
            CHECK(e < kTol);
            printf("  fd reco_sigmoid_loss logit_scale %.3f logit_bias %.1f: max rel err %.2e, dL/dlogit_scale %.3e, "
                   "dL/dlogit_bias %.3e\n",
                   ls, bias, e, dls[0], db[0]);
            if (ls > std::log(100.0)) CHECK(dls[0] == 0.0);
            else CHECK(std::fabs(dls[0]) > 1e-6);
            CHECK(std::fabs(db[0]) > 1e-3);
        }
    }
}

TEST_CASE("sigmoid loss: the training loss w.r.t. every parameter tensor, logit_scale and logit_bias matches finite differences") {
    std::mt19937_64 rng(10);
    for (double bias : {-10.0, -2.0}) {
        Problem p = make_problem(16, 4, 6, 3, 34, /*logit_bias=*/true, bias);
        p.params[2 * p.dims.module_numel()] = std::log(10.0);
        const auto table = fusion_param_table(p.dims);
        REQUIRE(table.back().name == "logit_bias");
        REQUIRE(p.params.size() == p.dims.total_numel());
        for (bool reference : {false, true}) {
            FusionLossWorkspace<double> ws;
            auto f = [&] {
                return fusion_loss<double>(p.dims, p.params.data(), nullptr, p.V.data(), p.T.data(),
                                           p.nbr_txt_for_img.data(), p.nbr_img_for_txt.data(), p.B, p.k, ws, reference,
                                           LossKind::sigmoid);
            };
            std::vector<double> grads(p.params.size(), 0.0);
            fusion_loss<double>(p.dims, p.params.data(), grads.data(), p.V.data(), p.T.data(), p.nbr_txt_for_img.data(),
                                p.nbr_img_for_txt.data(), p.B, p.k, ws, reference, LossKind::sigmoid);
            double worst = 0;
            std::string worst_name;
            for (const ParamEntry& e : table) {
                double err = fd_check(f, p.params, grads, sample(e, 6, rng));
                INFO(e.name << " (logit_bias " << bias << ", " << (reference ? "reference" : "fast") << ")");
                CHECK(err < kTol);
                if (err > worst) worst = err, worst_name = e.name;
            }
            const double g_ls = grads[table[table.size() - 2].offset], g_b = grads.back();
            CHECK(std::fabs(g_ls) > 1e-6);
            CHECK(std::fabs(g_b) > 1e-3);
            printf("  fd sigmoid loss (%s path, logit_bias %.0f) over %zu tensors: max rel err %.2e (%s), "
                   "dL/dlogit_scale %.4e, dL/dlogit_bias %.4e\n",
                   reference ? "reference" : "fast", bias, table.size(), worst, worst_name.c_str(), g_ls, g_b);
        }
    }
}

TEST_CASE("sigmoid loss: the loss names parse; a model without logit_bias refuses it and vice versa") {
    CHECK(parse_loss("nce") == LossKind::nce);
    CHECK(parse_loss("sigmoid") == LossKind::sigmoid);
    CHECK(std::string(loss_name(LossKind::sigmoid)) == "sigmoid");
    const std::string msg = testutil::error_of([] { parse_loss("siglip"); });
    CHECK(testutil::contains(msg, "unknown loss 'siglip'"));
    CHECK(testutil::contains(msg, "nce"));
    CHECK(testutil::contains(msg, "sigmoid"));
    Problem nce = make_problem(8, 2, 3, 2, 1), sig = make_problem(8, 2, 3, 2, 1, true);
    CHECK(sig.params.size() == nce.params.size() + 1);
    FusionLossWorkspace<double> ws;
    CHECK_THROWS_AS(
        fusion_loss<double>(nce.dims, nce.params.data(), nullptr, nce.V.data(), nce.T.data(),
                            nce.nbr_txt_for_img.data(), nce.nbr_img_for_txt.data(), 3, 2, ws, false, LossKind::sigmoid),
        reco::Error);
    CHECK_THROWS_AS(
        fusion_loss<double>(sig.dims, sig.params.data(), nullptr, sig.V.data(), sig.T.data(),
                            sig.nbr_txt_for_img.data(), sig.nbr_img_for_txt.data(), 3, 2, ws, false, LossKind::nce),
        reco::Error);
    // the init values land where the table says
    FusionModel m;
    FusionDims dims{16, 4};
    dims.logit_bias = true;
    m.init(dims, kSigmoidInitLogitScale, 3, kSigmoidInitLogitBias);
    CHECK(m.logit_scale() == doctest::Approx(std::log(10.0)).epsilon(1e-7));
    CHECK(m.logit_bias() == -10.0f);
    CHECK(m.entry("logit_bias").offset == m.logit_bias_offset());
    CHECK_FALSE(m.entry("logit_bias").weight_decay);
}

// ------------------------------------------------------------------------ PyTorch fixture
TEST_CASE("sigmoid loss: 10 AdamW steps reproduce the PyTorch fixture (losses, first gradients, final weights)") {
    const TorchReplay r = replay_torch_fixture("tests/fixtures/fusion_sigmoid/", LossKind::sigmoid);
    REQUIRE(r.start.dims.logit_bias);  // detected from the file's logit_bias tensor
    CHECK(r.start.logit_bias() == -10.0f);
    // the scalars moved (10 steps of ≈ lr each) and agree
    CHECK(std::fabs(r.want.logit_bias() - r.start.logit_bias()) > 5e-3);
    CHECK(r.model.logit_bias() == doctest::Approx(r.want.logit_bias()).epsilon(1e-6));
    CHECK(r.model.logit_scale() == doctest::Approx(r.want.logit_scale()).epsilon(1e-6));
    printf("sigmoid loss vs PyTorch: %d steps, max loss rel err %.2e, step-0 gradient max err %.2e, "
           "final weights max |diff| %.2e (max diff/update %.2e), logit_bias %.7f vs %.7f\n",
           r.steps, r.worst_loss, r.worst_grad, r.worst_w, r.worst_rel_update, r.model.logit_bias(),
           r.want.logit_bias());
}
