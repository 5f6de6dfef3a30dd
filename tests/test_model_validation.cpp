// test_model_validation.cpp — a CLIP model directory that is wrong in any way is refused with a message
// naming the file and the field or tensor: out-of-range and non-finite config.json values, configs that
// disagree with the checkpoint (refused before the weights are converted, so fast and small), non-finite
// weights, and towers whose output overflows. Never a NaN embedding, a crash or gigabytes allocated.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "clip_model.h"
#include "common.h"
#include "json.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;
using testutil::contains;
using testutil::error_of;

namespace {

const char* kF32 = "tests/fixtures/tiny_clip_quickgelu_f32";
const char* kF16 = "tests/fixtures/tiny_clip_gelu_f16";

std::string cwd() { return getenv("PWD") ? getenv("PWD") : "."; }

std::string temp_dir() {
    char tmpl[] = "/tmp/reco_modelval_XXXXXX";
    const char* d = mkdtemp(tmpl);
    REQUIRE(d != nullptr);
    return d;
}

// Sets "key": value_json in section ("text_config", "vision_config", or "" for the top level) of a
// fixture config.json: replaces the value where the key is, else adds it at the section's end. (The
// fixtures are json.dump(indent=2) output: top-level keys are indented by 2 spaces, a section's by 4,
// and a section ends at its first '}'.)
std::string set_field(std::string cfg, const std::string& section, const std::string& key, const std::string& value) {
    size_t begin = 0, end = cfg.rfind('}');
    if (!section.empty()) {
        begin = cfg.find("\"" + section + "\"");
        REQUIRE(begin != std::string::npos);
        end = cfg.find('}', begin);
    }
    const std::string indent = section.empty() ? "\n  \"" : "\n    \"";
    size_t k = cfg.find(indent + key + "\":", begin);
    if (k != std::string::npos && k < end) {
        size_t v0 = cfg.find(':', k) + 1, v1 = cfg.find_first_of(",\n", v0);
        cfg.replace(v0, v1 - v0, " " + value);
    } else {
        cfg.insert(cfg.find_last_not_of(" \n", end - 1) + 1, ", \"" + key + "\": " + value);
    }
    return cfg;
}

// A model directory: DIR/config.json = cfg, DIR/model.safetensors -> the fixture's (or `weights`).
std::string model_dir(const std::string& cfg, const std::string& fixture = kF32, const std::string& weights = "") {
    std::string d = temp_dir();
    write_file_atomic(d + "/config.json", cfg.data(), cfg.size());
    std::string st = weights.empty() ? cwd() + "/" + fixture + "/model.safetensors" : weights;
    REQUIRE(system(("ln -s " + st + " " + d + "/model.safetensors").c_str()) == 0);
    return d;
}

std::string fixture_config(const std::string& fixture = kF32) { return read_file(fixture + "/config.json"); }

// The error of parse_clip_config on this config text ("" if accepted).
std::string config_error(const std::string& cfg) {
    std::string d = temp_dir();
    write_file_atomic(d + "/config.json", cfg.data(), cfg.size());
    return error_of([&] { parse_clip_config(d + "/config.json"); });
}

// A copy of FIXTURE's checkpoint as DIR/weights.safetensors with every value of the named tensors set.
std::string with_values(const std::string& fixture, const std::vector<std::pair<std::string, float>>& set,
                        const std::string& dir) {
    SafeTensors st(fixture + "/model.safetensors");
    SafeTensorsWriter w;
    for (const TensorInfo& t : st.tensors()) {
        const float* v = nullptr;
        for (auto& s : set)
            if (s.first == t.name) v = &s.second;
        if (!v) {
            w.add(t.name, t.dtype, t.shape, st.raw(t.name), t.end - t.begin);
            continue;
        }
        std::vector<float> x((size_t)t.numel(), *v);
        if (t.dtype == DType::F16) w.add_f16(t.name, t.shape, x.data());
        else w.add_f32(t.name, t.shape, x.data());
    }
    std::string path = dir + "/weights.safetensors";
    w.write(path);
    return path;
}

}  // namespace

TEST_CASE("config.json: non-finite or out-of-range layer_norm_eps is refused, naming the file and field") {
    const std::string cfg = fixture_config();
    for (const char* bad : {"NaN", "Infinity", "-1e-5", "0", "1e-60", "2", "\"1e-5\""}) {
        INFO("layer_norm_eps = " << bad);
        std::string err = config_error(set_field(cfg, "text_config", "layer_norm_eps", bad));
        CHECK(contains(err, "config.json: text_config.layer_norm_eps must be a finite number in (0, 1]"));
        err = config_error(set_field(cfg, "vision_config", "layer_norm_eps", bad));
        CHECK(contains(err, "config.json: vision_config.layer_norm_eps must be a finite number in (0, 1]"));
    }
    CHECK(config_error(set_field(cfg, "text_config", "layer_norm_eps", "1e-12")) == "");
    CHECK(parse_clip_config(std::string(kF16) + "/config.json").text.eps == 1e-6f);
}

