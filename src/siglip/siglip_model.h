// siglip_model.h — a frozen Hugging Face SiglipModel in memory (fp32) and its two towers (SPEC §8).
//
// Loaded from a Hub-style directory: model.safetensors + config.json (model_type "siglip"); the
// tokenizer (spiece.model) and preprocessor_config.json are read by SiglipEncoder (siglip_embed.h).
// Tensor names are transformers' SiglipModel; F32/F16/BF16 weights are converted to fp32 on load,
// every shape is checked against the config first, non-finite weights are refused.
//
// What SigLIP shares with CLIP is used from the CLIP side as is: the pre-LN transformer block
// (clip_block.h, bidirectional here, gelu_pytorch_tanh from the config), the GEMM, attention, LayerNorm.
// What differs lives here:
//   vision  patch conv WITH bias + learned positions (no class token, no pre-LN) → blocks → post_layernorm
//           → MAP head: one probe token attends to all patches (nn.MultiheadAttention, packed in_proj),
//             a = out_proj(attn);  out = a + fc2(act(fc1(LN(a))))        (no projection after it)
//   text    token + position embeddings (64 positions, always all 64: the padding is attended to)
//           → blocks → final_layer_norm → the LAST row (63) → head Linear (with bias)
//   scores  exp(logit_scale)·cos + logit_bias, probabilities = sigmoid
#pragma once
#include <string>
#include <vector>

#include "clip_model.h"

namespace reco {

// Every field is range-checked by siglip_config_from_json (as for CLIP); missing keys take
// transformers' SiglipTextConfig / SiglipVisionConfig defaults (config.json omits them).
struct SiglipConfig {
    ClipTowerConfig vision, text;      // act gelu_pytorch_tanh, eps 1e-6 by default
    int image_size = 224, patch = 16;
    int vocab_size = 32000, max_positions = 64;
    int embed_dim = 768;               // text head output = vision width (the embedding width d)
    int grid() const { return image_size / patch; }
    int vision_tokens() const { return grid() * grid(); }  // no class token
};

struct SiglipVision {
    std::vector<float> patch_w, patch_b;  // [C, 3·P·P] (conv weight flattened), [C]
    std::vector<float> pos_emb;           // [G², C]
    std::vector<ClipLayer> layers;
    std::vector<float> post_ln_w, post_ln_b;
    // MAP head
    std::vector<float> probe;             // [C]
    std::vector<float> in_proj_w, in_proj_b;  // [3C, C] rows q | k | v, [3C]
    std::vector<float> attn_out_w, attn_out_b;  // [C, C], [C]
    std::vector<float> head_ln_w, head_ln_b;
    std::vector<float> fc1_w, fc1_b, fc2_w, fc2_b;  // [M, C], [M], [C, M], [C]
    PackedWeight patch_p;
    PackedWeight head_kv_p, head_out_p, head_fc1_p, head_fc2_p;  // the MAP head's products (fp32), packed once
};

struct SiglipText {
    std::vector<float> tok_emb;           // [V, C]
    std::vector<float> pos_emb;           // [64, C]
    std::vector<ClipLayer> layers;
    std::vector<float> final_ln_w, final_ln_b;
    std::vector<float> head_w, head_b;    // [E, C], [E]
};

struct SiglipModel {
    SiglipConfig cfg;
    SiglipVision vision;
    SiglipText text;
    float logit_scale = 2.302585f;  // ln 10 and −10: the SigLIP paper's initial values (read from the checkpoint)
    float logit_bias = -10.0f;
    std::string dir, name;          // where it was loaded from; "_name_or_path" or the directory
    Precision precision = Precision::fp32;  // of the CPU GEMMs, fixed when pack_for_cpu packs (ops.h)

    static SiglipModel load(const std::string& dir);
    void pack_for_cpu() const;      // once, thread-safe (as ClipModel)
    size_t parameter_count() const;
};

struct Json;
SiglipConfig siglip_config_from_json(const Json& j, const std::string& path);
SiglipConfig parse_siglip_config(const std::string& config_json_path);

// ---- CPU forward passes (fp32, batched); outputs are the UN-normalised features [B, E] ----
// pixels [B,3,S,S] (siglip preprocessing). = SiglipModel.get_image_features
void siglip_encode_images(const SiglipModel& m, const float* pixels, int B, float* out);
// ids [B, 64] (padded to max_position_embeddings). = SiglipModel.get_text_features (no attention mask)
void siglip_encode_texts(const SiglipModel& m, const int* ids, int B, float* out);

// Debugging trail as transformers returns it: hidden[0] = embeddings, hidden[i] after block i
// ([L+1][B·T·C]); last = after post_layernorm / final_layer_norm ([B·T·C]).
struct SiglipDebug {
    std::vector<std::vector<float>> hidden;
    std::vector<float> last;
};
void siglip_encode_images_debug(const SiglipModel& m, const float* pixels, int B, float* out, SiglipDebug* dbg);
void siglip_encode_texts_debug(const SiglipModel& m, const int* ids, int B, float* out, SiglipDebug* dbg);

}  // namespace reco
