// test_cuda_siglip.cpp — the SigLIP towers on the GPU (kernels/siglip_gpu.h) against the CPU towers
// (siglip_encode_images / siglip_encode_texts, themselves held to transformers in test_siglip_towers.cpp)
// and against the HF features stored in the fixtures:
//   * the two tiny HF fixtures (tests/fixtures/tiny_siglip_{f32,f16}: widths 32, 2–3 layers, head sizes 16
//     and 8, 16 and 49 patch tokens, eps 1e-6 / 1e-5), on HF's pixel_values and input_ids plus random
//     images, fp16 and bf16 device weights, one run split into passes of 2;
//   * a random SigLIP with head size 32, so that the tensor-core attention kernel runs bidirectionally
//     over the 64 text positions and the 16 patch tokens; and one whose MLPs make erf GELU visible
//     through 16-bit noise (on ordinary weights the two GELUs differ by less than fp16 rounding);
//   * the two kernels SigLIP adds, on their own: bias + gelu_pytorch_tanh, and the MAP head's one-query
//     attention at T = 16, 196, 729 (hd 8–72) against a double-precision reference;
//   * the CPU's message for an id outside the vocabulary.
// Criteria per output (images, texts), fp16 / bf16: cosine(GPU, CPU) ≥ 0.99999 / 0.9995 per embedding,
// max |GPU − CPU| ≤ 3e-3 / 3e-2 of max |CPU feature|, normalised GPU embeddings within 1.5e-3 / 1.5e-2
// of HF's. Measured under tools/cuda_emu (the MESSAGE lines): fp16 cosine ≥ 0.999999, max abs ≤ 1.2e-3,
// vs HF ≤ 4.6e-4; bf16 ≥ 0.9999, ≤ 1.15e-2, ≤ 5.7e-3 — the limits leave 2.5–10×. Real tensor cores and
// cuBLAS add in another order than the emulator (double accumulation), far below one 16-bit rounding,
// so the margin covers them. Deliberate bugs this test fails on (docs/cuda.md): causal text mask, erf
// GELU (towers, MAP head, or inside the kernel), first-token pooling, no MAP residual, no patch bias,
// MAP scores without hd^-½.
// Skips visibly without a CUDA device or in a CUDA=0 build.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "device.h"
#include "ops.h"
#include "safetensors.h"
#include "siglip/siglip_model.h"
#include "test_util.h"
#if RECO_CUDA
#include "gpu_ops.h"
#include "siglip_gpu.h"
#endif

using namespace reco;

#if RECO_CUDA
namespace {

struct Agreement {
    double cosine = 1.0;  // smallest per-row cosine
    double rel_abs = 0;   // max |a − b| / max |b|
};

Agreement agreement(const std::vector<float>& gpu, const std::vector<float>& cpu, int n, int E) {
    Agreement a;
    double mx = 0, d = 0;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < E; j++) {
            const double x = gpu[(size_t)i * E + j], y = cpu[(size_t)i * E + j];
            ab += x * y, aa += x * x, bb += y * y;
            mx = std::max(mx, std::fabs(y));
            d = std::max(d, std::isfinite(x) ? std::fabs(x - y) : INFINITY);
        }
        a.cosine = std::min(a.cosine, ab / std::sqrt(aa * bb));
    }
    a.rel_abs = d / mx;
    return a;
}

double max_abs_normalised(std::vector<float> a, const std::vector<float>& ref, int n, int E) {
    l2_normalize_rows(a.data(), n, E);
    double d = 0;
    for (size_t i = 0; i < a.size(); i++) d = std::max(d, (double)std::fabs(a[i] - ref[i]));
    return d;
}

struct Limits {
    double cosine, rel_abs, hf;
};
const Limits kF16{0.99999, 3e-3, 1.5e-3}, kBF16{0.9995, 3e-2, 1.5e-2};

std::vector<int> ref_ids(const SafeTensors& ref, int* B) {
    const TensorInfo& ti = ref.info("input_ids");
    *B = (int)ti.shape[0];
    std::vector<int> ids((size_t)*B * ti.shape[1]);
    const int64_t* p = (const int64_t*)ref.raw("input_ids");
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)p[i];
    return ids;
}

