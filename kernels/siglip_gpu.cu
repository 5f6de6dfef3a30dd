// siglip_gpu.cu — SigLIP's image and text towers on the GPU (see siglip_gpu.h).
//
// The forward passes of siglip_towers.cpp (hf SiglipModel.get_image_features / get_text_features,
// SPEC §8), step for step, on the layer stack, weight upload, pooling and batching shared with the CLIP
// towers (tower_gpu.cuh; the layer table is at the top of tower_kernels.cuh):
//
//   image: pixels → im2col → patch GEMM (fp32 out) → + patch bias + pos (no class token, no pre-LN;
//          vision_embed_kernel) → L bidirectional layers (gelu_pytorch_tanh) → post_layernorm of EVERY
//          token (act_t) → MAP head:
//            q  = probe·W_qᵀ + b_q             once, on the host at load (matmul_forward, as the CPU)
//            kv = h·W_{k|v}ᵀ                   cuBLAS, act_t out; biases added by the attention kernel
//            o  = softmax(q·kᵀ·hd^-½)·v        map_attention_kernel, one warp per (image, head)
//            a  = o·W_oᵀ + b_o                 cuBLAS fp32 out, + bias into the fp32 output (residual_layernorm,
//                                              which also writes LN(a))
//            out = a + fc2(act(fc1(LN(a))))    cuBLAS + bias_act_kernel + cuBLAS fp32 out + residual
//          The head's residual and its two Linear outputs stay fp32: they ARE the features (no LayerNorm or
//          projection follows that would average a 16-bit rounding away).
//   text:  ids [B,64] → tok_emb + pos over all 64 positions (padding included: SigLIP attends to it) →
//          L bidirectional layers → final_layer_norm of row b·64 + 63 → head GEMM (fp32 out) + head bias
//
// Precision as the CLIP towers: act_t (fp16/bf16) weights and GEMM activations, fp32 accumulation, fp32
// residual stream, fp32 statistics; small vectors (biases, LayerNorm parameters, positions, the probe's q,
// the token-embedding table) in fp32.
#include "siglip_gpu.h"

#include <vector>

#include "ops.h"  // matmul_forward (the probe's query, as the CPU computes it)
#include "tower_gpu.cuh"

