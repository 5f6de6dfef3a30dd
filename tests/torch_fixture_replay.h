// torch_fixture_replay.h — replays a PyTorch training fixture (tools/make_fusion_fixture.py for the NCE
// loss, tools/make_sigmoid_fixture.py for the sigmoid loss) with reco's fusion_train_step and checks it
// step by step: every step's loss (≤ 1e-4 relative), the step-0 gradient of every tensor against autograd
// (max|Δ| / max|g| < 1e-4; the key bias absolute, its true gradient is 0) and the final weights (< 2e-6).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "adamw.h"
#include "fusion.h"
#include "fusion_train.h"
#include "safetensors.h"
#include "test_util.h"

struct TorchReplay {
    reco::FusionModel model;  // reco's weights after the fixture's steps
    reco::FusionModel want;   // PyTorch's ("final." tensors)
    reco::FusionModel start;  // the fixture's initial weights
    int steps = 0;
    double worst_loss = 0, worst_grad = 0, worst_w = 0, worst_rel_update = 0;
};

inline TorchReplay replay_torch_fixture(const std::string& dir, reco::LossKind loss) {
    using namespace reco;
    TorchReplay r;
    REQUIRE(testutil::exists(dir + "data.safetensors"));
    SafeTensors data(dir + "data.safetensors"), init(dir + "init.safetensors"), expect(dir + "expected.safetensors");
    REQUIRE(data.meta("loss", "nce") == loss_name(loss));
    const int heads = std::stoi(data.meta("heads")), k = std::stoi(data.meta("k")), B = std::stoi(data.meta("batch"));
    const int steps = r.steps = std::stoi(data.meta("steps"));
    const double lr = std::stod(data.meta("lr")), wd = std::stod(data.meta("weight_decay"));
    FusionModel& model = r.model;
    model.load(init, heads);
    const int d = model.dims.d;
    const auto V = data.to_f32("V"), T = data.to_f32("T");
    const auto nbr_txt_for_img = data.to_f32("nbr_txt_for_img"), nbr_img_for_txt = data.to_f32("nbr_img_for_txt");
    const int N = (int)(V.size() / d);
    REQUIRE(N % B == 0);
    const auto losses = expect.to_f32("losses", {steps});
    AdamWConfig cfg;
    cfg.weight_decay = wd;
    AdamW opt(model.table, model.params.size(), cfg);
    FusionTrainWorkspace ws;
    for (int s = 0; s < steps; s++) {
        const int b0 = (s * B) % N;  // file order, no shuffle
        const float got = fusion_train_step(model, opt, ws, V.data() + (size_t)b0 * d, T.data() + (size_t)b0 * d,
                                            nbr_txt_for_img.data() + (size_t)b0 * k * d,
                                            nbr_img_for_txt.data() + (size_t)b0 * k * d, B, k, lr, loss);
        const double e = std::fabs(got - losses[s]) / std::fabs(losses[s]);
        r.worst_loss = std::max(r.worst_loss, e);
        INFO("step " << s << ": ours " << got << " torch " << losses[s]);
        CHECK(e <= 1e-4);
        if (s == 0) {  // autograd's gradient at the init weights, tensor by tensor (max|Δ| / max|g|)
            for (const ParamEntry& en : model.table) {
                const auto g = expect.to_f32("grad0." + en.name);
                double num = 0, den = 0;
                for (size_t i = 0; i < en.numel; i++) {
                    num = std::max(num, (double)std::fabs(ws.grads[en.offset + i] - g[i]));
                    den = std::max(den, (double)std::fabs(g[i]));
                }
                const double err = en.name.find("k_proj.bias") != std::string::npos ? num : num / den;
                INFO(en.name);
                CHECK(err < 1e-4);
                r.worst_grad = std::max(r.worst_grad, err);
            }
        }
    }
    // final weights: |ours − torch| per element
    r.want.load(expect, heads, "final.");
    r.start.load(init, heads);
    REQUIRE(r.want.params.size() == model.params.size());
    for (size_t i = 0; i < model.params.size(); i++) {
        const double diff = std::fabs(model.params[i] - r.want.params[i]);
        r.worst_w = std::max(r.worst_w, diff);
        const double moved = std::fabs(r.want.params[i] - r.start.params[i]);
        if (moved > 1e-4) r.worst_rel_update = std::max(r.worst_rel_update, diff / moved);
    }
    CHECK(r.worst_w < 2e-6);
    return r;
}