// GPU vs CPU on both towers, fp16 and bf16 (or only fp16 when both is false).
// hf_img / hf_txt (optional): HF's normalised embeddings of the first rows.
void compare_towers(const SiglipModel& m, const std::vector<float>& pix, int n_img, const std::vector<int>& ids,
                    int n_txt, const std::string& what, const std::vector<float>* hf_img = nullptr,
                    const std::vector<float>* hf_txt = nullptr, int max_batch = 0, bool both = true) {
    const int E = m.cfg.embed_dim;
    std::vector<float> ci((size_t)n_img * E), ct((size_t)n_txt * E);
    siglip_encode_images(m, pix.data(), n_img, ci.data());
    siglip_encode_texts(m, ids.data(), n_txt, ct.data());
    for (bool bf16 : {false, true}) {
        if (bf16 && !both) continue;
        SiglipGpu g(m, bf16, max_batch);
        std::vector<float> gi((size_t)n_img * E), gt((size_t)n_txt * E);
        g.encode_images(pix.data(), n_img, gi.data());
        g.encode_texts(ids.data(), n_txt, gt.data());
        const Agreement ai = agreement(gi, ci, n_img, E), at = agreement(gt, ct, n_txt, E);
        const Limits& lim = bf16 ? kBF16 : kF16;
        double hi = 0, ht = 0;
        if (hf_img) {
            const int n = (int)(hf_img->size() / E);
            hi = max_abs_normalised(std::vector<float>(gi.begin(), gi.begin() + (size_t)n * E), *hf_img, n, E);
        }
        if (hf_txt) {
            const int n = (int)(hf_txt->size() / E);
            ht = max_abs_normalised(std::vector<float>(gt.begin(), gt.begin() + (size_t)n * E), *hf_txt, n, E);
        }
        MESSAGE(what << (bf16 ? " bf16" : " fp16") << ": images min cosine " << ai.cosine << ", max abs "
                     << ai.rel_abs << " of max|feature|; texts " << at.cosine << ", " << at.rel_abs
                     << (hf_img ? "; vs HF embeds: images " + std::to_string(hi) + ", texts " + std::to_string(ht)
                                : std::string())
                     << " (weights " << g.weight_bytes() << " bytes)");
        CHECK(ai.cosine >= lim.cosine);
        CHECK(at.cosine >= lim.cosine);
        CHECK(ai.rel_abs <= lim.rel_abs);
        CHECK(at.rel_abs <= lim.rel_abs);
        CHECK(hi <= lim.hf);
        CHECK(ht <= lim.hf);
    }
}

}  // namespace
#endif

TEST_CASE("cuda siglip: tiny HF fixtures, GPU features match the CPU and HF") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    for (const char* dir : {"tests/fixtures/tiny_siglip_f32", "tests/fixtures/tiny_siglip_f16"}) {
        SiglipModel m = SiglipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int S = m.cfg.image_size, E = m.cfg.embed_dim;
        std::vector<float> pix = ref.to_f32("pixel_values");
        const int n_hf = (int)(pix.size() / ((size_t)3 * S * S));
        std::mt19937 rng(5);
        std::normal_distribution<float> nd(0, 1);
        for (int i = 0; i < 2 * 3 * S * S; i++) pix.push_back(nd(rng));  // two random images
        int n_txt;
        std::vector<int> ids = ref_ids(ref, &n_txt);
        REQUIRE(n_txt * 64 == (int)ids.size());
        const std::vector<float> hf_img = ref.to_f32("image_embeds", {n_hf, E});
        const std::vector<float> hf_txt = ref.to_f32("text_embeds", {n_txt, E});
        compare_towers(m, pix, n_hf + 2, ids, n_txt, dir, &hf_img, &hf_txt);
        if (std::string(dir).find("f32") != std::string::npos)
            compare_towers(m, pix, n_hf + 2, ids, n_txt, std::string(dir) + ", passes of 2", &hf_img, &hf_txt,
                           /*max_batch=*/2, /*both=*/false);

        // an id outside the vocabulary: the CPU's message, before anything runs
        ids[3] = m.cfg.vocab_size;
        SiglipGpu g(m);
        std::vector<float> out((size_t)n_txt * E);
        const std::string err = testutil::error_of([&] { g.encode_texts(ids.data(), n_txt, out.data()); });
        CHECK(testutil::contains(err, "token id " + std::to_string(m.cfg.vocab_size) +
                                          " at position 3 is outside the vocabulary"));
    }
#endif
}

