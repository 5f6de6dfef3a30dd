// clip_block.cpp — the transformer layer shared by the CLIP and SigLIP towers (clip_block.h).
#include "clip_block.h"

#include <chrono>
#include <cstring>

#include "ops.h"

namespace reco {

// Runs op, adding its wall time to *slot when profiling (slot null: just runs it).
template <class F>
static void timed(double* slot, F op) {
    if (!slot) return op();
    const auto t0 = std::chrono::steady_clock::now();
    op();
    *slot += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void clip_block_forward(const ClipLayer& L, const ClipTowerConfig& cfg, float* x, int B, int T, bool causal,
                        BlockWorkspace& ws) {
    const int C = cfg.hidden, M = cfg.mlp, N = B * T;
    ws.ln.resize((size_t)N * C);
    ws.qkv.resize((size_t)N * 3 * C);
    ws.att.resize((size_t)N * C);
    ws.proj.resize((size_t)N * C);
    ws.mlp.resize((size_t)N * M);

    LayerProfile* p = ws.profile;
    double* gemm = p ? &p->gemm : nullptr;
    double* ln = p ? &p->layernorm : nullptr;
    double* res = p ? &p->residual : nullptr;

    // --- attention half ---
    timed(ln, [&] { layernorm_forward(ws.ln.data(), x, L.ln1_w.data(), L.ln1_b.data(), N, C, cfg.eps); });
    timed(gemm, [&] { matmul_forward_packed(ws.qkv.data(), ws.ln.data(), L.qkv_p, L.qkv_b.data(), N); });
    timed(p ? &p->attention : nullptr, [&] { attention_forward_qkv(ws.att.data(), ws.qkv.data(), B, T, C, cfg.heads, causal); });
    timed(gemm, [&] { matmul_forward_packed(ws.proj.data(), ws.att.data(), L.out_p, L.out_b.data(), N); });
    timed(res, [&] { residual_add(x, ws.proj.data(), (size_t)N * C); });

    // --- MLP half ---
    timed(ln, [&] { layernorm_forward(ws.ln.data(), x, L.ln2_w.data(), L.ln2_b.data(), N, C, cfg.eps); });
    timed(gemm, [&] { matmul_forward_packed(ws.mlp.data(), ws.ln.data(), L.fc1_p, L.fc1_b.data(), N); });
    timed(p ? &p->activation : nullptr, [&] { activation_inplace(cfg.act, ws.mlp.data(), (size_t)N * M); });
    timed(gemm, [&] { matmul_forward_packed(ws.proj.data(), ws.mlp.data(), L.fc2_p, L.fc2_b.data(), N); });
    timed(res, [&] { residual_add(x, ws.proj.data(), (size_t)N * C); });
}

void pack_layers_for_cpu(std::vector<ClipLayer>& layers, const ClipTowerConfig& t, Precision precision) {
    const int C = t.hidden, M = t.mlp;
    for (ClipLayer& L : layers) {
        pack_weight(L.qkv_p, L.qkv_w.data(), 3 * C, C, precision);
        pack_weight(L.out_p, L.out_w.data(), C, C, precision);
        pack_weight(L.fc1_p, L.fc1_w.data(), M, C, precision);
        pack_weight(L.fc2_p, L.fc2_w.data(), C, M, precision);
    }
}

size_t layer_parameter_count(const ClipLayer& L) {
    return L.ln1_w.size() + L.ln1_b.size() + L.qkv_w.size() + L.qkv_b.size() + L.out_w.size() + L.out_b.size() +
           L.ln2_w.size() + L.ln2_b.size() + L.fc1_w.size() + L.fc1_b.size() + L.fc2_w.size() + L.fc2_b.size();
}

void im2col_patches(const float* pixels, int B, int S, int P, float* cols) {
    const int G = S / P, K = 3 * P * P;
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G * G; g++) {
            int gy = g / G, gx = g % G;
            float* row = cols + ((size_t)b * G * G + g) * K;
            for (int c = 0; c < 3; c++)
                for (int py = 0; py < P; py++) {
                    const float* src = pixels + (((size_t)b * 3 + c) * S + gy * P + py) * S + gx * P;
                    memcpy(row + (c * P + py) * P, src, P * sizeof(float));
                }
        }
}

}  // namespace reco
