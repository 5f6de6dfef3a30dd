// clip_gpu.cu — CLIP's image and text towers on the GPU (see clip_gpu.h).
//
// The forward passes of clip_vision.cpp / clip_text.cpp (hf CLIPModel.get_image_features /
// get_text_features, research/anchors.md A.3), step for step:
//
//   image: pixels → im2col → patch GEMM (fp32 out) → [CLS; patches] + pos → pre_layrnorm (fp32, in
//          place) → L layers → LN(post) of row b·T (CLS) → visual_projection GEMM (fp32 out)
//   text:  ids → tok_emb + pos (the batch cut after its last EOT, as the CPU) → L causal layers →
//          LN(final) of row b·T + eot_b → text_projection GEMM (fp32 out)
//   layer: see the table at the top of tower_kernels.cuh; the layer stack, weight upload, pooling and
//   batching are shared with the SigLIP towers (tower_gpu.cuh).
//
// Precision: weights and GEMM activations in act_t (fp16 or bf16), fp32 accumulation in every GEMM,
// fp32 residual stream, fp32 LayerNorm / softmax statistics, the tiny vectors (biases, LayerNorm
// parameters, class and position embeddings, the token-embedding table) kept in fp32.
// Memory: weights once (≈ 2 bytes per GEMM weight); a workspace sized for the largest pass.
#include "clip_gpu.h"

#include <algorithm>
#include <vector>

#include "tower_gpu.cuh"  // the machinery shared with siglip_gpu.cu

namespace reco {

namespace {

constexpr int kEOT = 49407;
constexpr int kContext = 77;

// Pool position of one sequence: the first EOT; without any, the argmax (clip_text.cpp's rule).
int eot_position(const int* ids, int T) {
    for (int t = 0; t < T; t++)
        if (ids[t] == kEOT) return t;
    return (int)(std::max_element(ids, ids + T) - ids);
}

template <class T>
class ClipTowers : public tower::Towers<T> {
    using Base = tower::Towers<T>;
    using Base::need;
    using Base::up16;
    using Base::up32;
    using Base::ws_;
    using Base::stream_;

public:
    ClipTowers(const ClipModel& m, int max_batch)
        : Base("ClipGpu", max_batch, (size_t)3 * m.cfg.image_size * m.cfg.image_size, m.cfg.projection_dim,
               kContext, m.cfg.vocab_size),
          cfg_(m.cfg) {
        const ClipConfig& c = cfg_;
        const int Cv = c.vision.hidden, Ct = c.text.hidden, E = c.projection_dim, P = c.patch;
        // vision
        need(m.vision.patch_w, (size_t)Cv * 3 * P * P, "vision patch_embedding");
        vis_.patch_w = up16(m.vision.patch_w);
        vis_.class_emb = up32(need(m.vision.class_emb, Cv, "vision class_embedding"));
        vis_.pos = up32(need(m.vision.pos_emb, (size_t)c.vision_tokens() * Cv, "vision position_embedding"));
        vis_.pre_w = up32(need(m.vision.pre_ln_w, Cv, "pre_layrnorm"));
        vis_.pre_b = up32(need(m.vision.pre_ln_b, Cv, "pre_layrnorm"));
        vis_.post_w = up32(need(m.vision.post_ln_w, Cv, "post_layernorm"));
        vis_.post_b = up32(need(m.vision.post_ln_b, Cv, "post_layernorm"));
        vis_.proj = up16(need(m.vision.proj, (size_t)E * Cv, "visual_projection"));
        vis_layers_ = this->up_layers(m.vision.layers, c.vision, "vision");
        // text
        text_.tok = up32(need(m.text.tok_emb, (size_t)c.vocab_size * Ct, "token_embedding"));
        text_.pos = up32(need(m.text.pos_emb, (size_t)c.max_positions * Ct, "text position_embedding"));
        text_.fin_w = up32(need(m.text.final_ln_w, Ct, "final_layer_norm"));
        text_.fin_b = up32(need(m.text.final_ln_b, Ct, "final_layer_norm"));
        text_.proj = up16(need(m.text.proj, (size_t)E * Ct, "text_projection"));
        text_layers_ = this->up_layers(m.text.layers, c.text, "text");
        if (c.max_positions < kContext)
            fail("ClipGpu: the text tower has %d positions, fewer than 77", c.max_positions);
        CUDA_CHECK(cudaDeviceSynchronize());
    }

private:
    struct VisionDev {
        DevBuf<T> patch_w, proj;
        DevBuf<float> class_emb, pos, pre_w, pre_b, post_w, post_b;
    };
    struct TextDev {
        DevBuf<float> tok, pos, fin_w, fin_b;
        DevBuf<T> proj;
    };