#if RECO_CUDA
namespace {

// A random SigLIP: widths 64, head size 32 (the tensor-core attention runs, bidirectionally, over the
// 16 patch tokens and the 64 text positions), 2 layers per tower (with one text layer a causal mask
// would not change the last row, the pooled one). gelu_sensitive: every MLP (the blocks' and the MAP
// head's) is built where erf GELU and gelu_pytorch_tanh differ most and add up coherently: fc1 puts
// every pre-activation near −3 (where the two differ by 4e-4, 100× the fp16 noise of the output), and
// fc2 is rank one (w[c][m] = s_c·0.3), so the difference reaches every channel as 0.3·M·4e-4 ≈ 0.01.
SiglipModel random_siglip(unsigned seed, bool gelu_sensitive) {
    SiglipModel m;
    SiglipConfig& c = m.cfg;
    c.image_size = 48, c.patch = 12, c.vocab_size = 300, c.max_positions = 64, c.embed_dim = 64;
    c.vision = ClipTowerConfig{64, 2, 2, 96, 1e-6f, Activation::gelu_tanh};
    c.text = ClipTowerConfig{64, 2, 2, 96, 1e-6f, Activation::gelu_tanh};
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    auto rnd = [&](size_t n, float sd, float mean = 0.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = mean + sd * nd(rng);
        return v;
    };
    const int C = 64, P = c.patch, M = 96;
    auto mlp = [&](std::vector<float>& fc1_w, std::vector<float>& fc1_b, std::vector<float>& fc2_w,
                   std::vector<float>& fc2_b) {
        if (gelu_sensitive) {
            fc1_w = rnd((size_t)M * C, 0.003f), fc1_b = rnd(M, 0.05f, -3.0f), fc2_w.resize((size_t)C * M);
            for (int ch = 0; ch < C; ch++)
                for (int j = 0; j < M; j++) fc2_w[(size_t)ch * M + j] = ch % 3 == 0 ? -0.3f : 0.3f;
        } else {
            fc1_w = rnd((size_t)M * C, 0.1f), fc1_b = rnd(M, 0.1f), fc2_w = rnd((size_t)C * M, 0.1f);
        }
        fc2_b = rnd(C, 0.1f);
    };
    auto layers = [&](const ClipTowerConfig& t) {
        std::vector<ClipLayer> L(t.layers);
        for (ClipLayer& l : L) {
            l.ln1_w = rnd(C, 0.1f, 1.0f), l.ln1_b = rnd(C, 0.1f), l.ln2_w = rnd(C, 0.1f, 1.0f), l.ln2_b = rnd(C, 0.1f);
            l.qkv_w = rnd(3 * C * C, 0.15f), l.qkv_b = rnd(3 * C, 0.1f), l.out_w = rnd(C * C, 0.1f);
            l.out_b = rnd(C, 0.1f);
            mlp(l.fc1_w, l.fc1_b, l.fc2_w, l.fc2_b);
        }
        return L;
    };
    SiglipVision& v = m.vision;
    v.patch_w = rnd((size_t)C * 3 * P * P, 0.03f), v.patch_b = rnd(C, 0.3f);
    v.pos_emb = rnd((size_t)c.vision_tokens() * C, 0.1f);
    v.layers = layers(c.vision);
    v.post_ln_w = rnd(C, 0.1f, 1.0f), v.post_ln_b = rnd(C, 0.1f);
    v.probe = rnd(C, 1.0f);
    v.in_proj_w = rnd((size_t)3 * C * C, 0.15f), v.in_proj_b = rnd(3 * C, 0.1f);
    v.attn_out_w = rnd((size_t)C * C, 0.1f), v.attn_out_b = rnd(C, 0.1f);
    v.head_ln_w = rnd(C, 0.1f, 1.0f), v.head_ln_b = rnd(C, 0.1f);
    mlp(v.fc1_w, v.fc1_b, v.fc2_w, v.fc2_b);
    SiglipText& t = m.text;
    t.tok_emb = rnd((size_t)c.vocab_size * C, 0.5f), t.pos_emb = rnd((size_t)64 * C, 0.1f);
    t.layers = layers(c.text);
    t.final_ln_w = rnd(C, 0.1f, 1.0f), t.final_ln_b = rnd(C, 0.1f);
    t.head_w = rnd((size_t)C * C, 0.1f), t.head_b = rnd(C, 0.3f);
    return m;
}

void compare_random(const SiglipModel& m, unsigned seed, const std::string& what) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    const int n_img = 3, n_txt = 3, S = m.cfg.image_size;
    std::vector<float> pix((size_t)n_img * 3 * S * S);
    for (auto& x : pix) x = nd(rng);
    std::vector<int> ids((size_t)n_txt * 64, 1);  // pad = eos = 1, as SigLIP's tokenizer pads
    std::uniform_int_distribution<int> tok(2, m.cfg.vocab_size - 1);
    for (int b = 0; b < n_txt; b++)
        for (int i = 0; i < (b == 0 ? 64 : 5 + 9 * b); i++) ids[(size_t)b * 64 + i] = tok(rng);
    compare_towers(m, pix, n_img, ids, n_txt, what);
}

}  // namespace
#endif

