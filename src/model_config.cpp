// model_config.cpp — family detection and the checked config.json field readers (model_config.h).
#include "model_config.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "json.h"

namespace reco {

const char* family_name(ModelFamily f) { return f == ModelFamily::siglip ? "siglip" : "clip"; }

ModelFamily family_from_json(const Json& j, const std::string& path) {
    if (j.type != Json::Object) fail("%s: not a JSON object", path.c_str());
    const Json* t = j.find("model_type");
    if (!t || t->type == Json::Null) return ModelFamily::clip;
    if (t->type == Json::String && t->str == "clip") return ModelFamily::clip;
    if (t->type == Json::String && t->str == "siglip") return ModelFamily::siglip;
    fail("%s: model_type %s is not a model family reco supports (\"clip\" or \"siglip\")", path.c_str(),
         t->type == Json::String ? ("'" + t->str + "'").c_str() : cfg::describe(*t).c_str());
}

ModelFamily detect_family(const std::string& model_dir) {
    const std::string path = model_dir + "/config.json";
    if (!file_exists(path)) fail("%s: missing (a model directory needs config.json and model.safetensors)", path.c_str());
    return family_from_json(parse_json(read_file(path), path), path);
}

namespace cfg {

std::string describe(const Json& v) {
    switch (v.type) {
        case Json::Number: return strformat("%.17g", v.num);
        case Json::String: return "a string";
        case Json::Bool: return v.b ? "true" : "false";
        case Json::Array: return "an array";
        case Json::Object: return "an object";
        default: return "null";
    }
}

int get_int(const Json& j, const char* section, const char* key, int def, int lo, int hi, const std::string& path) {
    const Json* v = j.find(key);
    if (!v || v->type == Json::Null) return def;
    if (!v->is_int() || v->num < lo || v->num > hi)
        fail("%s: %s%s must be an integer in [%d, %d] (got %s)", path.c_str(), section, key, lo, hi,
             describe(*v).c_str());
    return (int)v->num;
}

// 0 or NaN would make every LayerNorm of a constant row, or every row, NaN.
float get_eps(const Json& j, const char* section, const std::string& path, float def) {
    const Json* v = j.find("layer_norm_eps");
    if (!v || v->type == Json::Null) return def;
    const float f = v->type == Json::Number ? (float)v->num : NAN;
    if (!(f > 0.0f && f <= 1.0f))
        fail("%s: %slayer_norm_eps must be a finite number in (0, 1] (got %s)", path.c_str(), section,
             describe(*v).c_str());
    return f;
}

Activation get_act(const Json& j, const char* section, const std::string& path, Activation def,
                   const Activation* allowed, int n) {
    const Json* v = j.find("hidden_act");
    if (!v) return def;
    std::string names;
    for (int i = 0; i < n; i++) {
        if (v->type == Json::String && v->str == activation_name(allowed[i])) return allowed[i];
        names += std::string(i == 0 ? "" : i + 1 == n ? " and " : ", ") + activation_name(allowed[i]);
    }
    fail("%s: %shidden_act '%s' is not supported (reco supports %s)", path.c_str(), section,
         v->type == Json::String ? v->str.c_str() : describe(*v).c_str(), names.c_str());
}

}  // namespace cfg

std::string model_weights_path(const std::string& dir) {
    std::string cfg_path = dir + "/config.json", st_path = dir + "/model.safetensors";
    if (!file_exists(cfg_path)) fail("%s: missing (a model directory needs config.json and model.safetensors)", cfg_path.c_str());
    if (!file_exists(st_path)) {
        if (file_exists(dir + "/pytorch_model.bin"))
            fail("%s: missing; only pytorch_model.bin is there, which reco cannot read (pickle). "
                 "Download the safetensors file (weights/download.sh) or convert it.", st_path.c_str());
        fail("%s: missing (a model directory needs config.json and model.safetensors)", st_path.c_str());
    }
    return st_path;
}

int checkpoint_layers(const SafeTensors& st, const std::string& prefix, int max) {
    int n = 0;
    while (n <= max && st.has(prefix + std::to_string(n) + ".layer_norm1.weight")) n++;
    return n;
}

void check_layer_counts(const SafeTensors& st, const std::string& st_path, const std::string& cfg_path,
                        int vision_layers, int text_layers) {
    struct { const char* tower; const char* prefix; int layers; } towers[] = {
        {"vision", "vision_model.encoder.layers.", vision_layers},
        {"text", "text_model.encoder.layers.", text_layers},
    };
    for (auto& t : towers) {
        int have = checkpoint_layers(st, t.prefix, cfg::kMaxLayers);
        if (have != t.layers)
            fail("%s: has %d %s layers but %s says %s_config.num_hidden_layers = %d", st_path.c_str(), have, t.tower,
                 cfg_path.c_str(), t.tower, t.layers);
    }
}

std::string model_name(const Json& config, const std::string& dir) {
    const Json* n = config.find("_name_or_path");
    return (n && n->type == Json::String && !n->str.empty()) ? n->str : dir;
}

// One branch-free pass (an integer OR over the exponent bits vectorises; std::isfinite in a loop with an
// early exit does not).
size_t first_non_finite(const std::vector<float>& v) {
    uint32_t bad = 0;
    const float* p = v.data();
    for (size_t i = 0; i < v.size(); i++) {
        uint32_t b;
        std::memcpy(&b, p + i, 4);
        bad |= (uint32_t)((b & 0x7F800000u) == 0x7F800000u);
    }
    if (!bad) return v.size();
    for (size_t i = 0; i < v.size(); i++)
        if (!std::isfinite(v[i])) return i;
    return v.size();
}

void load_scalar(const SafeTensors& st, const std::string& st_path, const char* name, float* out) {
    if (!st.has(name)) return;
    if (st.info(name).numel() != 1) fail("%s: %s must be a scalar", st_path.c_str(), name);
    std::vector<float> v = st.to_f32(name);
    if (!std::isfinite(v[0]))
        fail("%s: tensor '%s' holds a non-finite value (%g at flat index 0): the checkpoint is corrupt",
             st_path.c_str(), name, v[0]);
    *out = v[0];
}

}  // namespace reco
