// test_cuda_fusion.cpp — the fusion training kernels (kernels/fusion_kernels.cuh, fusion_gpu.h) against
// the CPU references: fusion_ops.h (LayerNorm, GELU, L2 norm), the query-row attention of
// fusion_fast.cpp (re-stated here in double), nce_loss.h, adamw.h; then the whole loss + gradient
// against fusion_loss, and 10 AdamW steps against the CPU and the PyTorch fixture
// (tests/fixtures/fusion): losses within 1e-5 relative (issue 4 asked for 1e-3), final weights within 2e-6.
// Skips visibly without a CUDA device or in a CUDA=0 build.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "adamw.h"
#include "device.h"
#include "fusion.h"
#include "fusion_ops.h"
#include "fusion_train.h"
#include "nce_loss.h"
#include "safetensors.h"
#include "test_util.h"
#if RECO_CUDA
#include "fusion_gpu.h"
#endif

using namespace reco;
// Tolerances: about 10× what tools/cuda_emu reaches (the kernels' own reduction order is the hardware's; the
// emulated cuBLAS accumulates in double, real cuBLAS in fp32 — the room is for that), e.g. LayerNorm backward
// 2.1e-7 → 2e-6, attention backward 2.2e-7 → 2e-6, NCE gradients 6.5e-7 → 5e-6, every parameter gradient
// 1.4e-6 → 1e-5, refine 4.0e-7 → 4e-6.

#if RECO_CUDA
namespace {

std::vector<float> randn(size_t n, unsigned seed, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}
std::vector<float> unit_rows(int n, int d, unsigned seed) {
    auto v = randn((size_t)n * d, seed);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)v[(size_t)i * d + j] * v[(size_t)i * d + j];
        for (int j = 0; j < d; j++) v[(size_t)i * d + j] = (float)(v[(size_t)i * d + j] / std::sqrt(s));
    }
    return v;
}
// max |a-b| / (atol + rtol·max|b|): one scale per tensor (gradients vary in size across entries)
double rel_err(const float* a, const float* b, size_t n, double atol = 1e-12) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!std::isfinite(a[i])) return INFINITY;
        num = std::max(num, (double)std::fabs(a[i] - b[i]));
        den = std::max(den, (double)std::fabs(b[i]));
    }
    return num / (den + atol);
}
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    return rel_err(a.data(), b.data(), a.size());
}

}  // namespace
#endif