TEST_CASE("config.json: every size is range-checked before any arithmetic depends on it") {
    const std::string cfg = fixture_config();
    struct Case { const char* section; const char* key; const char* value; const char* message; };
    const Case cases[] = {
        // image_size 9999999 with patch 1 used to overflow grid()² (signed int) before any check
        {"vision_config", "image_size", "9999999", "vision_config.image_size must be an integer in [1, 4096] (got 9999999)"},
        {"vision_config", "patch_size", "0", "vision_config.patch_size must be an integer in [1, 4096] (got 0)"},
        {"vision_config", "patch_size", "5", "vision_config.image_size 224 is not a multiple of vision_config.patch_size 5"},
        {"vision_config", "patch_size", "1", "224 patches per side; reco allows at most 128"},
        {"vision_config", "hidden_size", "-48", "vision_config.hidden_size must be an integer in [1, 16384] (got -48)"},
        {"vision_config", "hidden_size", "48.5", "vision_config.hidden_size must be an integer"},
        {"vision_config", "hidden_size", "\"48\"", "vision_config.hidden_size must be an integer in [1, 16384] (got a string)"},
        {"vision_config", "num_attention_heads", "5", "vision_config.hidden_size 48 is not divisible by num_attention_heads 5"},
        {"vision_config", "num_attention_heads", "0", "vision_config.num_attention_heads must be an integer"},
        {"vision_config", "num_hidden_layers", "10000000", "vision_config.num_hidden_layers must be an integer in [1, 256]"},
        {"vision_config", "intermediate_size", "1e300", "vision_config.intermediate_size must be an integer in [1, 65536]"},
        {"text_config", "num_hidden_layers", "0", "text_config.num_hidden_layers must be an integer in [1, 256] (got 0)"},
        {"text_config", "vocab_size", "100", "text_config.vocab_size must be an integer in [49408, 1048576] (got 100)"},
        {"text_config", "max_position_embeddings", "76", "text_config.max_position_embeddings must be an integer in [77, 65536]"},
        {"text_config", "hidden_act", "\"relu\"", "text_config.hidden_act 'relu' is not supported"},
        {"", "projection_dim", "0", "config.json: projection_dim must be an integer in [1, 16384] (got 0)"},
    };
    for (const Case& c : cases) {
        INFO(c.section << "." << c.key << " = " << c.value);
        std::string err = config_error(set_field(cfg, c.section, c.key, c.value));
        CHECK(contains(err, "config.json: "));
        CHECK(contains(err, c.message));
    }
    CHECK(config_error(cfg) == "");
    ClipConfig c = parse_clip_config(std::string(kF16) + "/config.json");
    CHECK(c.patch == 16);
    CHECK(c.vision_tokens() == 14 * 14 + 1);
}

TEST_CASE("JSON: a leading UTF-8 BOM is ignored (RFC 8259 §8.1); a repeated key reads its last value") {
    Json j = parse_json("\xEF\xBB\xBF{\"a\": 1}", "x.json");
    REQUIRE(j.type == Json::Object);
    CHECK(j.find("a")->num == 1);
    // error offsets still count from the start of the file
    CHECK(contains(error_of([] { parse_json("\xEF\xBB\xBF{\"a\" 1}", "x.json"); }), "x.json: invalid JSON at byte 8"));
    // a BOM anywhere else is not whitespace
    CHECK(contains(error_of([] { parse_json(" \xEF\xBB\xBF{}", "x.json"); }), "x.json: invalid JSON at byte 1"));
    // Python's json (which transformers reads config.json with) keeps the last of repeated keys
    CHECK(parse_json("{\"a\": 1, \"a\": 2}", "x.json").find("a")->num == 2);

    const std::string cfg = fixture_config();
    ClipConfig plain = parse_clip_config(std::string(kF32) + "/config.json");
    std::string d = model_dir("\xEF\xBB\xBF" + cfg);
    ClipModel m = ClipModel::load(d);
    CHECK(m.cfg.vision.hidden == plain.vision.hidden);
    CHECK(m.cfg.projection_dim == 24);
}

TEST_CASE("a config that disagrees with the checkpoint fails fast, before any weight is converted") {
    const std::string cfg = fixture_config();
    // 10 million layers: refused by the range check (it used to allocate 4.5 GB of empty layers and
    // convert every weight before finding layer 2 missing, ~7 s)
    auto t0 = std::chrono::steady_clock::now();
    std::string err = error_of([&] { ClipModel::load(model_dir(set_field(cfg, "vision_config", "num_hidden_layers", "10000000"))); });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(contains(err, "config.json: vision_config.num_hidden_layers must be an integer in [1, 256] (got 10000000)"));
    CHECK(s < 1.0);
    // in range but not what the checkpoint holds: the header says so, nothing is converted
    t0 = std::chrono::steady_clock::now();
    err = error_of([&] { ClipModel::load(model_dir(set_field(cfg, "vision_config", "num_hidden_layers", "200"))); });
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(contains(err, "model.safetensors: has 2 vision layers but "));
    CHECK(contains(err, "config.json says vision_config.num_hidden_layers = 200"));
    CHECK(s < 1.0);
    err = error_of([&] { ClipModel::load(model_dir(set_field(cfg, "text_config", "num_hidden_layers", "1"))); });
    CHECK(contains(err, "model.safetensors: has 2 text layers but "));
    CHECK(contains(err, "config.json says text_config.num_hidden_layers = 1"));
    // a width the checkpoint does not have: the first tensor of that width, named with its shapes
    err = error_of([&] { ClipModel::load(model_dir(set_field(cfg, "text_config", "intermediate_size", "41"))); });
    CHECK(contains(err, "model.safetensors: tensor 'text_model.encoder.layers.0.mlp.fc1.weight' has shape [40, 16], expected [41, 16]"));
    // a larger vocabulary than the embedding table
    err = error_of([&] { ClipModel::load(model_dir(set_field(cfg, "text_config", "vocab_size", "50000"))); });
    CHECK(contains(err, "tensor 'text_model.embeddings.token_embedding.weight' has shape [49408, 16], expected [50000, 16]"));
}