namespace reco {

namespace {

template <class T>
class SiglipTowers : public tower::Towers<T> {
    using Base = tower::Towers<T>;
    using Base::blas_;
    using Base::need;
    using Base::stream_;
    using Base::up16;
    using Base::up32;
    using Base::ws_;

public:
    SiglipTowers(const SiglipModel& m, int max_batch)
        : Base("SiglipGpu", max_batch, (size_t)3 * m.cfg.image_size * m.cfg.image_size, m.cfg.embed_dim,
               m.cfg.max_positions, m.cfg.vocab_size),
          cfg_(m.cfg) {
        const SiglipConfig& c = cfg_;
        const SiglipVision& v = m.vision;
        const SiglipText& t = m.text;
        const int Cv = c.vision.hidden, Ct = c.text.hidden, E = c.embed_dim, P = c.patch, Mv = c.vision.mlp;
        if (E != Cv) fail("SiglipGpu: embed_dim %d differs from the vision width %d", E, Cv);
        // vision
        vis_.patch_w = up16(need(v.patch_w, (size_t)Cv * 3 * P * P, "vision patch_embedding weight"));
        vis_.patch_b = up32(need(v.patch_b, Cv, "vision patch_embedding bias"));
        vis_.pos = up32(need(v.pos_emb, (size_t)c.vision_tokens() * Cv, "vision position_embedding"));
        vis_layers_ = this->up_layers(v.layers, c.vision, "vision");
        vis_.post_w = up32(need(v.post_ln_w, Cv, "post_layernorm"));
        vis_.post_b = up32(need(v.post_ln_b, Cv, "post_layernorm"));
        // MAP head: the probe's query is the same for every image
        need(v.probe, Cv, "head.probe");
        need(v.in_proj_w, (size_t)3 * Cv * Cv, "head.attention.in_proj_weight");
        need(v.in_proj_b, (size_t)3 * Cv, "head.attention.in_proj_bias");
        std::vector<float> q(Cv);
        matmul_forward(q.data(), v.probe.data(), v.in_proj_w.data(), v.in_proj_b.data(), 1, Cv, Cv);
        map_.q = up32(q);
        map_.kv_w = up16(std::vector<float>(v.in_proj_w.begin() + (size_t)Cv * Cv, v.in_proj_w.end()));
        map_.kv_b = up32(std::vector<float>(v.in_proj_b.begin() + Cv, v.in_proj_b.end()));
        map_.out_w = up16(need(v.attn_out_w, (size_t)Cv * Cv, "head.attention.out_proj weight"));
        map_.out_b = up32(need(v.attn_out_b, Cv, "head.attention.out_proj bias"));
        map_.ln_w = up32(need(v.head_ln_w, Cv, "head.layernorm"));
        map_.ln_b = up32(need(v.head_ln_b, Cv, "head.layernorm"));
        map_.fc1_w = up16(need(v.fc1_w, (size_t)Mv * Cv, "head.mlp.fc1 weight"));
        map_.fc1_b = up32(need(v.fc1_b, Mv, "head.mlp.fc1 bias"));
        map_.fc2_w = up16(need(v.fc2_w, (size_t)Cv * Mv, "head.mlp.fc2 weight"));
        map_.fc2_b = up32(need(v.fc2_b, Cv, "head.mlp.fc2 bias"));
        // text
        text_.tok = up32(need(t.tok_emb, (size_t)c.vocab_size * Ct, "token_embedding"));
        text_.pos = up32(need(t.pos_emb, (size_t)c.max_positions * Ct, "text position_embedding"));
        text_layers_ = this->up_layers(t.layers, c.text, "text");
        text_.fin_w = up32(need(t.final_ln_w, Ct, "final_layer_norm"));
        text_.fin_b = up32(need(t.final_ln_b, Ct, "final_layer_norm"));
        text_.head_w = up16(need(t.head_w, (size_t)E * Ct, "text head weight"));
        text_.head_b = up32(need(t.head_b, E, "text head bias"));
        CUDA_CHECK(cudaDeviceSynchronize());
    }

private:
    struct VisionDev {
        DevBuf<T> patch_w;
        DevBuf<float> patch_b, pos, post_w, post_b;
    };
    struct MapDev {  // SiglipMultiheadAttentionPoolingHead
        DevBuf<float> q, kv_b, out_b, ln_w, ln_b, fc1_b, fc2_b;
        DevBuf<T> kv_w, out_w, fc1_w, fc2_w;
    };
    struct TextDev {
        DevBuf<float> tok, pos, fin_w, fin_b, head_b;
        DevBuf<T> head_w;
    };

    void image_pass(const float* pix, int B, float* out) override {
        const SiglipConfig& c = cfg_;
        const ClipTowerConfig& tc = c.vision;
        const int Tv = c.vision_tokens(), C = tc.hidden, M = tc.mlp, N = B * Tv;
        // patch conv (im2col + GEMM) + its bias + positions: the residual stream (no class token, no pre-LN)
        this->patch_embed(pix, B, c.image_size, c.patch, vis_.patch_w, C);
        ws_.x.reserve((size_t)N * C);
        tower::vision_embed_kernel<<<tower::grid_for((size_t)N * C), 256, 0, stream_>>>(
            ws_.x.get(), ws_.patches.get(), /*class_emb=*/nullptr, vis_.pos.get(), B, Tv, C, vis_.patch_b.get());
        KERNEL_CHECK();
        this->run_layers(vis_layers_, tc, B, Tv, /*causal=*/false);
        // post_layernorm over every token (the head attends to all of them) → k|v projections
        ws_.ln.reserve((size_t)N * C);
        ws_.qkv.reserve((size_t)N * 2 * C);
        tower::layernorm_kernel<T><<<tower::rows_grid(N), 256, 0, stream_>>>(
            ws_.ln.get(), ws_.x.get(), nullptr, vis_.post_w.get(), vis_.post_b.get(), N, C, tc.eps);
        KERNEL_CHECK();
        gemm_linear<T, T>(blas_, ws_.qkv.get(), ws_.ln.get(), map_.kv_w.get(), N, C, 2 * C);
        // the probe attends to the tokens: o [B, C]
        ws_.att.reserve((size_t)B * C);
        tower::map_attention<T>(ws_.att.get(), map_.q.get(), ws_.qkv.get(), map_.kv_b.get(), B, Tv, C, tc.heads,
                                stream_);
        // a = o·W_oᵀ + b_o into out (fp32: out = 0 + (y + b_o)), ln = LN(a)
        yf_.reserve((size_t)B * C);
        ws_.h.reserve((size_t)B * M);
        gemm_linear<T, float>(blas_, yf_.get(), ws_.att.get(), map_.out_w.get(), B, C, C);
        CUDA_CHECK(cudaMemsetAsync(out, 0, (size_t)B * C * sizeof(float), stream_));
        const int rg = tower::rows_grid(B);
        tower::residual_layernorm_kernel<float, T><<<rg, 256, 0, stream_>>>(
            out, yf_.get(), map_.out_b.get(), ws_.ln.get(), map_.ln_w.get(), map_.ln_b.get(), B, C, tc.eps);
        KERNEL_CHECK();
        // out = a + fc2(act(fc1(LN(a))))  — the residual is a, before the LayerNorm
        gemm_linear<T, T>(blas_, ws_.h.get(), ws_.ln.get(), map_.fc1_w.get(), B, C, M);
        tower::bias_act_kernel<T><<<tower::grid_for((size_t)B * M), 256, 0, stream_>>>(ws_.h.get(), map_.fc1_b.get(),
                                                                                      (size_t)B, M, tc.act);
        KERNEL_CHECK();
        gemm_linear<T, float>(blas_, yf_.get(), ws_.h.get(), map_.fc2_w.get(), B, M, C);
        tower::residual_layernorm_kernel<float, T><<<rg, 256, 0, stream_>>>(out, yf_.get(), map_.fc2_b.get(), nullptr,
                                                                           nullptr, nullptr, B, C, tc.eps);
        KERNEL_CHECK();
    }

