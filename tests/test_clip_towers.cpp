// test_clip_towers.cpp — the CPU towers against Hugging Face transformers on tiny random CLIPs in the
// real HF layout (tests/fixtures/tiny_clip_*, made by tools/make_clip_fixtures.py):
//   text features from the token ids HF's tokenizer produced, image features from HF's pixel_values,
//   and every hidden state on the way (the debugging trail llm.c-style tests keep).
// Tolerances: text ≤ 2e-4 max abs on the normalised embedding (issue 2), hidden states ≤ 1e-4·scale.
#include <cmath>
#include <string>
#include <vector>

#include "clip_model.h"
#include "common.h"
#include "ops.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;

static const char* kModels[] = {"tests/fixtures/tiny_clip_quickgelu_f32", "tests/fixtures/tiny_clip_gelu_f16"};

static double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, (double)std::fabs(a[i] - b[i]));
    return m;
}
static double max_abs(const float* a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, (double)std::fabs(a[i]));
    return m;
}

static std::vector<int> load_ids(const SafeTensors& ref, const std::string& name, int* B) {
    const TensorInfo& ti = ref.info(name);
    REQUIRE(ti.dtype == DType::I64);
    REQUIRE(ti.shape.size() == 2);
    REQUIRE(ti.shape[1] == 77);
    *B = (int)ti.shape[0];
    std::vector<int> ids((size_t)*B * 77);
    const int64_t* p = (const int64_t*)ref.raw(name);
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)p[i];
    return ids;
}

TEST_CASE("text tower equals transformers get_text_features on the tiny fixtures") {
    for (const char* dir : kModels) {
        INFO(std::string(dir));
        ClipModel m = ClipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int E = m.cfg.projection_dim;
        for (const char* idname : {"input_ids_openai", "input_ids"}) {  // zero padding and HF's 49407 padding
            int B;
            auto ids = load_ids(ref, idname, &B);
            std::vector<float> out((size_t)B * E);
            clip_encode_texts(m, ids.data(), B, out.data());
            auto raw = ref.to_f32("text_features_raw", {B, E});
            double d_raw = max_abs_diff(out.data(), raw.data(), out.size());
            l2_normalize_rows(out.data(), B, E);
            auto emb = ref.to_f32("text_embeds", {B, E});
            double d = max_abs_diff(out.data(), emb.data(), out.size());
            MESSAGE(std::string(dir) << " " << std::string(idname) << ": text embeds max abs diff " << d << " (raw " << d_raw << ")");
            CHECK(d <= 2e-4);
            CHECK(d_raw <= 2e-4 * std::max(1.0, max_abs(raw.data(), raw.size())));
        }
    }
}

TEST_CASE("text tower hidden states match transformers layer by layer") {
    for (const char* dir : kModels) {
        INFO(std::string(dir));
        ClipModel m = ClipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        int B;
        auto ids = load_ids(ref, "input_ids_openai", &B);
        std::vector<float> out(m.cfg.projection_dim);
        ClipDebug dbg;
        clip_encode_texts_debug(m, ids.data(), 1, out.data(), &dbg);
        const int C = m.cfg.text.hidden;
        REQUIRE(dbg.hidden.size() == (size_t)m.cfg.text.layers + 1);
        for (size_t l = 0; l < dbg.hidden.size(); l++) {
            auto h = ref.to_f32("text_hidden_" + std::to_string(l), {77, C});
            double d = max_abs_diff(dbg.hidden[l].data(), h.data(), h.size());
            INFO("layer " << l << " diff " << d);
            CHECK(d <= 1e-4 * std::max(1.0, max_abs(h.data(), h.size())));
        }
    }
}

TEST_CASE("vision tower equals transformers get_image_features from HF pixel_values") {
    const char* dir = kModels[0];
    ClipModel m = ClipModel::load(dir);
    SafeTensors ref(std::string(dir) + "/reference.safetensors");
    const int E = m.cfg.projection_dim, C = m.cfg.vision.hidden, T = m.cfg.vision_tokens();
    auto pix = ref.to_f32("pixel_values", {1, 3, 224, 224});
    std::vector<float> out(E);
    ClipDebug dbg;
    clip_encode_images_debug(m, pix.data(), 1, out.data(), &dbg);
    auto raw = ref.to_f32("image_features_raw");
    double d = max_abs_diff(out.data(), raw.data(), E);
    MESSAGE("image features (from HF pixel_values) max abs diff " << d);
    CHECK(d <= 1e-4 * std::max(1.0, max_abs(raw.data(), E)));
    for (size_t l = 0; l < dbg.hidden.size(); l++) {
        auto h = ref.to_f32("vision_hidden_" + std::to_string(l), {T, C});
        double dl = max_abs_diff(dbg.hidden[l].data(), h.data(), h.size());
        INFO("layer " << l << " diff " << dl);
        CHECK(dl <= 1e-4 * std::max(1.0, max_abs(h.data(), h.size())));
    }
}

TEST_CASE("model loading rejects checkpoints that do not match their config") {
    // a config that claims a wider text tower than the weights have
    char tmpl[] = "/tmp/reco_model_XXXXXX";
    std::string d = mkdtemp(tmpl);
    std::string src = kModels[0];
    std::string cfg = read_file(src + "/config.json");
    std::string cmd = "ln -s " + std::string(getenv("PWD") ? getenv("PWD") : ".") + "/" + src + "/model.safetensors " + d + "/model.safetensors";
    REQUIRE(system(cmd.c_str()) == 0);
    size_t p = cfg.find("\"projection_dim\": 24");
    REQUIRE(p != std::string::npos);
    cfg.replace(p, 20, "\"projection_dim\": 25");
    write_file_atomic(d + "/config.json", cfg.data(), cfg.size());
    std::string err;
    try { ClipModel::load(d); } catch (const Error& e) { err = e.what(); }
    CHECK(err.find("visual_projection.weight' has shape [24, 48], expected [25, 48]") != std::string::npos);
    CHECK(err.find("model.safetensors") != std::string::npos);
    err.clear();
    try { ClipModel::load("/nonexistent/model"); } catch (const Error& e) { err = e.what(); }
    CHECK(err.find("/nonexistent/model/config.json: missing") != std::string::npos);
}
