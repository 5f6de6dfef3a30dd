// clip_block.h — one pre-LN transformer encoder layer of CLIP (both towers).
#pragma once
#include <vector>

#include "clip_model.h"

namespace reco {

// Scratch buffers reused across layers (sized on first use).
struct BlockWorkspace {
    std::vector<float> ln, qkv, att, proj, mlp;
};

// x [B·T, C] in place:
//   x += out_proj(attention(q,k,v of LN1(x)))     (hf CLIPEncoderLayer, self_attn)
//   x += fc2(act(fc1(LN2(x))))                     (hf CLIPMLP; act = quick_gelu or gelu)
// causal = true for the text tower (keys j > i are masked).
void clip_block_forward(const ClipLayer& L, const ClipTowerConfig& cfg, float* x, int B, int T, bool causal,
                        BlockWorkspace& ws);

}  // namespace reco