TEST_CASE("cuda siglip: a random SigLIP with head size 32 (tensor-core attention, bidirectional)") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    compare_random(random_siglip(17, false), 18, "random, head size 32");
#endif
}

TEST_CASE("cuda siglip: the towers and the MAP head use gelu_pytorch_tanh (MLPs where erf GELU differs)") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    compare_random(random_siglip(29, true), 30, "random, GELU-sensitive MLPs");
#endif
}

TEST_CASE("cuda siglip: bias + gelu_pytorch_tanh and the MAP head's attention kernel") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    using gpu_ops::Act;
    std::mt19937 rng(23);
    std::normal_distribution<float> nd(0, 1);
    auto rnd = [&](size_t n, float sd) {
        std::vector<float> v(n);
        for (auto& x : v) x = sd * nd(rng);
        return v;
    };
    for (Act act : {Act::F16, Act::BF16}) {
        const double ulp = act == Act::F16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
        const char* name = act == Act::F16 ? "fp16" : "bf16";
        // bias + gelu_pytorch_tanh against gelu_tanh_inplace (input and output rounded to act)
        const int N = 7, Mh = 300;
        std::vector<float> h = rnd((size_t)N * Mh, 2.5f), bias = rnd(Mh, 1.0f);
        gpu_ops::round_to_act(h.data(), h.size(), act);
        std::vector<float> g = h, want = h;
        gpu_ops::bias_act(g.data(), bias.data(), N, Mh, Activation::gelu_tanh, act);
        for (size_t i = 0; i < want.size(); i++) want[i] += bias[i % Mh];
        gelu_tanh_inplace(want.data(), want.size());
        double w = 0;
        for (size_t i = 0; i < g.size(); i++)
            w = std::max(w, std::fabs((double)g[i] - want[i]) / (1e-6 + ulp * std::fabs((double)want[i])));
        INFO(name << " gelu_tanh worst " << w);
        CHECK(w <= 1.0);

        // one query over T tokens per head, against double (kv rounded to act first, as uploaded)
        struct Shape {
            int B, T, C, NH;
        };
        for (Shape s : {Shape{3, 16, 32, 4}, Shape{2, 196, 128, 2}, Shape{1, 729, 144, 2}}) {
            const int hd = s.C / s.NH;
            std::vector<float> q = rnd(s.C, 1.0f), kv = rnd((size_t)s.B * s.T * 2 * s.C, 1.0f),
                               kvb = rnd(2 * s.C, 0.3f), out((size_t)s.B * s.C);
            gpu_ops::round_to_act(kv.data(), kv.size(), act);
            gpu_ops::map_attention(out.data(), q.data(), kv.data(), kvb.data(), s.B, s.T, s.C, s.NH, act);
            double worst = 0;
            for (int b = 0; b < s.B; b++)
                for (int hh = 0; hh < s.NH; hh++) {
                    std::vector<double> sc(s.T);
                    double mx = -INFINITY, sum = 0;
                    for (int t = 0; t < s.T; t++) {
                        const float* k = &kv[((size_t)b * s.T + t) * 2 * s.C + hh * hd];
                        double d = 0;
                        for (int i = 0; i < hd; i++) d += (double)q[hh * hd + i] * ((double)k[i] + kvb[hh * hd + i]);
                        sc[t] = d / std::sqrt((double)hd);
                        mx = std::max(mx, sc[t]);
                    }
                    for (int t = 0; t < s.T; t++) sum += (sc[t] = std::exp(sc[t] - mx));
                    for (int i = 0; i < hd; i++) {
                        double o = 0;
                        for (int t = 0; t < s.T; t++)
                            o += sc[t] / sum *
                                 ((double)kv[((size_t)b * s.T + t) * 2 * s.C + s.C + hh * hd + i] + kvb[s.C + hh * hd + i]);
                        const double got = out[(size_t)b * s.C + hh * hd + i];
                        worst = std::max(worst, std::fabs(got - o) / (1e-4 + ulp * std::fabs(o)));
                    }
                }
            INFO(name << " MAP attention B=" << s.B << " T=" << s.T << " hd=" << hd << " worst " << worst);
            CHECK(worst <= 1.0);
        }
    }
#endif
}
