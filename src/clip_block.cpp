// clip_block.cpp — the transformer layer shared by CLIP's vision and text towers.
#include "clip_block.h"

#include "ops.h"

namespace reco {

void clip_block_forward(const ClipLayer& L, const ClipTowerConfig& cfg, float* x, int B, int T, bool causal,
                        BlockWorkspace& ws) {
    const int C = cfg.hidden, M = cfg.mlp, N = B * T;
    ws.ln.resize((size_t)N * C);
    ws.qkv.resize((size_t)N * 3 * C);
    ws.att.resize((size_t)N * C);
    ws.proj.resize((size_t)N * C);
    ws.mlp.resize((size_t)N * M);

    // --- attention half ---
    layernorm_forward(ws.ln.data(), x, L.ln1_w.data(), L.ln1_b.data(), N, C, cfg.eps);
    matmul_forward_packed(ws.qkv.data(), ws.ln.data(), L.qkv_p, L.qkv_b.data(), N);
    attention_forward_qkv(ws.att.data(), ws.qkv.data(), B, T, C, cfg.heads, causal);
    matmul_forward_packed(ws.proj.data(), ws.att.data(), L.out_p, L.out_b.data(), N);
    residual_add(x, ws.proj.data(), (size_t)N * C);

    // --- MLP half ---
    layernorm_forward(ws.ln.data(), x, L.ln2_w.data(), L.ln2_b.data(), N, C, cfg.eps);
    matmul_forward_packed(ws.mlp.data(), ws.ln.data(), L.fc1_p, L.fc1_b.data(), N);
    if (cfg.quick_gelu) quick_gelu_inplace(ws.mlp.data(), (size_t)N * M);
    else gelu_inplace(ws.mlp.data(), (size_t)N * M);
    matmul_forward_packed(ws.proj.data(), ws.mlp.data(), L.fc2_p, L.fc2_b.data(), N);
    residual_add(x, ws.proj.data(), (size_t)N * C);
}

}  // namespace reco