TEST_CASE("non-finite weights are refused at load, naming the tensor and the file") {
    std::string d = temp_dir();
    std::string w = with_values(kF32, {{"text_model.encoder.layers.1.mlp.fc1.weight", NAN}}, d);
    std::string err = error_of([&] { ClipModel::load(model_dir(fixture_config(), kF32, w)); });
    CHECK(contains(err, "model.safetensors: tensor 'text_model.encoder.layers.1.mlp.fc1.weight' holds a non-finite value (nan at flat index 0)"));
    // fp16 infinity (a value beyond 65504 saved as half) and a q/k/v tensor, fused on load
    w = with_values(kF16, {{"vision_model.encoder.layers.0.self_attn.k_proj.weight", INFINITY}}, d);
    err = error_of([&] { ClipModel::load(model_dir(fixture_config(kF16), kF16, w)); });
    CHECK(contains(err, "tensor 'vision_model.encoder.layers.0.self_attn.k_proj.weight' holds a non-finite value (inf"));
    w = with_values(kF32, {{"logit_scale", -INFINITY}}, d);
    err = error_of([&] { ClipModel::load(model_dir(fixture_config(), kF32, w)); });
    CHECK(contains(err, "tensor 'logit_scale' holds a non-finite value (-inf"));
    // the untouched fixtures load
    CHECK(error_of([&] { ClipModel::load(kF32); }) == "");
    CHECK(error_of([&] { ClipModel::load(kF16); }) == "");
}

// The command-line path: what the probe saw was exit 0 with "nan" embeddings.
TEST_CASE("reco embed: NaN layer_norm_eps and overflowing weights are errors, never NaN output") {
    REQUIRE_SHARED_DATA();  // a loadable model dir = a tiny fixture model + the real tokenizer files
    const std::string tok = testutil::shared_data() + "/clip/hf_tokenizer/";
    const std::string abs_tok = tok[0] == '/' ? tok : cwd() + "/" + tok;
    auto with_tokenizer = [&](const std::string& d) {
        REQUIRE(system(("ln -s " + abs_tok + "vocab.json " + abs_tok + "merges.txt " + d + "/").c_str()) == 0);
        return d;
    };
    std::string out;
    std::string d = with_tokenizer(model_dir(set_field(fixture_config(), "text_config", "layer_norm_eps", "NaN")));
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + d + " --text hello --device cpu", &out) == 1);
    CHECK(contains(out, "config.json: text_config.layer_norm_eps must be a finite number in (0, 1] (got nan)"));
    CHECK(!contains(out, "nan "));

    // finite weights whose products overflow float (the pooled vector all ones, a projection of 3e38s:
    // Σ 16 × 3e38 = Inf): the towers' output is not finite; refused at the encoder's output, which every
    // command's embeddings pass through (it used to print nan after l2-normalising Inf)
    std::string wd = temp_dir();
    std::string w = with_values(kF32, {{"text_model.final_layer_norm.weight", 0.0f}, {"text_model.final_layer_norm.bias", 1.0f},
                                       {"text_projection.weight", 3e38f}}, wd);
    d = with_tokenizer(model_dir(fixture_config(), kF32, w));
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + d + " --text hello --device cpu", &out) == 1);
    CHECK(contains(out, "the text tower produced a non-finite embedding (NaN or Inf) for input 1 of the batch"));
    CHECK(!contains(out, "nan"));
    w = with_values(kF32, {{"vision_model.post_layernorm.weight", 0.0f}, {"vision_model.post_layernorm.bias", 1.0f},
                           {"visual_projection.weight", 3e38f}}, wd);
    d = with_tokenizer(model_dir(fixture_config(), kF32, w));
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + d + " --image tests/fixtures/images/grey_37x23.png --device cpu",
                  &out) == 1);
    CHECK(contains(out, "the image tower produced a non-finite embedding (NaN or Inf) for input 1 of the batch"));
    // the untouched model still embeds
    d = with_tokenizer(model_dir(fixture_config()));
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + d + " --text hello --device cpu", &out) == 0);
    CHECK(!contains(out, "nan"));
}
