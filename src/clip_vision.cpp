// clip_vision.cpp — CLIP's image tower on the CPU (hf CLIPVisionTransformer + visual_projection).
//
//   pixels [B,3,S,S] → patches (conv stride=kernel=P, no bias, as a GEMM over im2col rows)
//   → [CLS; patches] + position embedding → pre_layrnorm → L encoder layers
//   → token 0 → post_layernorm → visual_projection  = image features [B,E]
#include <cstring>

#include "clip_block.h"
#include "clip_model.h"
#include "ops.h"

namespace reco {

void clip_encode_images_debug(const ClipModel& m, const float* pixels, int B, float* out, ClipDebug* dbg) {
    m.pack_for_cpu();
    const ClipConfig& c = m.cfg;
    const ClipVision& v = m.vision;
    const int C = c.vision.hidden, P = c.patch, S = c.image_size, G = c.grid(), T = c.vision_tokens();
    const int K = 3 * P * P, E = c.projection_dim;

    // patch embedding
    std::vector<float> cols((size_t)B * G * G * K), patches((size_t)B * G * G * C);
    im2col_patches(pixels, B, S, P, cols.data());
    matmul_forward_packed(patches.data(), cols.data(), v.patch_p, nullptr, B * G * G);
    cols.clear();
    cols.shrink_to_fit();

    // [CLS; patches] + positions, then pre-LN
    std::vector<float> x((size_t)B * T * C), h((size_t)B * T * C);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float* src = t == 0 ? v.class_emb.data() : patches.data() + ((size_t)b * G * G + t - 1) * C;
            const float* pos = v.pos_emb.data() + (size_t)t * C;
            float* dst = h.data() + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) dst[i] = src[i] + pos[i];
        }
    layernorm_forward(x.data(), h.data(), v.pre_ln_w.data(), v.pre_ln_b.data(), B * T, C, c.vision.eps);
    if (dbg) dbg->hidden.assign(1, x);

    BlockWorkspace ws;
    for (const ClipLayer& L : v.layers) {
        clip_block_forward(L, c.vision, x.data(), B, T, /*causal=*/false, ws);
        if (dbg) dbg->hidden.push_back(x);
    }

    // pool the class token, post-LN on the pooled vector only, project
    std::vector<float> cls((size_t)B * C), pooled((size_t)B * C);
    for (int b = 0; b < B; b++) memcpy(&cls[(size_t)b * C], &x[(size_t)b * T * C], C * sizeof(float));
    layernorm_forward(pooled.data(), cls.data(), v.post_ln_w.data(), v.post_ln_b.data(), B, C, c.vision.eps);
    matmul_forward(out, pooled.data(), v.proj.data(), nullptr, B, C, E);
}

void clip_encode_images(const ClipModel& m, const float* pixels, int B, float* out) {
    clip_encode_images_debug(m, pixels, B, out, nullptr);
}

}  // namespace reco
