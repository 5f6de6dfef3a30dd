// siglip_towers.cpp — SigLIP's two towers on the CPU (hf SiglipVisionTransformer + its MAP head,
// SiglipTextTransformer + head). The blocks are the shared ones (clip_block.h), never masked.
//
//   image: pixels [B,3,S,S] → patch conv (with bias; im2col + GEMM) + position embedding
//          → L blocks → post_layernorm → MAP head → image features [B,E]
//   text:  ids [B,64] → token + position embedding → L blocks → final_layer_norm → row 63 → head → [B,E]
#include <algorithm>
#include <cmath>
#include <cstring>

#include "clip_block.h"
#include "common.h"
#include "ops.h"
#include "siglip/siglip_model.h"

namespace reco {

// SiglipMultiheadAttentionPoolingHead on the post-LN tokens h [B·T, C] of B images:
//   q = probe·Wqᵀ + bq (the same for every image);  k, v = h·Wkᵀ + bk, h·Wvᵀ + bv   (nn.MultiheadAttention's
//   packed in_proj, rows q|k|v);  a = out_proj(softmax(q·kᵀ·hd^-0.5)·v per head);  out = a + fc2(act(fc1(LN(a))))
// The products run over all B images at once with weights packed at load time (pack_for_cpu).
static void map_head(const SiglipModel& m, const float* h, int B, int T, float* out) {
    const SiglipVision& v = m.vision;
    const ClipTowerConfig& tc = m.cfg.vision;
    const int C = tc.hidden, NH = tc.heads, hd = C / NH, M = tc.mlp;
    std::vector<float> q(C), kv((size_t)B * T * 2 * C), att((size_t)B * C), a((size_t)B * C), ln((size_t)B * C),
        mlp((size_t)B * M), y((size_t)B * C);
    matmul_forward(q.data(), v.probe.data(), v.in_proj_w.data(), v.in_proj_b.data(), 1, C, C);
    matmul_forward_packed(kv.data(), h, v.head_kv_p, v.in_proj_b.data() + C, B * T);
    const float scale = 1.0f / std::sqrt((float)hd);
    #pragma omp parallel for collapse(2) if (B * NH > 1)
    for (int b = 0; b < B; b++)
        for (int hh = 0; hh < NH; hh++) {
            const float* qh = q.data() + hh * hd;
            const float* kvb = kv.data() + (size_t)b * T * 2 * C;
            std::vector<float> s(T);
            float mx = -INFINITY;
            for (int t = 0; t < T; t++) {
                const float* kt = kvb + (size_t)t * 2 * C + hh * hd;
                float d = 0;
                for (int i = 0; i < hd; i++) d += qh[i] * kt[i];
                s[t] = d * scale;
                mx = std::max(mx, s[t]);
            }
            float sum = 0;
            for (int t = 0; t < T; t++) sum += (s[t] = std::exp(s[t] - mx));
            float* oh = att.data() + (size_t)b * C + hh * hd;
            std::fill(oh, oh + hd, 0.0f);
            for (int t = 0; t < T; t++) {
                const float* vt = kvb + (size_t)t * 2 * C + C + hh * hd;
                const float p = s[t] / sum;
                for (int i = 0; i < hd; i++) oh[i] += p * vt[i];
            }
        }
    matmul_forward_packed(a.data(), att.data(), v.head_out_p, v.attn_out_b.data(), B);
    layernorm_forward(ln.data(), a.data(), v.head_ln_w.data(), v.head_ln_b.data(), B, C, tc.eps);
    matmul_forward_packed(mlp.data(), ln.data(), v.head_fc1_p, v.fc1_b.data(), B);
    activation_inplace(tc.act, mlp.data(), (size_t)B * M);
    matmul_forward_packed(y.data(), mlp.data(), v.head_fc2_p, v.fc2_b.data(), B);
    for (size_t i = 0; i < (size_t)B * C; i++) out[i] = a[i] + y[i];  // the residual is the attention output, before the LN
}

void siglip_encode_images_debug(const SiglipModel& m, const float* pixels, int B, float* out, SiglipDebug* dbg) {
    m.pack_for_cpu();
    const SiglipConfig& c = m.cfg;
    const SiglipVision& v = m.vision;
    const int C = c.vision.hidden, P = c.patch, S = c.image_size, T = c.vision_tokens(), K = 3 * P * P;

    // patch embedding (conv with bias) + positions; no class token, no pre-LN
    std::vector<float> cols((size_t)B * T * K), x((size_t)B * T * C);
    im2col_patches(pixels, B, S, P, cols.data());
    matmul_forward_packed(x.data(), cols.data(), v.patch_p, v.patch_b.data(), B * T);
    cols.clear();
    cols.shrink_to_fit();
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float* dst = x.data() + ((size_t)b * T + t) * C;
            const float* pos = v.pos_emb.data() + (size_t)t * C;
            for (int i = 0; i < C; i++) dst[i] += pos[i];
        }
    if (dbg) dbg->hidden.assign(1, x);

