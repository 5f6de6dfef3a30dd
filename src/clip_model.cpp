// clip_model.cpp — config.json parsing and weight loading for a Hugging Face CLIPModel.
// Every tensor's shape is checked against the config; errors name the file and the tensor.
#include "clip_model.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "common.h"
#include "clip_block.h"
#include "json.h"
#include "model_config.h"
#include "safetensors.h"

namespace reco {

using namespace cfg;  // the shared bounds kMax* and the checked field readers


// CLIP's activations: quick_gelu (OpenAI weights, transformers' default) or exact-erf gelu.
static const Activation kClipActs[] = {Activation::quick_gelu, Activation::gelu};

// One tower's sizes; defaults are transformers' CLIPTextConfig / CLIPVisionConfig (ViT-B/32).
static ClipTowerConfig parse_tower(const Json& j, const char* section, bool text, const std::string& path) {
    ClipTowerConfig t;
    t.hidden = get_int(j, section, "hidden_size", text ? 512 : 768, 1, kMaxWidth, path);
    t.mlp = get_int(j, section, "intermediate_size", text ? 2048 : 3072, 1, kMaxMlp, path);
    t.layers = get_int(j, section, "num_hidden_layers", 12, 1, kMaxLayers, path);
    t.heads = get_int(j, section, "num_attention_heads", text ? 8 : 12, 1, kMaxWidth, path);
    t.eps = cfg::get_eps(j, section, path, 1e-5f);
    t.act = cfg::get_act(j, section, path, Activation::quick_gelu, kClipActs, 2);
    if (t.hidden % t.heads)
        fail("%s: %shidden_size %d is not divisible by num_attention_heads %d", path.c_str(), section, t.hidden,
             t.heads);
    return t;
}

ClipConfig clip_config_from_json(const Json& j, const std::string& path) {
    if (j.type != Json::Object) fail("%s: not a JSON object", path.c_str());
    if (family_from_json(j, path) != ModelFamily::clip)
        fail("%s: model_type 'siglip' is not a CLIP config (load it as a SigLIP model)", path.c_str());
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
        for_each_layer_tensor(pre, C, M, L, fn);
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

ClipModel ClipModel::load(const std::string& dir) {
    ClipModel m;
    m.dir = dir;
    const std::string cfg_path = dir + "/config.json", st_path = model_weights_path(dir);
    {
        Json j = parse_json(read_file(cfg_path), cfg_path);
        m.cfg = clip_config_from_json(j, cfg_path);
        m.name = model_name(j, dir);
    }
    const ClipConfig& c = m.cfg;
    SafeTensors st(st_path);

    // 1. The header against the config, before any weight is converted: a config that disagrees with
    //    the checkpoint (layer count, a width) fails here at once, having allocated nothing.
    check_layer_counts(st, st_path, cfg_path, c.vision.layers, c.text.layers);
    m.vision.layers.resize(c.vision.layers);
    m.text.layers.resize(c.text.layers);
    // 2. Shapes, then fp32 conversion. Every weight must be finite: one NaN would silently turn every
    //    embedding into NaN, which then ranks arbitrarily in top-k and classification.
    load_checked_tensors(st, st_path, [&](auto&& fn) { for_each_tensor(c, m, fn); });
    load_scalar(st, st_path, "logit_scale", &m.logit_scale);
    return m;
}

void ClipModel::pack_for_cpu() const {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    if (vision.patch_p.panels > 0) return;  // already packed
    {
        auto& self = const_cast<ClipModel&>(*this);
        pack_layers_for_cpu(self.vision.layers, cfg.vision, precision);
        pack_layers_for_cpu(self.text.layers, cfg.text, precision);
        pack_weight(self.vision.patch_p, vision.patch_w.data(), cfg.vision.hidden, 3 * cfg.patch * cfg.patch, precision);
    }
}

size_t ClipModel::parameter_count() const {
    auto layer = layer_parameter_count;
    size_t n = vision.patch_w.size() + vision.class_emb.size() + vision.pos_emb.size() + vision.pre_ln_w.size() +
               vision.pre_ln_b.size() + vision.post_ln_w.size() + vision.post_ln_b.size() + vision.proj.size();
    for (auto& L : vision.layers) n += layer(L);
    n += text.tok_emb.size() + text.pos_emb.size() + text.final_ln_w.size() + text.final_ln_b.size() + text.proj.size();
    for (auto& L : text.layers) n += layer(L);
    return n + 1;  // + logit_scale
}

}  // namespace reco
