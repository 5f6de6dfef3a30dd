// test_clip_towers.cpp — the CPU towers against Hugging Face transformers on tiny random CLIPs in the
// real HF layout (tests/fixtures/tiny_clip_*, made by tools/make_clip_fixtures.py):
//   text features from the token ids HF's tokenizer produced, image features from HF's pixel_values
//   (the f16 fixture, which keeps no pixel_values, from its first image, a PNG: decoded and preprocessed
//   exactly as PIL / CLIPImageProcessor, see test_image.cpp), and every hidden state on the way.
// Tolerances: just above what the engine reaches (measured on x86-64 with -O3 -march=native, printed by
// each test), per fixture. They are far below what a one-line error gives: tanh GELU instead of erf moves
// the f16 text embeds by 1.6e-4, a hard-coded eps 1e-5 instead of the config's 1e-6 moves the f16 vision
// hidden states by ~1e-2 relative.
#include <cmath>
#include <string>
#include <vector>

#include "clip_model.h"
#include "common.h"
#include "image.h"
#include "ops.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;

// Per fixture: the tolerances (max abs diff, relative to max(1, max|reference|) for unnormalised tensors),
// about 2.5× what the engine reaches (in brackets; a few float ulps), so that a change of summation order
// passes and a wrong op does not.
struct TowerFixture {
    const char* dir;
    double text_embeds;   // normalised text embeds, max abs diff
    double text_raw;      // text features before normalisation, relative
    double text_hidden;   // text hidden states, relative
    double image_raw;     // image features, relative
    double vision_hidden; // vision hidden states, relative
};
static const TowerFixture kFixtures[] = {
    // reached:                             [1.4e-7] [2.7e-7] [3.4e-7] [5.2e-7] [1.9e-6]
    {"tests/fixtures/tiny_clip_quickgelu_f32", 4e-7, 7e-7, 9e-7, 1.5e-6, 5e-6},
    // reached:                             [2.2e-7] [4.4e-7] [3.8e-7] [1.2e-6] [1.1e-6]
    {"tests/fixtures/tiny_clip_gelu_f16", 5e-7, 1.1e-6, 1e-6, 3e-6, 3e-6},
};

static double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!std::isfinite(a[i])) return INFINITY;
        m = std::max(m, (double)std::fabs(a[i] - b[i]));
    }
    return m;
}
static double max_abs(const float* a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, (double)std::fabs(a[i]));
    return m;
}
// max|a-b| / max(1, max|ref|)
static double rel_diff(const float* a, const float* ref, size_t n) {
    return max_abs_diff(a, ref, n) / std::max(1.0, max_abs(ref, n));
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
    for (const TowerFixture& fx : kFixtures) {
        const std::string dir = fx.dir;
        INFO(dir);
        ClipModel m = ClipModel::load(dir);
        SafeTensors ref(dir + "/reference.safetensors");
        const int E = m.cfg.projection_dim;
        for (const char* idname : {"input_ids_openai", "input_ids"}) {  // zero padding and HF's 49407 padding
            int B;
            auto ids = load_ids(ref, idname, &B);
            std::vector<float> out((size_t)B * E);
            clip_encode_texts(m, ids.data(), B, out.data());
            auto raw = ref.to_f32("text_features_raw", {B, E});
            double d_raw = rel_diff(out.data(), raw.data(), out.size());
            l2_normalize_rows(out.data(), B, E);
            auto emb = ref.to_f32("text_embeds", {B, E});
            double d = max_abs_diff(out.data(), emb.data(), out.size());
            MESSAGE(dir << " " << std::string(idname) << ": text embeds max abs diff " << d << " (tol " << fx.text_embeds
                        << "), raw rel " << d_raw << " (tol " << fx.text_raw << ")");
            CHECK(d <= fx.text_embeds);
            CHECK(d_raw <= fx.text_raw);
        }
    }
}