TEST_CASE("cuda fusion ops: LayerNorm, exact GELU, L2 norm forward and backward against fusion_ops") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    const int N = 70, C = 512;
    auto x = randn((size_t)N * C, 1, 2.0f), w = randn(C, 2), b = randn(C, 3), g = randn((size_t)N * C, 4);
    for (auto& v : x) v += 3.0f;
    {
        std::vector<float> o((size_t)N * C), mu(N), rs(N), ow(o.size()), muw(N), rsw(N);
        gpu_fusion_ops::layernorm_forward(o.data(), mu.data(), rs.data(), x.data(), w.data(), b.data(), N, C);
        fusion_ops::layernorm_forward(ow.data(), muw.data(), rsw.data(), x.data(), w.data(), b.data(), N, C);
        CHECK(rel_err(o, ow) < 1e-6);
        CHECK(rel_err(mu, muw) < 1e-6);
        CHECK(rel_err(rs, rsw) < 1e-6);
        // backward accumulates: start both from the same non-zero gradients
        auto dx = randn((size_t)N * C, 5), dw = randn(C, 6), db = randn(C, 7);
        auto dxw = dx, dww = dw, dbw = db;
        gpu_fusion_ops::layernorm_backward(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), muw.data(),
                                           rsw.data(), N, C);
        fusion_ops::layernorm_backward(dxw.data(), dww.data(), dbw.data(), g.data(), x.data(), w.data(), muw.data(),
                                       rsw.data(), N, C);
        CHECK(rel_err(dx, dxw) < 2e-6);
        CHECK(rel_err(dw, dww) < 2e-6);
        CHECK(rel_err(db, dbw) < 2e-6);
    }
    {
        const size_t n = (size_t)N * C;
        auto h = randn(n, 8, 3.0f);
        std::vector<float> o(n), ow(n);
        gpu_fusion_ops::gelu_forward(o.data(), h.data(), n);
        fusion_ops::gelu_forward(ow.data(), h.data(), n);
        CHECK(rel_err(o, ow) < 1e-6);
        auto dx = randn(n, 9), dxw = dx;
        gpu_fusion_ops::gelu_backward(dx.data(), g.data(), h.data(), n);
        fusion_ops::gelu_backward(dxw.data(), g.data(), h.data(), n);
        CHECK(rel_err(dx, dxw) < 1e-6);
    }
    {
        std::vector<float> o((size_t)N * C), nr(N), ow(o.size()), nrw(N);
        gpu_fusion_ops::l2norm_forward(o.data(), nr.data(), x.data(), N, C);
        fusion_ops::l2norm_forward(ow.data(), nrw.data(), x.data(), N, C);
        CHECK(rel_err(o, ow) < 1e-6);
        CHECK(rel_err(nr, nrw) < 1e-6);
        auto dx = randn((size_t)N * C, 10), dxw = dx;
        gpu_fusion_ops::l2norm_backward(dx.data(), g.data(), ow.data(), nrw.data(), N, C);
        fusion_ops::l2norm_backward(dxw.data(), g.data(), ow.data(), nrw.data(), N, C);
        CHECK(rel_err(dx, dxw) < 1e-6);
    }
#endif
}

TEST_CASE("cuda fusion ops: the query row's attention forward and backward (fusion_fast.cpp) in double") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    const int B = 6, NH = 8, Tn = 11, D = 512;
    auto U = randn((size_t)B * NH * D, 20, 0.05f), c = randn((size_t)B * NH, 21), xn = randn((size_t)B * Tn * D, 22),
         dZ = randn((size_t)B * NH * D, 23);
    std::vector<float> A((size_t)B * NH * Tn), Z((size_t)B * NH * D), dU(Z.size()), dxn(xn.size());
    gpu_fusion_ops::attention_row_forward(A.data(), Z.data(), U.data(), c.data(), xn.data(), B, NH, Tn, D);
    gpu_fusion_ops::attention_row_backward(dU.data(), dxn.data(), dZ.data(), A.data(), U.data(), xn.data(), B, NH, Tn,
                                           D);
    // the reference, in double, from the formulas of fusion_fast.cpp:
    //   A = softmax_i(U_h·xn_i + c_h), Z_h = Σ_i A_i xn_i;
    //   dA_i = dZ_h·xn_i, dS_i = A_i(dA_i − Σ_j A_j dA_j), dU_h = Σ_i dS_i xn_i, dxn_i = Σ_h A_i dZ_h + dS_i U_h
    std::vector<float> Aw(A.size()), Zw(Z.size()), dUw(dU.size()), dxnw(dxn.size(), 0.0f);
    for (int b = 0; b < B; b++) {
        std::vector<double> dxb((size_t)Tn * D, 0.0);
        for (int h = 0; h < NH; h++) {
            const size_t bh = (size_t)b * NH + h;
            std::vector<double> s(Tn), a(Tn), da(Tn);
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < Tn; i++) {
                s[i] = c[bh];
                for (int j = 0; j < D; j++) s[i] += (double)U[bh * D + j] * xn[((size_t)b * Tn + i) * D + j];
                mx = std::max(mx, s[i]);
            }
            for (int i = 0; i < Tn; i++) sum += (a[i] = std::exp(s[i] - mx));
            double dot = 0;
            for (int i = 0; i < Tn; i++) {
                a[i] /= sum;
                Aw[bh * Tn + i] = (float)a[i];
                da[i] = 0;
                for (int j = 0; j < D; j++) da[i] += (double)dZ[bh * D + j] * xn[((size_t)b * Tn + i) * D + j];
                dot += a[i] * da[i];
            }
            for (int j = 0; j < D; j++) {
                double z = 0, du = 0;
                for (int i = 0; i < Tn; i++) {
                    const double x = xn[((size_t)b * Tn + i) * D + j], ds = a[i] * (da[i] - dot);
                    z += a[i] * x;
                    du += ds * x;
                    dxb[(size_t)i * D + j] += a[i] * dZ[bh * D + j] + ds * U[bh * D + j];
                }
                Zw[bh * D + j] = (float)z;
                dUw[bh * D + j] = (float)du;
            }
        }
        for (size_t e = 0; e < dxb.size(); e++) dxnw[(size_t)b * Tn * D + e] = (float)dxb[e];
    }
    CHECK(rel_err(A, Aw) < 1e-6);
    CHECK(rel_err(Z, Zw) < 1e-6);
    CHECK(rel_err(dU, dUw) < 2e-6);
    CHECK(rel_err(dxn, dxnw) < 2e-6);
