// test_siglip_towers.cpp — the CPU SigLIP towers against Hugging Face transformers 4.49 on the two tiny
// random SiglipModels of tests/fixtures/tiny_siglip_{f32,f16} (tools/make_siglip_fixtures.py): every hidden
// state, the post-LN / final-LN states, the pooled output and the features from HF's own input_ids and
// pixel_values, plus the preprocessing against HF's pixel_values and the scores against logits_per_image.
// Tolerances sit just above what is reached (measured ≤ 2.3e-7 on the normalised embeddings, ≤ 7e-7
// relative on hidden states; see the MESSAGE lines): 2e-6 / 5e-6 catch erf-GELU for tanh-GELU (7e-5–1.4e-4).
#include <cmath>
#include <string>
#include <vector>

#include "common.h"
#include "image.h"
#include "json.h"
#include "model_config.h"
#include "ops.h"
#include "safetensors.h"
#include "siglip/siglip_embed.h"
#include "siglip/siglip_model.h"
#include "test_util.h"

using namespace reco;

static const char* kSiglips[] = {"tests/fixtures/tiny_siglip_f32", "tests/fixtures/tiny_siglip_f16"};

static double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, (double)std::fabs(a[i] - b[i]));
    return m;
}
static double max_abs(const std::vector<float>& a) {
    double m = 0;
    for (float v : a) m = std::max(m, (double)std::fabs(v));
    return m;
}

static std::vector<int> ref_ids(const SafeTensors& ref, int* B) {
    const TensorInfo& ti = ref.info("input_ids");
    REQUIRE(ti.dtype == DType::I64);
    REQUIRE(ti.shape.size() == 2);
    REQUIRE(ti.shape[1] == 64);
    *B = (int)ti.shape[0];
    std::vector<int> ids((size_t)*B * 64);
    const int64_t* p = (const int64_t*)ref.raw("input_ids");
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)p[i];
    return ids;
}

TEST_CASE("siglip: family detection from config.json") {
    CHECK(detect_family("tests/fixtures/tiny_siglip_f32") == ModelFamily::siglip);
    CHECK(detect_family("tests/fixtures/tiny_clip_quickgelu_f32") == ModelFamily::clip);
    Json j = parse_json("{\"model_type\": \"blip\"}", "x/config.json");
    std::string e = testutil::error_of([&] { family_from_json(j, "x/config.json"); });
    CHECK(testutil::contains(e, "x/config.json"));
    CHECK(testutil::contains(e, "'blip'"));
}

TEST_CASE("siglip: config defaults are transformers' and every size is range-checked") {
    SiglipConfig c = parse_siglip_config("tests/fixtures/tiny_siglip_f32/config.json");
    CHECK(c.text.eps == 1e-6f);  // not in config.json: HF's default
    CHECK(c.vision.eps == 1e-6f);
    CHECK(c.text.act == Activation::gelu_tanh);
    CHECK(c.max_positions == 64);
    CHECK(c.vision_tokens() == 16);
    CHECK(c.embed_dim == 32);
    CHECK(parse_siglip_config("tests/fixtures/tiny_siglip_f16/config.json").text.eps == 1e-5f);
    auto err = [](const std::string& json) {
        return testutil::error_of([&] { siglip_config_from_json(parse_json(json, "c.json"), "c.json"); });
    };
    CHECK(testutil::contains(err("{\"model_type\":\"siglip\",\"vision_config\":{\"image_size\":50,\"patch_size\":16}}"),
                             "not a multiple"));
    CHECK(testutil::contains(err("{\"model_type\":\"siglip\",\"text_config\":{\"hidden_size\":0}}"),
                             "text_config.hidden_size"));
    CHECK(testutil::contains(err("{\"model_type\":\"siglip\",\"text_config\":{\"hidden_size\":64,\"num_attention_heads\":4}}"),
                             "differs from the image"));
    CHECK(testutil::contains(err("{\"model_type\":\"siglip\",\"vision_config\":{\"hidden_act\":\"relu\"}}"),
                             "hidden_act 'relu'"));
    CHECK(testutil::contains(err("{\"model_type\":\"siglip\",\"vision_config\":{\"layer_norm_eps\":0}}"),
                             "layer_norm_eps"));
    CHECK(testutil::contains(err("{\"model_type\":\"siglip\",\"vision_config\":{\"vision_use_head\":false}}"),
                             "vision_use_head"));
    CHECK(testutil::contains(err("{\"model_type\":\"clip\"}"), "not a SigLIP config"));
}