TEST_CASE("text tower hidden states match transformers layer by layer") {
    for (const TowerFixture& fx : kFixtures) {
        const std::string dir = fx.dir;
        INFO(dir);
        ClipModel m = ClipModel::load(dir);
        SafeTensors ref(dir + "/reference.safetensors");
        int B;
        auto ids = load_ids(ref, "input_ids_openai", &B);
        std::vector<float> out(m.cfg.projection_dim);
        ClipDebug dbg;
        clip_encode_texts_debug(m, ids.data(), 1, out.data(), &dbg);
        const int C = m.cfg.text.hidden;
        REQUIRE(dbg.hidden.size() == (size_t)m.cfg.text.layers + 1);
        double worst = 0;
        for (size_t l = 0; l < dbg.hidden.size(); l++) {
            auto h = ref.to_f32("text_hidden_" + std::to_string(l), {77, C});
            REQUIRE(dbg.hidden[l].size() == h.size());
            double d = rel_diff(dbg.hidden[l].data(), h.data(), h.size());
            INFO("layer " << l << " rel diff " << d);
            CHECK(d <= fx.text_hidden);
            worst = std::max(worst, d);
        }
        MESSAGE(dir << ": text hidden states max rel diff " << worst << " (tol " << fx.text_hidden << ")");
    }
}

TEST_CASE("vision tower equals transformers get_image_features and its hidden states, both fixtures") {
    for (const TowerFixture& fx : kFixtures) {
        const std::string dir = fx.dir;
        INFO(dir);
        ClipModel m = ClipModel::load(dir);
        SafeTensors ref(dir + "/reference.safetensors");
        const int E = m.cfg.projection_dim, C = m.cfg.vision.hidden, T = m.cfg.vision_tokens();
        std::vector<float> pix;
        std::string from;
        if (ref.has("pixel_values")) {
            pix = ref.to_f32("pixel_values", {1, 3, 224, 224});
            from = "HF pixel_values";
        } else {
            // the fixture's first image (images.txt, reference metadata vision_debug_from = images[0]): a PNG
            if (!testutil::have_shared()) {
                testutil::skip("../shared/data not found; set RECO_SHARED_DATA");
                return;
            }
            std::string first = read_file(dir + "/images.txt");
            first = first.substr(0, first.find('\n'));
            REQUIRE(first.size() > 4);
            REQUIRE(first.substr(first.size() - 4) == ".png");
            pix = load_and_preprocess(testutil::shared_data() + "/images/" + first, 224);
            from = "the PNG " + first;
        }
        REQUIRE(pix.size() == (size_t)3 * 224 * 224);
        std::vector<float> out(E);
        ClipDebug dbg;
        clip_encode_images_debug(m, pix.data(), 1, out.data(), &dbg);
        auto raw = ref.to_f32("image_features_raw");
        REQUIRE(raw.size() >= (size_t)E);
        double d = rel_diff(out.data(), raw.data(), E);
        // the normalised embedding as well (what retrieval uses)
        l2_normalize_rows(out.data(), 1, E);
        auto emb = ref.to_f32("image_embeds");
        double de = max_abs_diff(out.data(), emb.data(), E);
        REQUIRE(dbg.hidden.size() == (size_t)m.cfg.vision.layers + 1);
        double worst = 0;
        for (size_t l = 0; l < dbg.hidden.size(); l++) {
            auto h = ref.to_f32("vision_hidden_" + std::to_string(l), {T, C});
            REQUIRE(dbg.hidden[l].size() == h.size());
            double dl = rel_diff(dbg.hidden[l].data(), h.data(), h.size());
            INFO("layer " << l << " rel diff " << dl);
            CHECK(dl <= fx.vision_hidden);
            worst = std::max(worst, dl);
        }
        MESSAGE(dir << ": image features (from " << from << ") rel diff " << d << " (tol " << fx.image_raw
                    << "), embeds max abs diff " << de << ", hidden states max rel diff " << worst << " (tol "
                    << fx.vision_hidden << ")");
        CHECK(d <= fx.image_raw);
        CHECK(de <= fx.image_raw);
    }
}

TEST_CASE("model loading rejects checkpoints that do not match their config") {
    // a config that claims a wider text tower than the weights have
    char tmpl[] = "/tmp/reco_model_XXXXXX";
    std::string d = mkdtemp(tmpl);
    std::string src = kFixtures[0].dir;
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
