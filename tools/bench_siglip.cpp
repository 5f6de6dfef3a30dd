// bench_siglip.cpp — images/s and texts/s of reco's CPU SigLIP towers on a SigLIP-base-shaped model
// with random weights (shapes of google/siglip-base-patch16-224; no checkpoint needed): vision 768 wide,
// 12 layers, 12 heads, mlp 3072, 224 px, patch 16 (196 tokens, no class token) + MAP head; text 768 wide,
// 12 layers, 12 heads, mlp 3072, vocab 32000, 64 positions (every text is run over all 64: SigLIP's
// contract); gelu_pytorch_tanh, eps 1e-6.
// Printed as "reco images/s X" and "reco texts/s Y" for tools/bench.sh to put beside PyTorch
// (tools/bench_siglip_torch.py).
//   build/bench_siglip [image_batch=16] [text_batch=64] [seconds=5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench_common.h"

#include "siglip/siglip_model.h"

using namespace reco;
using benchcommon::fill;
using benchcommon::random_layer;
using benchcommon::rate;

static SiglipModel random_siglip_base() {
    SiglipModel m;
    SiglipConfig& c = m.cfg;
    c.vision = {768, 12, 12, 3072, 1e-6f, Activation::gelu_tanh};
    c.text = {768, 12, 12, 3072, 1e-6f, Activation::gelu_tanh};
    c.image_size = 224; c.patch = 16; c.vocab_size = 32000; c.max_positions = 64; c.embed_dim = 768;
    std::mt19937 rng(0);
    const int C = 768, M = 3072, T = c.vision_tokens(), P = c.patch;
    SiglipVision& v = m.vision;
    fill(v.patch_w, (size_t)C * 3 * P * P, rng, 0.02f); fill(v.patch_b, C, rng, 0.02f);
    fill(v.pos_emb, (size_t)T * C, rng, 0.02f);
    v.layers.resize(c.vision.layers);
    for (auto& L : v.layers) random_layer(L, C, M, rng);
    fill(v.post_ln_w, C, rng, 0.02f, 1); fill(v.post_ln_b, C, rng, 0.02f);
    fill(v.probe, C, rng, 0.02f);
    fill(v.in_proj_w, (size_t)3 * C * C, rng, 0.02f); fill(v.in_proj_b, 3 * C, rng, 0.02f);
    fill(v.attn_out_w, (size_t)C * C, rng, 0.02f); fill(v.attn_out_b, C, rng, 0.02f);
    fill(v.head_ln_w, C, rng, 0.02f, 1); fill(v.head_ln_b, C, rng, 0.02f);
    fill(v.fc1_w, (size_t)M * C, rng, 0.02f); fill(v.fc1_b, M, rng, 0.02f);
    fill(v.fc2_w, (size_t)C * M, rng, 0.02f); fill(v.fc2_b, C, rng, 0.02f);
    SiglipText& t = m.text;
    fill(t.tok_emb, (size_t)c.vocab_size * C, rng, 0.02f);
    fill(t.pos_emb, (size_t)c.max_positions * C, rng, 0.02f);
    t.layers.resize(c.text.layers);
    for (auto& L : t.layers) random_layer(L, C, M, rng);
    fill(t.final_ln_w, C, rng, 0.02f, 1); fill(t.final_ln_b, C, rng, 0.02f);
    fill(t.head_w, (size_t)c.embed_dim * C, rng, 0.02f); fill(t.head_b, c.embed_dim, rng, 0.02f);
    return m;
}

int main(int argc, char** argv) {
    int ib = argc > 1 ? atoi(argv[1]) : 16, tb = argc > 2 ? atoi(argv[2]) : 64;
    double secs = argc > 3 ? atof(argv[3]) : 5;
    SiglipModel m = random_siglip_base();
    printf("reco SigLIP-base model: %zu parameters\n", m.parameter_count());  // = the torch side's count
    std::mt19937 rng(1);
    std::vector<float> pix;
    fill(pix, (size_t)ib * 3 * 224 * 224, rng, 1.0f);
    // ~10-token prompts + "</s>" (id 1), padded with id 1 to 64 as google/siglip-* tokenizers do; the
    // padding is computed like any other token, so the ids do not change the cost
    const int T = m.cfg.max_positions;
    std::vector<int> ids((size_t)tb * T, 1);
    for (int b = 0; b < tb; b++) {
        int n = 6 + b % 5;
        for (int t = 0; t < n; t++) ids[(size_t)b * T + t] = 3 + (int)(rng() % 31990);
    }
    std::vector<float> out((size_t)std::max(ib, tb) * m.cfg.embed_dim);
    double ir = rate([&] { siglip_encode_images(m, pix.data(), ib, out.data()); }, ib, secs);
    printf("reco images/s %.2f\n", ir);
    double tr = rate([&] { siglip_encode_texts(m, ids.data(), tb, out.data()); }, tb, secs);
    printf("reco texts/s %.2f\n", tr);
    return 0;
}