TEST_CASE("siglip: text tower equals get_text_features, layer by layer") {
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        SiglipModel m = SiglipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int E = m.cfg.embed_dim, C = m.cfg.text.hidden, T = 64;
        int B;
        auto ids = ref_ids(ref, &B);
        std::vector<float> out((size_t)B * E);
        siglip_encode_texts(m, ids.data(), B, out.data());
        auto feat = ref.to_f32("text_features", {B, E});
        double d_raw = max_abs_diff(out.data(), feat.data(), out.size());
        l2_normalize_rows(out.data(), B, E);
        auto emb = ref.to_f32("text_embeds", {B, E});
        double d = max_abs_diff(out.data(), emb.data(), out.size());
        MESSAGE(std::string(dir) << ": text embeds max abs diff " << d << ", features " << d_raw << " (max |feature| "
                    << max_abs(feat) << ")");
        CHECK(d <= 2e-6);
        CHECK(d_raw <= 5e-6 * std::max(1.0, max_abs(feat)));

        SiglipDebug dbg;
        std::vector<float> one(E);
        siglip_encode_texts_debug(m, ids.data(), 1, one.data(), &dbg);
        REQUIRE(dbg.hidden.size() == (size_t)m.cfg.text.layers + 1);
        double worst = 0;
        for (size_t l = 0; l < dbg.hidden.size(); l++) {
            auto h = ref.to_f32("text_hidden_" + std::to_string(l), {T, C});
            double dl = max_abs_diff(dbg.hidden[l].data(), h.data(), h.size());
            worst = std::max(worst, dl / std::max(1.0, max_abs(h)));
            CHECK(dl <= 5e-6 * std::max(1.0, max_abs(h)));
        }
        auto last = ref.to_f32("text_last_hidden", {T, C});
        auto pooled = ref.to_f32("text_pooled", {E});
        double dl = max_abs_diff(dbg.last.data(), last.data(), last.size());
        double dp = max_abs_diff(one.data(), pooled.data(), E);
        MESSAGE(std::string(dir) << ": text hidden states max rel diff " << worst << ", final LN " << dl << ", pooled " << dp);
        CHECK(dl <= 5e-6 * std::max(1.0, max_abs(last)));
        CHECK(dp <= 5e-6 * std::max(1.0, max_abs(pooled)));
    }
}

TEST_CASE("siglip: vision tower equals get_image_features, layer by layer, MAP head included") {
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        SiglipModel m = SiglipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int E = m.cfg.embed_dim, C = m.cfg.vision.hidden, S = m.cfg.image_size, N = m.cfg.vision_tokens();
        const int B = (int)ref.info("pixel_values").shape[0];
        auto pix = ref.to_f32("pixel_values", {B, 3, S, S});
        std::vector<float> out((size_t)B * E);
        siglip_encode_images(m, pix.data(), B, out.data());
        auto feat = ref.to_f32("image_features", {B, E});
        double d_raw = max_abs_diff(out.data(), feat.data(), out.size());
        l2_normalize_rows(out.data(), B, E);
        auto emb = ref.to_f32("image_embeds", {B, E});
        double d = max_abs_diff(out.data(), emb.data(), out.size());
        MESSAGE(std::string(dir) << ": image embeds max abs diff " << d << ", features " << d_raw << " (max |feature| "
                    << max_abs(feat) << ")");
        CHECK(d <= 2e-6);
        CHECK(d_raw <= 5e-6 * std::max(1.0, max_abs(feat)));

        SiglipDebug dbg;
        std::vector<float> one(E);
        siglip_encode_images_debug(m, pix.data(), 1, one.data(), &dbg);
        REQUIRE(dbg.hidden.size() == (size_t)m.cfg.vision.layers + 1);
        double worst = 0;
        for (size_t l = 0; l < dbg.hidden.size(); l++) {
            auto h = ref.to_f32("vision_hidden_" + std::to_string(l), {N, C});
            double dl = max_abs_diff(dbg.hidden[l].data(), h.data(), h.size());
            worst = std::max(worst, dl / std::max(1.0, max_abs(h)));
            CHECK(dl <= 5e-6 * std::max(1.0, max_abs(h)));
        }
        auto last = ref.to_f32("vision_last_hidden", {N, C});
        auto pooled = ref.to_f32("vision_pooled", {E});
        double dl = max_abs_diff(dbg.last.data(), last.data(), last.size());
        double dp = max_abs_diff(one.data(), pooled.data(), E);
        MESSAGE(std::string(dir) << ": vision hidden states max rel diff " << worst << ", post LN " << dl << ", pooled " << dp);
        CHECK(dl <= 5e-6 * std::max(1.0, max_abs(last)));
        CHECK(dp <= 5e-6 * std::max(1.0, max_abs(pooled)));
    }
}