#endif
}

TEST_CASE("cuda fusion ops: NCE loss and gradients, AdamW update against nce_loss / AdamW::step") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    for (int N : {1, 7, 256}) {
        const int d = 512;
        auto A = unit_rows(N, d, 30 + N), Bm = unit_rows(N, d, 31 + N);
        for (float s : {14.3f, 100.0f}) {
            auto dA = randn((size_t)N * d, 32), dB = randn((size_t)N * d, 33), dAw = dA, dBw = dB;
            float ds = 0.5f, dsw = 0.5f;
            const float loss = gpu_fusion_ops::nce_loss(A.data(), Bm.data(), N, d, s, dA.data(), dB.data(), &ds);
            const float lossw = nce_loss<float>(A.data(), Bm.data(), N, d, s, dAw.data(), dBw.data(), &dsw);
            INFO("N=" << N << " s=" << s << " loss gpu " << loss << " cpu " << lossw);
            CHECK(std::fabs(loss - lossw) <= 1e-5 * std::max(1.0f, std::fabs(lossw)));
            CHECK(rel_err(dA, dAw) < 5e-6);
            CHECK(rel_err(dB, dBw) < 5e-6);
            CHECK(std::fabs(ds - dsw) <= 2e-5 * std::max(1.0f, std::fabs(dsw)));
        }
    }
    // AdamW: a table with decayed and undecayed ranges, 5 steps, against the CPU optimiser
    FusionDims dims;
    dims.d = 32, dims.heads = 4;
    FusionModel model;
    model.init(dims, 2.6592f, 5);
    AdamWConfig cfg;
    cfg.weight_decay = 0.1;
    AdamW opt(model.table, model.params.size(), cfg);
    std::vector<float> p = model.params, m(p.size(), 0.0f), v(p.size(), 0.0f);
    std::vector<uint8_t> decay(p.size(), 0);
    for (const ParamEntry& e : model.table)
        if (e.weight_decay) std::fill(decay.begin() + e.offset, decay.begin() + e.offset + e.numel, 1);
    for (int t = 1; t <= 5; t++) {
        auto g = randn(p.size(), 40 + t, 1e-2f);
        const double lr = 1e-3 * t;
        opt.step(model.params.data(), g.data(), lr);
        gpu_fusion_ops::adamw_step(p.data(), m.data(), v.data(), g.data(), decay.data(), p.size(), cfg, t, lr);
    }
    // the GPU rounds every operation as written; the CPU compiler may fuse a multiply-add: ≤ a few ulps
    double worst = 0;
    for (size_t i = 0; i < p.size(); i++)
        worst =
            std::max(worst, std::fabs((double)p[i] - model.params[i]) / (1e-6 + std::fabs((double)model.params[i])));
    CHECK(worst < 1e-5);
    CHECK(rel_err(m, opt.m) < 1e-5);
    CHECK(rel_err(v, opt.v) < 1e-5);
