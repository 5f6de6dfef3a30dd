// clip_model.cpp — config.json parsing and weight loading for a Hugging Face CLIPModel.
// Every tensor's shape is checked against the config; errors name the file and the tensor.
#include "clip_model.h"

#include <mutex>

#include "common.h"
#include "json.h"
#include "safetensors.h"

namespace reco {

// Read an integer field, falling back to transformers' CLIPConfig default when absent.
static int get_int(const Json& j, const char* key, int def, const std::string& path) {
    const Json* v = j.find(key);
    if (!v || v->type == Json::Null) return def;
    if (!v->is_int() || v->num <= 0 || v->num > 1e7) fail("%s: '%s' must be a positive integer", path.c_str(), key);
    return (int)v->num;
}

static float get_float(const Json& j, const char* key, float def, const std::string& path) {
    const Json* v = j.find(key);
    if (!v || v->type == Json::Null) return def;
    if (v->type != Json::Number) fail("%s: '%s' must be a number", path.c_str(), key);
    return (float)v->num;
}

static bool parse_act(const Json& j, const std::string& path) {
    const Json* v = j.find("hidden_act");
    if (!v) return true;  // transformers' default for CLIP is quick_gelu
    if (v->type == Json::String && v->str == "quick_gelu") return true;
    if (v->type == Json::String && v->str == "gelu") return false;
    fail("%s: unsupported hidden_act '%s' (reco supports quick_gelu and gelu)", path.c_str(),
         v->type == Json::String ? v->str.c_str() : "?");
}

ClipConfig parse_clip_config(const std::string& path) {
    Json j = parse_json(read_file(path), path);
    if (j.type != Json::Object) fail("%s: not a JSON object", path.c_str());
    const Json* tc = j.find("text_config");
    const Json* vc = j.find("vision_config");
    if (!tc || tc->type != Json::Object || !vc || vc->type != Json::Object)
        fail("%s: not a CLIP config (text_config / vision_config missing)", path.c_str());
    ClipConfig c;
    // defaults are transformers' CLIPTextConfig / CLIPVisionConfig defaults (ViT-B/32)
    c.text.hidden = get_int(*tc, "hidden_size", 512, path);
    c.text.mlp = get_int(*tc, "intermediate_size", 2048, path);
    c.text.layers = get_int(*tc, "num_hidden_layers", 12, path);
    c.text.heads = get_int(*tc, "num_attention_heads", 8, path);
    c.text.eps = get_float(*tc, "layer_norm_eps", 1e-5f, path);
    c.text.quick_gelu = parse_act(*tc, path);
    c.vocab_size = get_int(*tc, "vocab_size", 49408, path);
    c.max_positions = get_int(*tc, "max_position_embeddings", 77, path);
    c.vision.hidden = get_int(*vc, "hidden_size", 768, path);
    c.vision.mlp = get_int(*vc, "intermediate_size", 3072, path);
    c.vision.layers = get_int(*vc, "num_hidden_layers", 12, path);
    c.vision.heads = get_int(*vc, "num_attention_heads", 12, path);
    c.vision.eps = get_float(*vc, "layer_norm_eps", 1e-5f, path);
    c.vision.quick_gelu = parse_act(*vc, path);
    c.image_size = get_int(*vc, "image_size", 224, path);
    c.patch = get_int(*vc, "patch_size", 32, path);
    c.projection_dim = get_int(j, "projection_dim", 512, path);
    if (c.image_size % c.patch) fail("%s: image_size %d is not a multiple of patch_size %d", path.c_str(), c.image_size, c.patch);
    if (c.text.hidden % c.text.heads) fail("%s: text hidden_size not divisible by num_attention_heads", path.c_str());
    if (c.vision.hidden % c.vision.heads) fail("%s: vision hidden_size not divisible by num_attention_heads", path.c_str());
    if (c.max_positions < 77) fail("%s: max_position_embeddings %d < 77", path.c_str(), c.max_positions);
    if (c.vocab_size < 49408) fail("%s: vocab_size %d is smaller than CLIP's 49408", path.c_str(), c.vocab_size);
    return c;
}

static void load_layer(const SafeTensors& st, const std::string& pre, int C, int M, ClipLayer& L) {
    auto t = [&](const std::string& n, std::vector<int64_t> shape) { return st.to_f32(pre + n, shape); };
    L.ln1_w = t("layer_norm1.weight", {C});
    L.ln1_b = t("layer_norm1.bias", {C});
    L.qkv_w.clear();
    L.qkv_b.clear();
    for (const char* p : {"q_proj", "k_proj", "v_proj"}) {  // fused in q, k, v order
        auto w = t(std::string("self_attn.") + p + ".weight", {C, C});
        auto b = t(std::string("self_attn.") + p + ".bias", {C});
        L.qkv_w.insert(L.qkv_w.end(), w.begin(), w.end());
        L.qkv_b.insert(L.qkv_b.end(), b.begin(), b.end());
    }
    L.out_w = t("self_attn.out_proj.weight", {C, C});
    L.out_b = t("self_attn.out_proj.bias", {C});
    L.ln2_w = t("layer_norm2.weight", {C});
    L.ln2_b = t("layer_norm2.bias", {C});
    L.fc1_w = t("mlp.fc1.weight", {M, C});
    L.fc1_b = t("mlp.fc1.bias", {M});
    L.fc2_w = t("mlp.fc2.weight", {C, M});
    L.fc2_b = t("mlp.fc2.bias", {C});
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
    m.cfg = parse_clip_config(cfg_path);
    {
        Json j = parse_json(read_file(cfg_path), cfg_path);
        const Json* n = j.find("_name_or_path");
        m.name = (n && n->type == Json::String && !n->str.empty()) ? n->str : dir;
    }
    const ClipConfig& c = m.cfg;
    SafeTensors st(st_path);
    const int Cv = c.vision.hidden, Ct = c.text.hidden, E = c.projection_dim, P = c.patch;
    const int Tv = c.vision_tokens();

    // vision tower
    ClipVision& v = m.vision;
    v.patch_w = st.to_f32("vision_model.embeddings.patch_embedding.weight", {Cv, 3, P, P});
    v.class_emb = st.to_f32("vision_model.embeddings.class_embedding", {Cv});
    v.pos_emb = st.to_f32("vision_model.embeddings.position_embedding.weight", {Tv, Cv});
    v.pre_ln_w = st.to_f32("vision_model.pre_layrnorm.weight", {Cv});
    v.pre_ln_b = st.to_f32("vision_model.pre_layrnorm.bias", {Cv});
    v.layers.resize(c.vision.layers);
    for (int l = 0; l < c.vision.layers; l++)
        load_layer(st, "vision_model.encoder.layers." + std::to_string(l) + ".", Cv, c.vision.mlp, v.layers[l]);
    if (st.has("vision_model.encoder.layers." + std::to_string(c.vision.layers) + ".layer_norm1.weight"))
        fail("%s: has more vision layers than config.json says (%d)", st_path.c_str(), c.vision.layers);
    v.post_ln_w = st.to_f32("vision_model.post_layernorm.weight", {Cv});
    v.post_ln_b = st.to_f32("vision_model.post_layernorm.bias", {Cv});
    v.proj = st.to_f32("visual_projection.weight", {E, Cv});

    // text tower
    ClipText& t = m.text;
    t.tok_emb = st.to_f32("text_model.embeddings.token_embedding.weight", {c.vocab_size, Ct});
    t.pos_emb = st.to_f32("text_model.embeddings.position_embedding.weight", {c.max_positions, Ct});
    t.layers.resize(c.text.layers);
    for (int l = 0; l < c.text.layers; l++)
        load_layer(st, "text_model.encoder.layers." + std::to_string(l) + ".", Ct, c.text.mlp, t.layers[l]);
    if (st.has("text_model.encoder.layers." + std::to_string(c.text.layers) + ".layer_norm1.weight"))
        fail("%s: has more text layers than config.json says (%d)", st_path.c_str(), c.text.layers);
    t.final_ln_w = st.to_f32("text_model.final_layer_norm.weight", {Ct});
    t.final_ln_b = st.to_f32("text_model.final_layer_norm.bias", {Ct});
    t.proj = st.to_f32("text_projection.weight", {E, Ct});

    if (st.has("logit_scale")) {
        auto ls = st.to_f32("logit_scale");
        if (ls.size() != 1) fail("%s: logit_scale must be a scalar", st_path.c_str());
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
