// clip_model.cpp — config.json parsing and weight loading for a Hugging Face CLIPModel.
// Every tensor's shape is checked against the config; errors name the file and the tensor.
#include "clip_model.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "common.h"
#include "json.h"
#include "safetensors.h"

namespace reco {

// Upper bounds on config sizes. The largest public CLIPs (ViT-bigG/14: width 1664, MLP 8192,
// 48 layers, 336 px / 14 = 24 patches per side) are far inside them; anything beyond is a broken
// config, refused before a single product of sizes is formed or a byte allocated from it.
static const int kMaxWidth = 16384;      // hidden_size, projection_dim
static const int kMaxMlp = 65536;        // intermediate_size
static const int kMaxLayers = 256;       // num_hidden_layers
static const int kMaxImage = 4096;       // image_size (pixels per side)
static const int kMaxGrid = 128;         // patches per side: ≤ 16385 vision tokens
static const int kMaxVocab = 1 << 20;    // vocab_size (reco's BPE uses ids < 49408)
static const int kMaxPositions = 65536;  // max_position_embeddings (reco uses the first 77)

// What a JSON value is, for "got ..." in messages.
static std::string describe(const Json& v) {
    switch (v.type) {
        case Json::Number: return strformat("%.17g", v.num);
        case Json::String: return "a string";
        case Json::Bool: return v.b ? "true" : "false";
        case Json::Array: return "an array";
        case Json::Object: return "an object";
        default: return "null";
    }
}

// An integer field in [lo, hi], falling back to transformers' CLIPConfig default when absent.
// `section` is "text_config.", "vision_config." or "" (top level), for the message.
static int get_int(const Json& j, const char* section, const char* key, int def, int lo, int hi,
                   const std::string& path) {
    const Json* v = j.find(key);
    if (!v || v->type == Json::Null) return def;
    if (!v->is_int() || v->num < lo || v->num > hi)
        fail("%s: %s%s must be an integer in [%d, %d] (got %s)", path.c_str(), section, key, lo, hi,
             describe(*v).c_str());
    return (int)v->num;
}

// layer_norm_eps: finite and in (0, 1] once rounded to float (0 or NaN would make every LayerNorm
// of a constant row, or every row, NaN).
static float get_eps(const Json& j, const char* section, const std::string& path) {
    const Json* v = j.find("layer_norm_eps");
    if (!v || v->type == Json::Null) return 1e-5f;
    const float f = v->type == Json::Number ? (float)v->num : NAN;
    if (!(f > 0.0f && f <= 1.0f))
        fail("%s: %slayer_norm_eps must be a finite number in (0, 1] (got %s)", path.c_str(), section,
             describe(*v).c_str());
    return f;
}

static bool parse_act(const Json& j, const char* section, const std::string& path) {
    const Json* v = j.find("hidden_act");
    if (!v) return true;  // transformers' default for CLIP is quick_gelu
    if (v->type == Json::String && v->str == "quick_gelu") return true;
    if (v->type == Json::String && v->str == "gelu") return false;
    fail("%s: %shidden_act '%s' is not supported (reco supports quick_gelu and gelu)", path.c_str(), section,
         v->type == Json::String ? v->str.c_str() : describe(*v).c_str());
}

// One tower's sizes; defaults are transformers' CLIPTextConfig / CLIPVisionConfig (ViT-B/32).
static ClipTowerConfig parse_tower(const Json& j, const char* section, bool text, const std::string& path) {
    ClipTowerConfig t;
    t.hidden = get_int(j, section, "hidden_size", text ? 512 : 768, 1, kMaxWidth, path);
    t.mlp = get_int(j, section, "intermediate_size", text ? 2048 : 3072, 1, kMaxMlp, path);
    t.layers = get_int(j, section, "num_hidden_layers", 12, 1, kMaxLayers, path);
    t.heads = get_int(j, section, "num_attention_heads", text ? 8 : 12, 1, kMaxWidth, path);
    t.eps = get_eps(j, section, path);
    t.quick_gelu = parse_act(j, section, path);
    if (t.hidden % t.heads)
        fail("%s: %shidden_size %d is not divisible by num_attention_heads %d", path.c_str(), section, t.hidden,
             t.heads);
    return t;
}

ClipConfig clip_config_from_json(const Json& j, const std::string& path) {
    if (j.type != Json::Object) fail("%s: not a JSON object", path.c_str());
    const Json* tc = j.find("text_config");
    const Json* vc = j.find("vision_config");
    if (!tc || tc->type != Json::Object || !vc || vc->type != Json::Object)
        fail("%s: not a CLIP config (text_config / vision_config missing)", path.c_str());
    const char *T = "text_config.", *V = "vision_config.";
    ClipConfig c;
    c.text = parse_tower(*tc, T, true, path);
    c.vocab_size = get_int(*tc, T, "vocab_size", 49408, 49408, kMaxVocab, path);  // CLIP's BPE needs 49408 ids
    c.max_positions = get_int(*tc, T, "max_position_embeddings", 77, 77, kMaxPositions, path);  // 77 tokens
    c.vision = parse_tower(*vc, V, false, path);
    c.image_size = get_int(*vc, V, "image_size", 224, 1, kMaxImage, path);
    c.patch = get_int(*vc, V, "patch_size", 32, 1, kMaxImage, path);
    c.projection_dim = get_int(j, "", "projection_dim", 512, 1, kMaxWidth, path);
    if (c.image_size % c.patch)
        fail("%s: vision_config.image_size %d is not a multiple of vision_config.patch_size %d", path.c_str(),
             c.image_size, c.patch);
    if (c.grid() > kMaxGrid)
        fail("%s: vision_config.image_size / patch_size = %d patches per side; reco allows at most %d", path.c_str(),
             c.grid(), kMaxGrid);
    return c;
}

ClipConfig parse_clip_config(const std::string& path) {
    return clip_config_from_json(parse_json(read_file(path), path), path);
}

// Calls fn(name, shape, dst) for every tensor the config implies, dst being the vector of m it fills
// (q, k and v all go to qkv_w / qkv_b, in that order: one fused [3C, C] matrix). Written once, used
// twice: to check the whole checkpoint header before any weight is converted, then to load.
// m's layer vectors must already have the config's lengths.
template <class Fn>
static void for_each_tensor(const ClipConfig& c, ClipModel& m, Fn&& fn) {
    auto layer = [&](const std::string& pre, int64_t C, int64_t M, ClipLayer& L) {
        fn(pre + "layer_norm1.weight", {C}, L.ln1_w);
        fn(pre + "layer_norm1.bias", {C}, L.ln1_b);
        for (const char* p : {"q_proj", "k_proj", "v_proj"}) {
            fn(pre + "self_attn." + p + ".weight", {C, C}, L.qkv_w);
            fn(pre + "self_attn." + p + ".bias", {C}, L.qkv_b);
        }
        fn(pre + "self_attn.out_proj.weight", {C, C}, L.out_w);
        fn(pre + "self_attn.out_proj.bias", {C}, L.out_b);
        fn(pre + "layer_norm2.weight", {C}, L.ln2_w);
        fn(pre + "layer_norm2.bias", {C}, L.ln2_b);
        fn(pre + "mlp.fc1.weight", {M, C}, L.fc1_w);
        fn(pre + "mlp.fc1.bias", {M}, L.fc1_b);
        fn(pre + "mlp.fc2.weight", {C, M}, L.fc2_w);
        fn(pre + "mlp.fc2.bias", {C}, L.fc2_b);
    };
    const int64_t Cv = c.vision.hidden, Ct = c.text.hidden, E = c.projection_dim, P = c.patch;
    ClipVision& v = m.vision;
    fn("vision_model.embeddings.patch_embedding.weight", {Cv, 3, P, P}, v.patch_w);
    fn("vision_model.embeddings.class_embedding", {Cv}, v.class_emb);
    fn("vision_model.embeddings.position_embedding.weight", {(int64_t)c.vision_tokens(), Cv}, v.pos_emb);
    fn("vision_model.pre_layrnorm.weight", {Cv}, v.pre_ln_w);
    fn("vision_model.pre_layrnorm.bias", {Cv}, v.pre_ln_b);
    for (int l = 0; l < c.vision.layers; l++)
        layer("vision_model.encoder.layers." + std::to_string(l) + ".", Cv, c.vision.mlp, v.layers[l]);
    fn("vision_model.post_layernorm.weight", {Cv}, v.post_ln_w);
    fn("vision_model.post_layernorm.bias", {Cv}, v.post_ln_b);
    fn("visual_projection.weight", {E, Cv}, v.proj);
    ClipText& t = m.text;
    fn("text_model.embeddings.token_embedding.weight", {(int64_t)c.vocab_size, Ct}, t.tok_emb);
    fn("text_model.embeddings.position_embedding.weight", {(int64_t)c.max_positions, Ct}, t.pos_emb);
    for (int l = 0; l < c.text.layers; l++)
        layer("text_model.encoder.layers." + std::to_string(l) + ".", Ct, c.text.mlp, t.layers[l]);
    fn("text_model.final_layer_norm.weight", {Ct}, t.final_ln_w);
    fn("text_model.final_layer_norm.bias", {Ct}, t.final_ln_b);
    fn("text_projection.weight", {E, Ct}, t.proj);
}

// How many encoder layers PREFIX has in the checkpoint (layers 0..n-1 present, by their first tensor).
static int checkpoint_layers(const SafeTensors& st, const std::string& prefix) {
    int n = 0;
    while (n <= kMaxLayers && st.has(prefix + std::to_string(n) + ".layer_norm1.weight")) n++;
    return n;
}

// Index of the first NaN or ±Inf in v, or v.size(). One branch-free pass (an integer OR over the
// exponent bits vectorises; std::isfinite in a loop with an early exit does not).
static size_t first_non_finite(const std::vector<float>& v) {
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

ClipModel ClipModel::load(const std::string& dir) {
    ClipModel m;
    m.dir = dir;
    std::string cfg_path = dir + "/config.json", st_path = dir + "/model.safetensors";
    if (!file_exists(cfg_path)) fail("%s: missing (a model directory needs config.json and model.safetensors)", cfg_path.c_str());
    if (!file_exists(st_path)) {
        if (file_exists(dir + "/pytorch_model.bin"))
            fail("%s: missing; only pytorch_model.bin is there, which reco cannot read (pickle). "
                 "Download the safetensors file (weights/download.sh) or convert it.", st_path.c_str());
        fail("%s: missing (a model directory needs config.json and model.safetensors)", st_path.c_str());
    }
    {
        Json j = parse_json(read_file(cfg_path), cfg_path);
        m.cfg = clip_config_from_json(j, cfg_path);
        const Json* n = j.find("_name_or_path");
        m.name = (n && n->type == Json::String && !n->str.empty()) ? n->str : dir;
    }
    const ClipConfig& c = m.cfg;
    SafeTensors st(st_path);

    // 1. The header against the config, before any weight is converted: a config that disagrees with
    //    the checkpoint (layer count, a width) fails here at once, having allocated nothing.
    struct { const char* tower; const char* prefix; int layers; } towers[] = {
        {"vision", "vision_model.encoder.layers.", c.vision.layers},
        {"text", "text_model.encoder.layers.", c.text.layers},
    };
    for (auto& t : towers) {
        int have = checkpoint_layers(st, t.prefix);
        if (have != t.layers)
            fail("%s: has %d %s layers but %s says %s_config.num_hidden_layers = %d", st_path.c_str(), have, t.tower,
                 cfg_path.c_str(), t.tower, t.layers);
    }
    m.vision.layers.resize(c.vision.layers);
    m.text.layers.resize(c.text.layers);
    for_each_tensor(c, m, [&](const std::string& name, const std::vector<int64_t>& shape, std::vector<float>&) {
        st.check_shape(name, shape);
    });
    if (st.has("logit_scale") && st.info("logit_scale").numel() != 1)
        fail("%s: logit_scale must be a scalar", st_path.c_str());

    // 2. Convert to fp32. Every weight must be finite: one NaN would silently turn every embedding
    //    into NaN, which then ranks arbitrarily in top-k and classification.
    auto finite = [&](const std::string& name, const std::vector<float>& v) {
        size_t i = first_non_finite(v);
        if (i < v.size())
            fail("%s: tensor '%s' holds a non-finite value (%g at flat index %zu): the checkpoint is corrupt",
                 st_path.c_str(), name.c_str(), v[i], i);
    };
    for_each_tensor(c, m, [&](const std::string& name, const std::vector<int64_t>& shape, std::vector<float>& dst) {
        std::vector<float> w = st.to_f32(name, shape);
        finite(name, w);
        if (dst.empty()) dst = std::move(w);
        else dst.insert(dst.end(), w.begin(), w.end());  // k and v after q
    });
    if (st.has("logit_scale")) {
        auto ls = st.to_f32("logit_scale");
        finite("logit_scale", ls);
        m.logit_scale = ls[0];
    }
    return m;
}

void ClipModel::pack_for_cpu() const {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    if (!vision.patch_p.data.empty()) return;  // already packed
    {
        auto& self = const_cast<ClipModel&>(*this);
        auto pack_layers = [](std::vector<ClipLayer>& layers, const ClipTowerConfig& t) {
            const int C = t.hidden, M = t.mlp;
            for (ClipLayer& L : layers) {
                pack_weight(L.qkv_p, L.qkv_w.data(), 3 * C, C);
                pack_weight(L.out_p, L.out_w.data(), C, C);
                pack_weight(L.fc1_p, L.fc1_w.data(), M, C);
                pack_weight(L.fc2_p, L.fc2_w.data(), C, M);
            }
        };
        pack_layers(self.vision.layers, cfg.vision);
        pack_layers(self.text.layers, cfg.text);
        pack_weight(self.vision.patch_p, vision.patch_w.data(), cfg.vision.hidden, 3 * cfg.patch * cfg.patch);
    }
}

size_t ClipModel::parameter_count() const {
    auto layer = [](const ClipLayer& L) {
        return L.ln1_w.size() + L.ln1_b.size() + L.qkv_w.size() + L.qkv_b.size() + L.out_w.size() + L.out_b.size() +
               L.ln2_w.size() + L.ln2_b.size() + L.fc1_w.size() + L.fc1_b.size() + L.fc2_w.size() + L.fc2_b.size();
    };
    size_t n = vision.patch_w.size() + vision.class_emb.size() + vision.pos_emb.size() + vision.pre_ln_w.size() +
               vision.pre_ln_b.size() + vision.post_ln_w.size() + vision.post_ln_b.size() + vision.proj.size();
    for (auto& L : vision.layers) n += layer(L);
    n += text.tok_emb.size() + text.pos_emb.size() + text.final_ln_w.size() + text.final_ln_b.size() + text.proj.size();
    for (auto& L : text.layers) n += layer(L);
    return n + 1;  // + logit_scale
}

}  // namespace reco