#endif
}

TEST_CASE("cuda fusion: loss and every parameter gradient equal fusion_loss (d=64, 8 heads, k=5, B=24)") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    FusionDims dims;
    dims.d = 64, dims.heads = 8;
    FusionModel model;
    model.init(dims, 2.6592f, 9);
    const int B = 24, k = 5, d = dims.d;
    auto V = unit_rows(B, d, 50), T = unit_rows(B, d, 51), nbr_txt_for_img = unit_rows(B * k, d, 52),
         nbr_img_for_txt = unit_rows(B * k, d, 53);
    FusionLossWorkspace<float> ws;
    std::vector<float> gc(model.params.size(), 0.0f);
    const float lc = fusion_loss<float>(dims, model.params.data(), gc.data(), V.data(), T.data(),
                                        nbr_txt_for_img.data(), nbr_img_for_txt.data(), B, k, ws);
    FusionGpu g(model);
    std::vector<float> gg;
    const float lg = g.loss_and_grads(V.data(), T.data(), nbr_txt_for_img.data(), nbr_img_for_txt.data(), B, k, &gg);
    INFO("loss gpu " << lg << " cpu " << lc);
    CHECK(std::fabs(lg - lc) <= 1e-5 * std::fabs(lc));
    for (const ParamEntry& e : model.table) {
        const double err = rel_err(gg.data() + e.offset, gc.data() + e.offset, e.numel, 1e-9);
        INFO(e.name << " rel err " << err);
        // k_proj.bias: exactly 0 on both sides (softmax shift invariance, see fusion_fast.cpp)
        if (e.name.find("k_proj.bias") != std::string::npos) {
            for (size_t i = 0; i < e.numel; i++) CHECK(gg[e.offset + i] == 0.0f);
        } else {
            CHECK(err < 1e-5);
        }
    }
    // refine = the module's forward: against fusion_refine
    std::vector<float> rg((size_t)B * d), rc((size_t)B * d);
    g.refine(Modality::text, T.data(), nbr_img_for_txt.data(), B, k, rg.data());
    fusion_refine(model, Modality::text, T.data(), nbr_img_for_txt.data(), B, k, rc.data());
    CHECK(rel_err(rg, rc) < 4e-6);
#endif
}

