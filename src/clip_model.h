// clip_model.h — a frozen Hugging Face CLIPModel in memory (fp32) and its two towers.
//
// Loaded from a Hub-style directory: model.safetensors + config.json (+ vocab.json and
// merges.txt for the tokenizer). Tensor names are those of transformers' CLIPModel
// (research/anchors.md A.2); F32/F16/BF16 weights are converted to fp32 on load.
// The forward passes follow CLIPModel.get_image_features / get_text_features (SPEC §2).
#pragma once
#include <string>
#include <vector>

#include "ops.h"

namespace reco {

struct ClipTowerConfig {
    int hidden = 0, layers = 0, heads = 0, mlp = 0;
    float eps = 1e-5f;
    Activation act = Activation::quick_gelu;  // hidden_act: "quick_gelu" (OpenAI weights) or "gelu" (exact erf)
};

// Every field is range-checked by clip_config_from_json before anything is computed from it
// (grid ≤ 128 per side, widths ≤ 16384...), so the int arithmetic below and in the towers cannot overflow.
struct ClipConfig {
    ClipTowerConfig vision, text;
    int image_size = 224, patch = 32, projection_dim = 512;
    int vocab_size = 49408, max_positions = 77;
    int grid() const { return image_size / patch; }           // patches per side
    int vision_tokens() const { return grid() * grid() + 1; }  // + class token
};

// One pre-LN transformer block: x += out_proj(attn(LN1(x))); x += fc2(act(fc1(LN2(x)))).
// q/k/v are stored fused as one [3C, C] matrix (rows q, then k, then v) so one GEMM does all three.
struct ClipLayer {
    std::vector<float> ln1_w, ln1_b;
    std::vector<float> qkv_w, qkv_b;  // [3C, C], [3C]
    std::vector<float> out_w, out_b;  // [C, C], [C]
    std::vector<float> ln2_w, ln2_b;
    std::vector<float> fc1_w, fc1_b;  // [M, C], [M]
    std::vector<float> fc2_w, fc2_b;  // [C, M], [C]
    // The four GEMM weights repacked for the CPU GEMM (ClipModel::pack_for_cpu).
    PackedWeight qkv_p, out_p, fc1_p, fc2_p;
};

struct ClipVision {
    std::vector<float> patch_w;        // [C, 3·P·P]  (conv weight [C,3,P,P] flattened; no bias)
    std::vector<float> class_emb;      // [C]
    std::vector<float> pos_emb;        // [T, C], T = grid² + 1
    std::vector<float> pre_ln_w, pre_ln_b;
    std::vector<ClipLayer> layers;
    std::vector<float> post_ln_w, post_ln_b;
    std::vector<float> proj;           // visual_projection [E, C], no bias
    PackedWeight patch_p;              // patch_w packed for the CPU GEMM
};

struct ClipText {
    std::vector<float> tok_emb;        // [V, C]
    std::vector<float> pos_emb;        // [77, C]
    std::vector<ClipLayer> layers;
    std::vector<float> final_ln_w, final_ln_b;
    std::vector<float> proj;           // text_projection [E, C], no bias
};

struct ClipModel {
    ClipConfig cfg;
    ClipVision vision;
    ClipText text;
    float logit_scale = 4.6052f;  // log(100) by default; read from the checkpoint
    std::string dir;              // where it was loaded from
    std::string name;             // "_name_or_path" from config.json, else the directory name
    Precision precision = Precision::fp32;  // of the CPU GEMMs, fixed when pack_for_cpu packs (ops.h)

    // Load DIR/config.json + DIR/model.safetensors; every tensor is checked against the config.
    static ClipModel load(const std::string& dir);
    // Repack every Linear weight once into the CPU GEMM's panel layout (doubles the weights' RAM;
    // done on first CPU use, thread-safe; the CUDA path never needs it).
    void pack_for_cpu() const;
    size_t parameter_count() const;
};

// Parse config.json into a ClipConfig (errors name the file).
ClipConfig parse_clip_config(const std::string& config_json_path);

struct Json;
// The same from an already parsed document; `path` is only used in messages. Every size must lie in a
// sane range (positive, heads dividing the width, patches tiling the image...) and layer_norm_eps must
// be finite and in (0, 1]: the error names the file and the field, e.g. "vision_config.image_size".
ClipConfig clip_config_from_json(const Json& j, const std::string& path);

// ---- CPU forward passes (fp32, batched). Outputs are the projected, UN-normalised features. ----

// pixels: [B, 3, S, S] normalised (clip_preprocess). out: [B, E].
void clip_encode_images(const ClipModel& m, const float* pixels, int B, float* out);
// ids: [B, 77] token ids (OpenAI convention, zero-padded). Pooled at the first 49407. out: [B, E].
void clip_encode_texts(const ClipModel& m, const int* ids, int B, float* out);

// Optional: capture the residual stream after the embeddings and after each layer
// (hidden_states as transformers returns them), for debugging parity. [L+1][B·T·C].
struct ClipDebug {
    std::vector<std::vector<float>> hidden;
};
void clip_encode_images_debug(const ClipModel& m, const float* pixels, int B, float* out, ClipDebug* dbg);
void clip_encode_texts_debug(const ClipModel& m, const int* ids, int B, float* out, ClipDebug* dbg);

}  // namespace reco