    BlockWorkspace ws;
    for (const ClipLayer& L : v.layers) {
        clip_block_forward(L, c.vision, x.data(), B, T, /*causal=*/false, ws);
        if (dbg) dbg->hidden.push_back(x);
    }
    // post_layernorm over every token (the MAP head attends to all of them)
    std::vector<float> h((size_t)B * T * C);
    layernorm_forward(h.data(), x.data(), v.post_ln_w.data(), v.post_ln_b.data(), B * T, C, c.vision.eps);
    if (dbg) dbg->last = h;
    map_head(m, h.data(), B, T, out);
}

void siglip_encode_images(const SiglipModel& m, const float* pixels, int B, float* out) {
    siglip_encode_images_debug(m, pixels, B, out, nullptr);
}

void siglip_encode_texts_debug(const SiglipModel& m, const int* ids, int B, float* out, SiglipDebug* dbg) {
    m.pack_for_cpu();
    const SiglipConfig& c = m.cfg;
    const SiglipText& tx = m.text;
    const int C = c.text.hidden, E = c.embed_dim, T = c.max_positions;

    // every position, padding included: attention is bidirectional and unmasked, as SigLIP was trained
    std::vector<float> x((size_t)B * T * C);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const int id = ids[(size_t)b * T + t];
            if (id < 0 || id >= c.vocab_size)
                fail("token id %d at position %d is outside the vocabulary (%d)", id, t, c.vocab_size);
            const float* te = tx.tok_emb.data() + (size_t)id * C;
            const float* pe = tx.pos_emb.data() + (size_t)t * C;
            float* dst = x.data() + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) dst[i] = te[i] + pe[i];
        }
    if (dbg) dbg->hidden.assign(1, x);

    BlockWorkspace ws;
    for (const ClipLayer& L : tx.layers) {
        clip_block_forward(L, c.text, x.data(), B, T, /*causal=*/false, ws);
        if (dbg) dbg->hidden.push_back(x);
    }
    if (dbg) {
        dbg->last.resize(x.size());
        layernorm_forward(dbg->last.data(), x.data(), tx.final_ln_w.data(), tx.final_ln_b.data(), B * T, C, c.text.eps);
    }
    // final LN is per token: applying it to the pooled (last) rows only is the same
    std::vector<float> last((size_t)B * C), pooled((size_t)B * C);
    for (int b = 0; b < B; b++)
        memcpy(&last[(size_t)b * C], &x[((size_t)b * T + T - 1) * C], C * sizeof(float));
    layernorm_forward(pooled.data(), last.data(), tx.final_ln_w.data(), tx.final_ln_b.data(), B, C, c.text.eps);
    matmul_forward(out, pooled.data(), tx.head_w.data(), tx.head_b.data(), B, C, E);
}

void siglip_encode_texts(const SiglipModel& m, const int* ids, int B, float* out) {
    siglip_encode_texts_debug(m, ids, B, out, nullptr);
}

}  // namespace reco
