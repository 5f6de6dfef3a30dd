// clip_block.h — the pre-LN transformer encoder layer both families share (CLIP's two towers and
// SigLIP's two towers are the same block; they differ only in the activation, from config.json, and in
// the mask: causal for CLIP's text tower, none elsewhere). Also what loading a layer takes: its
// tensor names and shapes (hf CLIPEncoderLayer / SiglipEncoderLayer name them identically) and the
// CPU GEMM packing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "clip_model.h"

namespace reco {

// Scratch buffers reused across layers (sized on first use).
// Where a layer's time goes (tools/bench_towers prints it): seconds per kind of op, summed over
// calls; filled only when BlockWorkspace::profile points at one (the towers leave it null).
struct LayerProfile {
    double gemm = 0, attention = 0, layernorm = 0, activation = 0, residual = 0;
    double total() const { return gemm + attention + layernorm + activation + residual; }
};

struct BlockWorkspace {
    std::vector<float> ln, qkv, att, proj, mlp;
    LayerProfile* profile = nullptr;
};

// x [B·T, C] in place:
//   x += out_proj(attention(q,k,v of LN1(x)))     (hf CLIPEncoderLayer / SiglipEncoderLayer, self_attn)
//   x += fc2(act(fc1(LN2(x))))                     (hf CLIPMLP / SiglipMLP; act = cfg.act)
// causal = true for CLIP's text tower (keys j > i are masked); SigLIP's towers attend bidirectionally.
void clip_block_forward(const ClipLayer& L, const ClipTowerConfig& cfg, float* x, int B, int T, bool causal,
                        BlockWorkspace& ws);

// Calls fn(name, shape, dst) for each tensor of layer PRE ("...encoder.layers.3."), C wide with an
// M-wide MLP; q, k and v all go to L.qkv_w / L.qkv_b, in that order (one fused [3C, C] matrix).
template <class Fn>
void for_each_layer_tensor(const std::string& pre, int64_t C, int64_t M, ClipLayer& L, Fn&& fn) {
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
}

// Repack the four GEMM weights of every layer for the CPU GEMM.
void pack_layers_for_cpu(std::vector<ClipLayer>& layers, const ClipTowerConfig& t, Precision precision = Precision::fp32);
size_t layer_parameter_count(const ClipLayer& L);

// im2col for a patch conv (stride = kernel = P) over pixels [B,3,S,S]: row (b, gy·G+gx) holds the
// patch's pixels in the order of the conv weight [C,3,P,P] flattened (channel, row, column).
void im2col_patches(const float* pixels, int B, int S, int P, float* cols);

}  // namespace reco