    void image_pass(const float* pix, int B, float* out) override {
        const ClipConfig& c = cfg_;
        const int Tv = c.vision_tokens(), C = c.vision.hidden;
        // patch embedding: conv(stride = kernel = P, no bias) as im2col + GEMM
        this->patch_embed(pix, B, c.image_size, c.patch, vis_.patch_w, C);
        ws_.x.reserve((size_t)B * Tv * C);
        // [CLS; patches] + positions, then pre_layrnorm in place: this is the residual stream
        tower::vision_embed_kernel<<<tower::grid_for((size_t)B * Tv * C), 256, 0, stream_>>>(
            ws_.x.get(), ws_.patches.get(), vis_.class_emb.get(), vis_.pos.get(), B, Tv, C);
        KERNEL_CHECK();
        tower::layernorm_kernel<float><<<tower::rows_grid(B * Tv), 256, 0, stream_>>>(
            ws_.x.get(), ws_.x.get(), nullptr, vis_.pre_w.get(), vis_.pre_b.get(), B * Tv, C, c.vision.eps);
        KERNEL_CHECK();
        this->run_layers(vis_layers_, c.vision, B, Tv, /*causal=*/false);
        // CLS token (row b·Tv) → post_layernorm → visual_projection
        std::vector<int> rows(B);
        for (int b = 0; b < B; b++) rows[b] = b * Tv;
        this->pool_project(rows, vis_.post_w, vis_.post_b, vis_.proj, nullptr, C, c.vision.eps, B, out);
    }

    void text_pass(const int* ids, int B, float* out) override {
        const ClipConfig& c = cfg_;
        const int C = c.text.hidden;
        // pool positions and the cut: positions after the batch's last EOT cannot reach any pooled row
        std::vector<int> pool(B);
        int Tn = 1;
        for (int b = 0; b < B; b++) {
            pool[b] = eot_position(ids + (size_t)b * kContext, kContext);
            Tn = std::max(Tn, pool[b] + 1);
        }
        ws_.ids.reserve((size_t)B * kContext);
        CUDA_CHECK(cudaMemcpyAsync(ws_.ids.get(), ids, (size_t)B * kContext * sizeof(int), cudaMemcpyHostToDevice,
                                   stream_));
        ws_.x.reserve((size_t)B * Tn * C);
        tower::text_embed_kernel<<<tower::grid_for((size_t)B * Tn * C), 256, 0, stream_>>>(
            ws_.x.get(), ws_.ids.get(), kContext, text_.tok.get(), text_.pos.get(), B, Tn, C);
        KERNEL_CHECK();
        this->run_layers(text_layers_, c.text, B, Tn, /*causal=*/true);
        // final_layer_norm is per token: applying it to the pooled rows only is the same
        std::vector<int> rows(B);
        for (int b = 0; b < B; b++) rows[b] = b * Tn + pool[b];
        this->pool_project(rows, text_.fin_w, text_.fin_b, text_.proj, nullptr, C, c.text.eps, B, out);
    }

    ClipConfig cfg_;
    VisionDev vis_;
    TextDev text_;
    std::vector<tower::LayerDev<T>> vis_layers_, text_layers_;
};

}  // namespace

struct ClipGpu::Impl {
    std::unique_ptr<tower::TowersBase> towers;
    bool bf16 = false;
};

ClipGpu::ClipGpu(const ClipModel& m, bool bf16, int max_batch) : impl_(new Impl) {
    impl_->bf16 = bf16;
    if (bf16) impl_->towers.reset(new ClipTowers<__nv_bfloat16>(m, max_batch));
    else impl_->towers.reset(new ClipTowers<__half>(m, max_batch));
}

ClipGpu::~ClipGpu() = default;

void ClipGpu::encode_images(const float* pixels, int B, float* out) {
    if (B > 0) impl_->towers->encode_images(pixels, B, out, /*device_io=*/false);
}
void ClipGpu::encode_texts(const int* ids, int B, float* out) {
    if (B > 0) impl_->towers->encode_texts(ids, B, out);
}
void ClipGpu::encode_images_device(const float* pixels_dev, int B, float* out_dev) {
    if (B > 0) impl_->towers->encode_images(pixels_dev, B, out_dev, /*device_io=*/true);
}
size_t ClipGpu::weight_bytes() const { return impl_->towers->bytes; }
bool ClipGpu::bf16() const { return impl_->bf16; }

}  // namespace reco
