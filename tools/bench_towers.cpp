// bench_towers.cpp — images/s and texts/s of reco's CPU towers on a ViT-B/32-shaped CLIP with
// random weights (shapes of openai/clip-vit-base-patch32; no checkpoint needed).
// Printed as "reco images/s X", "reco_bf16 images/s" (--precision bf16, where the CPU has avx512_bf16)
// and "reco texts/s Y" for tools/bench.sh to put beside PyTorch / ONNX Runtime; then a profile of one
// ViT-B/32 layer at the image batch ("layer fp32 non-gemm P%"): where the layer's time goes.
//   build/bench_towers [image_batch=16] [text_batch=64] [seconds=5]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench_common.h"

#include "clip_block.h"
#include "clip_model.h"
#include "cpu_features.h"

using namespace reco;
using benchcommon::fill;
using benchcommon::random_layer;
using benchcommon::rate;

static ClipModel random_b32() {
    ClipModel m;
    ClipConfig& c = m.cfg;
    c.vision = {768, 12, 12, 3072, 1e-5f, Activation::quick_gelu};
    c.text = {512, 12, 8, 2048, 1e-5f, Activation::quick_gelu};
    c.patch = 32; c.image_size = 224; c.projection_dim = 512;
    std::mt19937 rng(0);
    int Cv = 768, Ct = 512, T = c.vision_tokens();
    fill(m.vision.patch_w, (size_t)Cv * 3 * 32 * 32, rng, 0.02f);
    fill(m.vision.class_emb, Cv, rng, 0.02f);
    fill(m.vision.pos_emb, (size_t)T * Cv, rng, 0.02f);
    fill(m.vision.pre_ln_w, Cv, rng, 0.02f, 1); fill(m.vision.pre_ln_b, Cv, rng, 0.02f);
    m.vision.layers.resize(12);
    for (auto& L : m.vision.layers) random_layer(L, Cv, 3072, rng);
    fill(m.vision.post_ln_w, Cv, rng, 0.02f, 1); fill(m.vision.post_ln_b, Cv, rng, 0.02f);
    fill(m.vision.proj, (size_t)512 * Cv, rng, 0.02f);
    fill(m.text.tok_emb, (size_t)49408 * Ct, rng, 0.02f);
    fill(m.text.pos_emb, (size_t)77 * Ct, rng, 0.02f);
    m.text.layers.resize(12);
    for (auto& L : m.text.layers) random_layer(L, Ct, 2048, rng);
    fill(m.text.final_ln_w, Ct, rng, 0.02f, 1); fill(m.text.final_ln_b, Ct, rng, 0.02f);
    fill(m.text.proj, (size_t)512 * Ct, rng, 0.02f);
    return m;
}

#include <xmmintrin.h>
int main(int argc, char** argv) {
    if (getenv("FTZ")) _mm_setcsr(_mm_getcsr() | 0x8040);
    int ib = argc > 1 ? atoi(argv[1]) : 16, tb = argc > 2 ? atoi(argv[2]) : 64;
    double secs = argc > 3 ? atof(argv[3]) : 5;
    ClipModel m = random_b32();
    ClipModel h = m;  // the same weights, packed for --precision bf16 on first use (fp32 where no avx512_bf16)
    h.precision = Precision::bf16;
    std::mt19937 rng(1);
    std::vector<float> pix;
    fill(pix, (size_t)ib * 3 * 224 * 224, rng, 1.0f);
    // prompts like "a photo of a {label}." are ~8–12 tokens: ids 49406, 8 random tokens, 269 ("."), 49407
    std::vector<int> ids((size_t)tb * 77, 0);
    for (int b = 0; b < tb; b++) {
        int* r = &ids[(size_t)b * 77];
        r[0] = 49406;
        int n = 6 + b % 5;
        for (int t = 1; t <= n; t++) r[t] = 320 + (int)(rng() % 40000);
        r[n + 1] = 269;
        r[n + 2] = 49407;
    }
    std::vector<float> out((size_t)std::max(ib, tb) * 512);
    double ir = rate([&] { clip_encode_images(m, pix.data(), ib, out.data()); }, ib, secs);
    printf("reco images/s %.2f\n", ir);
    if (isa_active() >= Isa::avx512_bf16) {
        double hr = rate([&] { clip_encode_images(h, pix.data(), ib, out.data()); }, ib, secs);
        printf("reco_bf16 images/s %.2f\n", hr);
    }
    double tr = rate([&] { clip_encode_texts(m, ids.data(), tb, out.data()); }, tb, secs);
    printf("reco texts/s %.2f\n", tr);

    // One vision layer (packed by the runs above) on the image batch's tokens, 20 times per precision.
    const int T = m.cfg.vision_tokens(), C = m.cfg.vision.hidden;
    std::vector<float> x0;
    fill(x0, (size_t)ib * T * C, rng, 1.0f);
    for (const ClipModel* mm : {&m, &h}) {
        if (mm == &h && isa_active() < Isa::avx512_bf16) continue;
        LayerProfile prof;
        BlockWorkspace ws;
        std::vector<float> x = x0;
        clip_block_forward(mm->vision.layers[0], mm->cfg.vision, x.data(), ib, T, false, ws);  // warm-up
        ws.profile = &prof;
        for (int r = 0; r < 20; r++) {
            x = x0;
            clip_block_forward(mm->vision.layers[0], mm->cfg.vision, x.data(), ib, T, false, ws);
        }
        const double t = prof.total(), ms = 1e3 / 20;
        printf("layer %s (ViT-B/32, %d tokens): %.2f ms = gemm %.2f, attention %.2f, layernorm %.2f, activation %.2f, "
               "residual %.2f ms; non-gemm %.1f%%\n",
               mm == &h ? "bf16" : "fp32", ib * T, t * ms, prof.gemm * ms, prof.attention * ms, prof.layernorm * ms,
               prof.activation * ms, prof.residual * ms, 100 * (t - prof.gemm) / t);
    }
    return 0;
}