    void text_pass(const int* ids, int B, float* out) override {
        const SiglipConfig& c = cfg_;
        const int C = c.text.hidden, L = c.max_positions;
        ws_.ids.reserve((size_t)B * L);
        CUDA_CHECK(cudaMemcpyAsync(ws_.ids.get(), ids, (size_t)B * L * sizeof(int), cudaMemcpyHostToDevice, stream_));
        ws_.x.reserve((size_t)B * L * C);
        tower::text_embed_kernel<<<tower::grid_for((size_t)B * L * C), 256, 0, stream_>>>(
            ws_.x.get(), ws_.ids.get(), L, text_.tok.get(), text_.pos.get(), B, L, C);
        KERNEL_CHECK();
        this->run_layers(text_layers_, c.text, B, L, /*causal=*/false);
        // final_layer_norm is per token: applying it to the pooled (last) rows only is the same
        std::vector<int> rows(B);
        for (int b = 0; b < B; b++) rows[b] = b * L + L - 1;
        this->pool_project(rows, text_.fin_w, text_.fin_b, text_.head_w, text_.head_b.get(), C, c.text.eps, B, out);
    }

    SiglipConfig cfg_;
    VisionDev vis_;
    MapDev map_;
    TextDev text_;
    std::vector<tower::LayerDev<T>> vis_layers_, text_layers_;
    DevBuf<float> yf_;  // the MAP head's fp32 Linear outputs [B, C]
};

}  // namespace

struct SiglipGpu::Impl {
    std::unique_ptr<tower::TowersBase> towers;
    bool bf16 = false;
};

SiglipGpu::SiglipGpu(const SiglipModel& m, bool bf16, int max_batch) : impl_(new Impl) {
    impl_->bf16 = bf16;
    if (bf16) impl_->towers.reset(new SiglipTowers<__nv_bfloat16>(m, max_batch));
    else impl_->towers.reset(new SiglipTowers<__half>(m, max_batch));
}

SiglipGpu::~SiglipGpu() = default;

void SiglipGpu::encode_images(const float* pixels, int B, float* out) {
    if (B > 0) impl_->towers->encode_images(pixels, B, out, /*device_io=*/false);
}
void SiglipGpu::encode_texts(const int* ids, int B, float* out) {
    if (B > 0) impl_->towers->encode_texts(ids, B, out);
}
void SiglipGpu::encode_images_device(const float* pixels_dev, int B, float* out_dev) {
    if (B > 0) impl_->towers->encode_images(pixels_dev, B, out_dev, /*device_io=*/true);
}
size_t SiglipGpu::weight_bytes() const { return impl_->towers->bytes; }
bool SiglipGpu::bf16() const { return impl_->bf16; }

}  // namespace reco
