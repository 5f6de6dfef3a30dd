// siglip_model.cpp — config.json parsing and weight loading for a Hugging Face SiglipModel
// (siglip_model.h). The checks are CLIP's (model_config.h): every size range-checked, every tensor's
// shape checked against the config before any weight is converted, non-finite weights refused.
#include "siglip/siglip_model.h"

#include <mutex>

#include "clip_block.h"
#include "common.h"
#include "json.h"
#include "model_config.h"
#include "safetensors.h"

namespace reco {

using namespace cfg;

// SigLIP checkpoints use gelu_pytorch_tanh (transformers' default); the other two are accepted too.
static const Activation kSiglipActs[] = {Activation::gelu_tanh, Activation::gelu, Activation::quick_gelu};

// One tower; defaults are transformers' SiglipTextConfig / SiglipVisionConfig (base, patch 16, 224).
static ClipTowerConfig parse_tower(const Json& j, const char* section, const std::string& path) {
    ClipTowerConfig t;
    t.hidden = get_int(j, section, "hidden_size", 768, 1, kMaxWidth, path);
    t.mlp = get_int(j, section, "intermediate_size", 3072, 1, kMaxMlp, path);
    t.layers = get_int(j, section, "num_hidden_layers", 12, 1, kMaxLayers, path);
    t.heads = get_int(j, section, "num_attention_heads", 12, 1, kMaxWidth, path);
    t.eps = get_eps(j, section, path, 1e-6f);
    t.act = get_act(j, section, path, Activation::gelu_tanh, kSiglipActs, 3);
    if (t.hidden % t.heads)
        fail("%s: %shidden_size %d is not divisible by num_attention_heads %d", path.c_str(), section, t.hidden,
             t.heads);
    return t;
}

SiglipConfig siglip_config_from_json(const Json& j, const std::string& path) {
    if (family_from_json(j, path) != ModelFamily::siglip)
        fail("%s: not a SigLIP config (model_type must be \"siglip\")", path.c_str());
    const Json* tc = j.find("text_config");
    const Json* vc = j.find("vision_config");
    // transformers builds both sub-configs from their defaults when absent; only objects are accepted here
    static const Json empty_object = [] { Json o; o.type = Json::Object; return o; }();
    if (tc && tc->type == Json::Null) tc = nullptr;
    if (vc && vc->type == Json::Null) vc = nullptr;
    if ((tc && tc->type != Json::Object) || (vc && vc->type != Json::Object))
        fail("%s: text_config and vision_config must be objects", path.c_str());
    if (!tc) tc = &empty_object;
    if (!vc) vc = &empty_object;
    const char *T = "text_config.", *V = "vision_config.";
    SiglipConfig c;
    c.text = parse_tower(*tc, T, path);
    c.vocab_size = get_int(*tc, T, "vocab_size", 32000, 1, kMaxVocab, path);
    c.max_positions = get_int(*tc, T, "max_position_embeddings", 64, 1, kMaxPositions, path);
    c.embed_dim = get_int(*tc, T, "projection_size", c.text.hidden, 1, kMaxWidth, path);
    c.vision = parse_tower(*vc, V, path);
    c.image_size = get_int(*vc, V, "image_size", 224, 1, kMaxImage, path);
    c.patch = get_int(*vc, V, "patch_size", 16, 1, kMaxImage, path);
    get_int(*vc, V, "num_channels", 3, 3, 3, path);  // RGB only
    const Json* use_head = vc->find("vision_use_head");
    if (use_head && !(use_head->type == Json::Bool && use_head->b) && use_head->type != Json::Null)
        fail("%s: vision_config.vision_use_head must be true (reco needs the MAP head: the image embedding)",
             path.c_str());
    if (c.image_size % c.patch)
        fail("%s: vision_config.image_size %d is not a multiple of vision_config.patch_size %d", path.c_str(),
             c.image_size, c.patch);
    if (c.grid() > kMaxGrid)
        fail("%s: vision_config.image_size / patch_size = %d patches per side; reco allows at most %d", path.c_str(),
             c.grid(), kMaxGrid);
    if (c.embed_dim != c.vision.hidden)
        fail("%s: the text embedding width (text_config.projection_size or hidden_size, %d) differs from the image "
             "embedding width (vision_config.hidden_size, %d): they must be equal to compare texts with images",
             path.c_str(), c.embed_dim, c.vision.hidden);
    return c;
}

SiglipConfig parse_siglip_config(const std::string& path) {
    return siglip_config_from_json(parse_json(read_file(path), path), path);
}

// Every tensor the config implies: fn(name, shape, dst). Used to check the header, then to load.
template <class Fn>
static void for_each_tensor(const SiglipConfig& c, SiglipModel& m, Fn&& fn) {
    const int64_t Cv = c.vision.hidden, Ct = c.text.hidden, E = c.embed_dim, P = c.patch, Mv = c.vision.mlp;
    SiglipVision& v = m.vision;
    const std::string V = "vision_model.", H = "vision_model.head.";
    fn(V + "embeddings.patch_embedding.weight", {Cv, 3, P, P}, v.patch_w);
    fn(V + "embeddings.patch_embedding.bias", {Cv}, v.patch_b);
    fn(V + "embeddings.position_embedding.weight", {(int64_t)c.vision_tokens(), Cv}, v.pos_emb);
    for (int l = 0; l < c.vision.layers; l++)
        for_each_layer_tensor(V + "encoder.layers." + std::to_string(l) + ".", Cv, Mv, v.layers[l], fn);
    fn(V + "post_layernorm.weight", {Cv}, v.post_ln_w);
    fn(V + "post_layernorm.bias", {Cv}, v.post_ln_b);
    fn(H + "probe", {1, 1, Cv}, v.probe);
    fn(H + "attention.in_proj_weight", {3 * Cv, Cv}, v.in_proj_w);
    fn(H + "attention.in_proj_bias", {3 * Cv}, v.in_proj_b);
    fn(H + "attention.out_proj.weight", {Cv, Cv}, v.attn_out_w);
    fn(H + "attention.out_proj.bias", {Cv}, v.attn_out_b);
    fn(H + "layernorm.weight", {Cv}, v.head_ln_w);
    fn(H + "layernorm.bias", {Cv}, v.head_ln_b);
    fn(H + "mlp.fc1.weight", {Mv, Cv}, v.fc1_w);
    fn(H + "mlp.fc1.bias", {Mv}, v.fc1_b);
    fn(H + "mlp.fc2.weight", {Cv, Mv}, v.fc2_w);
    fn(H + "mlp.fc2.bias", {Cv}, v.fc2_b);
    SiglipText& t = m.text;
    const std::string T = "text_model.";
    fn(T + "embeddings.token_embedding.weight", {(int64_t)c.vocab_size, Ct}, t.tok_emb);
    fn(T + "embeddings.position_embedding.weight", {(int64_t)c.max_positions, Ct}, t.pos_emb);
    for (int l = 0; l < c.text.layers; l++)
        for_each_layer_tensor(T + "encoder.layers." + std::to_string(l) + ".", Ct, c.text.mlp, t.layers[l], fn);
    fn(T + "final_layer_norm.weight", {Ct}, t.final_ln_w);
    fn(T + "final_layer_norm.bias", {Ct}, t.final_ln_b);
    fn(T + "head.weight", {E, Ct}, t.head_w);
    fn(T + "head.bias", {E}, t.head_b);
}

SiglipModel SiglipModel::load(const std::string& dir) {
    SiglipModel m;
    m.dir = dir;
    const std::string cfg_path = dir + "/config.json", st_path = model_weights_path(dir);
    {
        Json j = parse_json(read_file(cfg_path), cfg_path);
        m.cfg = siglip_config_from_json(j, cfg_path);
        m.name = model_name(j, dir);
    }
    const SiglipConfig& c = m.cfg;
    SafeTensors st(st_path);
    check_layer_counts(st, st_path, cfg_path, c.vision.layers, c.text.layers);
    m.vision.layers.resize(c.vision.layers);
    m.text.layers.resize(c.text.layers);
    load_checked_tensors(st, st_path, [&](auto&& fn) { for_each_tensor(c, m, fn); });
    load_scalar(st, st_path, "logit_scale", &m.logit_scale);
    load_scalar(st, st_path, "logit_bias", &m.logit_bias);
    return m;
}

void SiglipModel::pack_for_cpu() const {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    if (vision.patch_p.panels > 0) return;  // already packed
    auto& self = const_cast<SiglipModel&>(*this);
    pack_layers_for_cpu(self.vision.layers, cfg.vision, precision);
    pack_layers_for_cpu(self.text.layers, cfg.text, precision);
    pack_weight(self.vision.patch_p, vision.patch_w.data(), cfg.vision.hidden, 3 * cfg.patch * cfg.patch, precision);
    const int C = cfg.vision.hidden, M = cfg.vision.mlp;
    pack_weight(self.vision.head_kv_p, vision.in_proj_w.data() + (size_t)C * C, 2 * C, C);  // the k and v rows
    pack_weight(self.vision.head_out_p, vision.attn_out_w.data(), C, C);
    pack_weight(self.vision.head_fc1_p, vision.fc1_w.data(), M, C);
    pack_weight(self.vision.head_fc2_p, vision.fc2_w.data(), C, M);
}

size_t SiglipModel::parameter_count() const {
    const SiglipVision& v = vision;
    size_t n = 2;  // logit_scale, logit_bias
    for (const auto* x : {&v.patch_w, &v.patch_b, &v.pos_emb, &v.post_ln_w, &v.post_ln_b, &v.probe, &v.in_proj_w,
                          &v.in_proj_b, &v.attn_out_w, &v.attn_out_b, &v.head_ln_w, &v.head_ln_b, &v.fc1_w, &v.fc1_b,
                          &v.fc2_w, &v.fc2_b, &text.tok_emb, &text.pos_emb, &text.final_ln_w, &text.final_ln_b,
                          &text.head_w, &text.head_b})
        n += x->size();
    for (const auto* layers : {&vision.layers, &text.layers})
        for (const ClipLayer& L : *layers) n += layer_parameter_count(L);
    return n;
}

}  // namespace reco