TEST_CASE("siglip: sigmoid scores equal logits_per_image / probs_per_image") {
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        SiglipModel m = SiglipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        CHECK(m.logit_scale == ref.to_f32("logit_scale")[0]);
        CHECK(m.logit_bias == ref.to_f32("logit_bias")[0]);
        const int E = m.cfg.embed_dim, NI = 4, NT = 9;
        auto img = ref.to_f32("image_embeds", {NI, E}), txt = ref.to_f32("text_embeds", {NT, E});
        auto logits = ref.to_f32("logits_per_image", {NI, NT}), probs = ref.to_f32("probs_per_image", {NI, NT});
        double dl = 0, dp = 0;
        for (int i = 0; i < NI; i++)
            for (int j = 0; j < NT; j++) {
                double c = 0;
                for (int e = 0; e < E; e++) c += (double)img[i * E + e] * txt[j * E + e];
                double l = std::exp((double)m.logit_scale) * c + m.logit_bias;
                dl = std::max(dl, std::fabs(l - logits[i * NT + j]));
                dp = std::max(dp, std::fabs(1 / (1 + std::exp(-l)) - probs[i * NT + j]));
            }
        MESSAGE(std::string(dir) << ": logits max abs diff " << dl << ", probs " << dp);
        CHECK(dl <= 1e-5);
        CHECK(dp <= 1e-6);
    }
}

TEST_CASE("siglip: preprocessing equals SiglipImageProcessor's pixel_values (square resize, no crop)") {
    REQUIRE_SHARED_DATA();
    const std::string images = testutil::shared_data() + "/images/";
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        SiglipModel m = SiglipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int S = m.cfg.image_size;
        ImagePreprocess p = siglip_preprocess_config(dir, S);
        CHECK(!p.crop);
        CHECK(p.mean[1] == 0.5);
        auto pix = ref.to_f32("pixel_values", {4, 3, S, S});
        std::vector<std::string> files = {"coco/000000039769.png", "skimage/rocket.jpg", "tuxpaint/flamingo.png",
                                          "skimage/chelsea.png"};
        for (size_t i = 0; i < files.size(); i++) {
            auto mine = load_and_preprocess(images + files[i], p);
            REQUIRE(mine.size() == (size_t)3 * S * S);
            double d = max_abs_diff(mine.data(), pix.data() + i * 3 * S * S, mine.size());
            MESSAGE(std::string(dir) << " " << files[i] << ": pixel_values max abs diff " << d);
            // PNGs are bit-exact; the JPEG differs by stb vs libjpeg decoding (a few levels: 2/255·2 per level)
            CHECK(d <= (files[i].find(".jpg") != std::string::npos ? 0.02 : 1e-6));
        }
    }
}

TEST_CASE("siglip: loading refuses a checkpoint whose layers or shapes disagree with the config") {
    // a config that says 3 text layers while the checkpoint has 2
    std::string tmp = "build/tmp_siglip_bad";
    REQUIRE(system(("rm -rf " + tmp + " && mkdir -p " + tmp + " && cp tests/fixtures/tiny_siglip_f32/* " + tmp).c_str()) == 0);
    std::string cfg = read_file(tmp + "/config.json");
    size_t at = cfg.find("\"num_hidden_layers\": 2");
    REQUIRE(at != std::string::npos);
    cfg.replace(at, 22, "\"num_hidden_layers\": 3");
    write_file_atomic(tmp + "/config.json", cfg.data(), cfg.size());
    std::string e = testutil::error_of([&] { SiglipModel::load(tmp); });
    CHECK(testutil::contains(e, "text layers"));
    // a width the checkpoint does not have
    cfg = read_file("tests/fixtures/tiny_siglip_f32/config.json");
    at = cfg.find("\"intermediate_size\": 72");
    REQUIRE(at != std::string::npos);
    cfg.replace(at, 23, "\"intermediate_size\": 73");
    write_file_atomic(tmp + "/config.json", cfg.data(), cfg.size());
    e = testutil::error_of([&] { SiglipModel::load(tmp); });
    CHECK(testutil::contains(e, "vision_model.encoder.layers.0.mlp.fc1.weight"));
    REQUIRE(system(("rm -rf " + tmp).c_str()) == 0);
}