TEST_CASE("cuda fusion: 10 training steps follow the CPU and the PyTorch fixture (losses within 1e-5)") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    const std::string dir = "tests/fixtures/fusion/";
    SafeTensors data(dir + "data.safetensors"), init(dir + "init.safetensors"), expect(dir + "expected.safetensors");
    const int heads = std::stoi(data.meta("heads")), k = std::stoi(data.meta("k")), B = std::stoi(data.meta("batch"));
    const int steps = std::stoi(data.meta("steps"));
    const double lr = std::stod(data.meta("lr")), wd = std::stod(data.meta("weight_decay"));
    FusionModel cpu_model, gpu_start;
    cpu_model.load(init, heads);
    gpu_start.load(init, heads);
    const int d = cpu_model.dims.d;
    const auto V = data.to_f32("V"), T = data.to_f32("T");
    const auto nbr_txt_for_img = data.to_f32("nbr_txt_for_img"), nbr_img_for_txt = data.to_f32("nbr_img_for_txt");
    const int N = (int)(V.size() / d);
    const auto torch_losses = expect.to_f32("losses", {steps});
    AdamWConfig cfg;
    cfg.weight_decay = wd;
    AdamW cpu_opt(cpu_model.table, cpu_model.params.size(), cfg);
    AdamW gpu_opt(gpu_start.table, gpu_start.params.size(), cfg);
    FusionGpu g(gpu_start, &gpu_opt);
    FusionTrainWorkspace ws;
    double worst_cpu = 0, worst_torch = 0;
    for (int s = 0; s < steps; s++) {
        const int b0 = (s * B) % N;
        const size_t o = (size_t)b0 * d, ok = (size_t)b0 * k * d;
        const float lc = fusion_train_step(cpu_model, cpu_opt, ws, V.data() + o, T.data() + o,
                                           nbr_txt_for_img.data() + ok, nbr_img_for_txt.data() + ok, B, k, lr);
        const float lg = g.train_step(V.data() + o, T.data() + o, nbr_txt_for_img.data() + ok,
                                      nbr_img_for_txt.data() + ok, B, k, lr);
        const double ec = std::fabs(lg - lc) / std::fabs(lc),
                     et = std::fabs(lg - torch_losses[s]) / std::fabs(torch_losses[s]);
        INFO("step " << s << ": gpu " << lg << " cpu " << lc << " torch " << torch_losses[s]);
        CHECK(ec <= 1e-5);
        CHECK(et <= 1e-5);
        worst_cpu = std::max(worst_cpu, ec), worst_torch = std::max(worst_torch, et);
    }
    CHECK(g.step_count() == steps);
    FusionModel after = gpu_start;
    AdamW after_opt = gpu_opt;
    g.download(after, &after_opt);
    CHECK(after_opt.t == steps);
    // final weights: against the CPU trainer and against PyTorch's (expected.safetensors "final.*").
    // Under tools/cuda_emu: losses within 1.6e-7 (CPU) / 2.3e-7 (PyTorch) relative, weights within 6e-8 (CPU) /
    // 4.8e-7 (PyTorch; the CPU trainer is as far from PyTorch: that is what another fp32 summation order gives),
    // drift 0.000. A GPU AdamW that skips the weight decay: losses 1.9e-4, weights 9.3e-5, drift 1.00.
    // Tolerances: 1e-5 (losses), 2e-6 (weights, ~4× the CPU-PyTorch distance, room for cuBLAS's fp32 order).
    double worst_w = 0, worst_wt = 0, bias_sum = 0, mag_sum = 0;
    size_t n_decay = 0;
    for (const ParamEntry& e : after.table) {
        const auto tw = expect.to_f32("final." + e.name);
        REQUIRE(tw.size() == e.numel);
        for (size_t i = 0; i < e.numel; i++) {
            const size_t j = e.offset + i;
            worst_w = std::max(worst_w, (double)std::fabs(after.params[j] - cpu_model.params[j]));
            worst_wt = std::max(worst_wt, (double)std::fabs(after.params[j] - tw[i]));
            if (e.weight_decay) {
                // decoupled weight decay shrinks |p| by lr·wd·|p| a step; rounding noise has no sign
                const double ref = cpu_model.params[j];
                bias_sum += (after.params[j] - ref) * (ref > 0 ? 1 : -1);
                mag_sum += std::fabs(ref);
                n_decay++;
            }
        }
    }
    REQUIRE(n_decay > 0);
    // the mean drift of |p| on the decayed weights, in units of the decay over the run (lr·wd·steps·mean|p|):
    // ~0 when the GPU decays like the CPU, ~+1 when it skips the decay
    const double drift = bias_sum / (lr * wd * steps * mag_sum);
    INFO("final weights max |diff| gpu-cpu " << worst_w << ", gpu-torch " << worst_wt << ", decay drift " << drift);
    CHECK(worst_w < 2e-6);
    CHECK(worst_wt < 2e-6);
    CHECK(std::fabs(drift) < 0.1);
    printf("fusion GPU vs CPU: %d steps, max loss rel err %.2e (vs PyTorch %.2e), final weights max |diff| %.2e "
           "(vs PyTorch %.2e), decay drift %.3f\n",
           steps, worst_cpu, worst_torch, worst_w, worst_wt, drift);
#endif
}
