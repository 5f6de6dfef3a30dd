// clip_gpu.cu — CLIP's image and text towers on the GPU (see clip_gpu.h).
//
// The forward passes of clip_vision.cpp / clip_text.cpp (hf CLIPModel.get_image_features /
// get_text_features, research/anchors.md A.3), step for step:
//
//   image: pixels → im2col → patch GEMM (fp32 out) → [CLS; patches] + pos → pre_layrnorm (fp32, in
//          place) → L layers → LN(post) of row b·T (CLS) → visual_projection GEMM (fp32 out)
//   text:  ids → tok_emb + pos (the batch cut after its last EOT, as the CPU) → L causal layers →
//          LN(final) of row b·T + eot_b → text_projection GEMM (fp32 out)
//   layer: see the table at the top of tower_kernels.cuh.
//
// Precision: weights and GEMM activations in act_t (fp16 or bf16), fp32 accumulation in every GEMM,
// fp32 residual stream, fp32 LayerNorm / softmax statistics, the tiny vectors (biases, LayerNorm
// parameters, class and position embeddings, the token-embedding table) kept in fp32.
// Memory: weights once (≈ 2 bytes per GEMM weight); a workspace sized for the largest pass.
#include "clip_gpu.h"

#include <algorithm>
#include <vector>

#include "cuda_util.cuh"
#include "safetensors.h"  // float_to_half, float_to_bf16
#include "tower_kernels.cuh"

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
uint16_t to_bits(float f);
template <>
uint16_t to_bits<__half>(float f) { return float_to_half(f); }
template <>
uint16_t to_bits<__nv_bfloat16>(float f) { return float_to_bf16(f); }

// One layer's weights on the device.
template <class T>
struct LayerDev {
    DevBuf<T> qkv_w, out_w, fc1_w, fc2_w;
    DevBuf<float> ln1_w, ln1_b, qkv_b, out_b, ln2_w, ln2_b, fc1_b, fc2_b;
};

struct TowersBase {
    virtual ~TowersBase() = default;
    virtual void encode_images(const float* pixels, int B, float* out, bool device_io) = 0;
    virtual void encode_texts(const int* ids, int B, float* out) = 0;
    size_t bytes = 0;
};

template <class T>
class Towers : public TowersBase {
public:
    Towers(const ClipModel& m, int max_batch) : cfg_(m.cfg) {
        max_images_ = max_batch > 0 ? max_batch : 256;
        max_texts_ = max_batch > 0 ? max_batch : 1024;
        CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        CUBLAS_CHECK(cublasCreate(&blas_));
        CUBLAS_CHECK(cublasSetStream(blas_, stream_));
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
        if ((int)m.vision.layers.size() != c.vision.layers)
            fail("ClipGpu: the vision tower has the wrong number of layers");
        for (const ClipLayer& L : m.vision.layers) vis_layers_.push_back(up_layer(L, c.vision));
        // text
        text_.tok = up32(need(m.text.tok_emb, (size_t)c.vocab_size * Ct, "token_embedding"));
        text_.pos = up32(need(m.text.pos_emb, (size_t)c.max_positions * Ct, "text position_embedding"));
        text_.fin_w = up32(need(m.text.final_ln_w, Ct, "final_layer_norm"));
        text_.fin_b = up32(need(m.text.final_ln_b, Ct, "final_layer_norm"));
        text_.proj = up16(need(m.text.proj, (size_t)E * Ct, "text_projection"));
        if ((int)m.text.layers.size() != c.text.layers) fail("ClipGpu: the text tower has the wrong number of layers");
        for (const ClipLayer& L : m.text.layers) text_layers_.push_back(up_layer(L, c.text));
        if (c.max_positions < kContext)
            fail("ClipGpu: the text tower has %d positions, fewer than 77", c.max_positions);
        CUDA_CHECK(cudaDeviceSynchronize());
    }
    ~Towers() override {
        cublasDestroy(blas_);
        cudaStreamDestroy(stream_);
    }

    void encode_images(const float* pixels, int B, float* out, bool device_io) override {
        const ClipConfig& c = cfg_;
        const size_t per = (size_t)3 * c.image_size * c.image_size;
        const int E = c.projection_dim;
        for (int b0 = 0; b0 < B; b0 += max_images_) {
            const int nb = std::min(max_images_, B - b0);
            const float* pix = pixels + (size_t)b0 * per;
            if (!device_io) {
                ws_.pix.reserve((size_t)nb * per);
                CUDA_CHECK(cudaMemcpyAsync(ws_.pix.get(), pix, (size_t)nb * per * sizeof(float),
                                           cudaMemcpyHostToDevice, stream_));
                pix = ws_.pix.get();
            }
            float* dout = device_io ? out + (size_t)b0 * E : (ws_.out.reserve((size_t)nb * E), ws_.out.get());
            image_pass(pix, nb, dout);
            if (!device_io)
                CUDA_CHECK(cudaMemcpyAsync(out + (size_t)b0 * E, dout, (size_t)nb * E * sizeof(float),
                                           cudaMemcpyDeviceToHost, stream_));
            CUDA_CHECK(cudaStreamSynchronize(stream_));
        }
    }

    void encode_texts(const int* ids, int B, float* out) override {
        const ClipConfig& c = cfg_;
        const int E = c.projection_dim;
        for (int b = 0; b < B; b++)  // the CPU's check and message (clip_text.cpp)
            for (int t = 0; t < kContext; t++) {
                const int id = ids[(size_t)b * kContext + t];
                if (id < 0 || id >= c.vocab_size)
                    fail("token id %d at position %d is outside the vocabulary (%d)", id, t, c.vocab_size);
            }
        for (int b0 = 0; b0 < B; b0 += max_texts_) {
            const int nb = std::min(max_texts_, B - b0);
            ws_.out.reserve((size_t)nb * E);
            text_pass(ids + (size_t)b0 * kContext, nb, ws_.out.get());
            CUDA_CHECK(cudaMemcpyAsync(out + (size_t)b0 * E, ws_.out.get(), (size_t)nb * E * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream_));
            CUDA_CHECK(cudaStreamSynchronize(stream_));
        }
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
    struct Workspace {
        DevBuf<float> pix, x, patches, out;
        DevBuf<T> cols, ln, qkv, att, y, h, pooled;
        DevBuf<int> ids, rows;
    };

    static const std::vector<float>& need(const std::vector<float>& v, size_t n, const char* what) {
        if (v.size() != n) fail("ClipGpu: %s has %zu values, expected %zu", what, v.size(), n);
        return v;
    }
    DevBuf<T> up16(const std::vector<float>& v) {
        std::vector<uint16_t> bits(v.size());
        for (size_t i = 0; i < v.size(); i++) bits[i] = to_bits<T>(v[i]);
        DevBuf<T> d(v.size());
        CUDA_CHECK(cudaMemcpy(d.get(), bits.data(), bits.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
        bytes += v.size() * sizeof(T);
        return d;
    }
    DevBuf<float> up32(const std::vector<float>& v) {
        DevBuf<float> d(v.size());
        CUDA_CHECK(cudaMemcpy(d.get(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
        bytes += v.size() * sizeof(float);
        return d;
    }
    LayerDev<T> up_layer(const ClipLayer& L, const ClipTowerConfig& tc) {
        const size_t C = tc.hidden, M = tc.mlp;
        LayerDev<T> d;
        d.ln1_w = up32(need(L.ln1_w, C, "layer_norm1"));
        d.ln1_b = up32(need(L.ln1_b, C, "layer_norm1"));
        d.qkv_w = up16(need(L.qkv_w, 3 * C * C, "q/k/v_proj weight"));
        d.qkv_b = up32(need(L.qkv_b, 3 * C, "q/k/v_proj bias"));
        d.out_w = up16(need(L.out_w, C * C, "out_proj weight"));
        d.out_b = up32(need(L.out_b, C, "out_proj bias"));
        d.ln2_w = up32(need(L.ln2_w, C, "layer_norm2"));
        d.ln2_b = up32(need(L.ln2_b, C, "layer_norm2"));
        d.fc1_w = up16(need(L.fc1_w, M * C, "fc1 weight"));
        d.fc1_b = up32(need(L.fc1_b, M, "fc1 bias"));
        d.fc2_w = up16(need(L.fc2_w, C * M, "fc2 weight"));
        d.fc2_b = up32(need(L.fc2_b, C, "fc2 bias"));
        return d;
    }

    // The encoder layers over x [B·Tn, C] (fp32, in place). See tower_kernels.cuh for the table.
    void run_layers(const std::vector<LayerDev<T>>& layers, const ClipTowerConfig& tc, int B, int Tn, bool causal) {
        const int N = B * Tn, C = tc.hidden, M = tc.mlp;
        if (layers.empty()) return;
        ws_.ln.reserve((size_t)N * C);
        ws_.qkv.reserve((size_t)N * 3 * C);
        ws_.att.reserve((size_t)N * C);
        ws_.y.reserve((size_t)N * C);
        ws_.h.reserve((size_t)N * M);
        float* x = ws_.x.get();
        T *ln = ws_.ln.get(), *qkv = ws_.qkv.get(), *att = ws_.att.get(), *y = ws_.y.get(), *h = ws_.h.get();
        const int rg = tower::rows_grid(N);
        tower::layernorm_kernel<T><<<rg, 256, 0, stream_>>>(ln, x, nullptr, layers[0].ln1_w.get(),
                                                            layers[0].ln1_b.get(), N, C, tc.eps);
        KERNEL_CHECK();
        for (size_t l = 0; l < layers.size(); l++) {
            const LayerDev<T>& L = layers[l];
            const LayerDev<T>* next = l + 1 < layers.size() ? &layers[l + 1] : nullptr;
            // attention half: x += out_proj(attn(LN1(x)));  ln = LN2(x)
            gemm_linear<T, T>(blas_, qkv, ln, L.qkv_w.get(), N, C, 3 * C);
            tower::attention_forward<T>(att, qkv, L.qkv_b.get(), B, Tn, C, tc.heads, causal, stream_);
            gemm_linear<T, T>(blas_, y, att, L.out_w.get(), N, C, C);
            tower::residual_layernorm_kernel<T, T><<<rg, 256, 0, stream_>>>(x, y, L.out_b.get(), ln, L.ln2_w.get(),
                                                                          L.ln2_b.get(), N, C, tc.eps);
            KERNEL_CHECK();
            // MLP half: x += fc2(act(fc1(LN2(x))));  ln = LN1 of the next layer (none after the last)
            gemm_linear<T, T>(blas_, h, ln, L.fc1_w.get(), N, C, M);
            tower::bias_act_kernel<T><<<tower::grid_for((size_t)N * M), 256, 0, stream_>>>(h, L.fc1_b.get(), (size_t)N,
                                                                                          M, tc.act == Activation::quick_gelu);
            KERNEL_CHECK();
            gemm_linear<T, T>(blas_, y, h, L.fc2_w.get(), N, M, C);
            tower::residual_layernorm_kernel<T, T><<<rg, 256, 0, stream_>>>(
                x, y, L.fc2_b.get(), next ? ln : nullptr, next ? next->ln1_w.get() : nullptr,
                next ? next->ln1_b.get() : nullptr, N, C, tc.eps);
            KERNEL_CHECK();
        }
    }

    // LN(rows) → act_t [B,C] → projection GEMM → out fp32 [B,E] (device).
    void pool_project(const std::vector<int>& rows, const DevBuf<float>& ln_w, const DevBuf<float>& ln_b,
                      const DevBuf<T>& proj, int C, float eps, int B, float* out) {
        ws_.rows.reserve(B);
        CUDA_CHECK(cudaMemcpyAsync(ws_.rows.get(), rows.data(), B * sizeof(int), cudaMemcpyHostToDevice, stream_));
        ws_.pooled.reserve((size_t)B * C);
        tower::layernorm_kernel<T><<<tower::rows_grid(B), 256, 0, stream_>>>(ws_.pooled.get(), ws_.x.get(),
                                                                             ws_.rows.get(), ln_w.get(), ln_b.get(),
                                                                             B, C, eps);
        KERNEL_CHECK();
        gemm_linear<T, float>(blas_, out, ws_.pooled.get(), proj.get(), B, C, cfg_.projection_dim);
        // rows is a host vector: keep it alive until the copy has run
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    void image_pass(const float* pix, int B, float* out) {
        const ClipConfig& c = cfg_;
        const int S = c.image_size, P = c.patch, G = c.grid(), K = 3 * P * P, Tv = c.vision_tokens();
        const int C = c.vision.hidden;
        const size_t npatch = (size_t)B * G * G;
        ws_.cols.reserve(npatch * K);
        ws_.patches.reserve(npatch * C);
        ws_.x.reserve((size_t)B * Tv * C);
        // patch embedding: conv(stride = kernel = P, no bias) as im2col + GEMM
        tower::im2col_kernel<T><<<tower::grid_for(npatch * K), 256, 0, stream_>>>(ws_.cols.get(), pix, B, S, P);
        KERNEL_CHECK();
        gemm_linear<T, float>(blas_, ws_.patches.get(), ws_.cols.get(), vis_.patch_w.get(), (int)npatch, K, C);
        // [CLS; patches] + positions, then pre_layrnorm in place: this is the residual stream
        tower::vision_embed_kernel<<<tower::grid_for((size_t)B * Tv * C), 256, 0, stream_>>>(
            ws_.x.get(), ws_.patches.get(), vis_.class_emb.get(), vis_.pos.get(), B, Tv, C);
        KERNEL_CHECK();
        tower::layernorm_kernel<float><<<tower::rows_grid(B * Tv), 256, 0, stream_>>>(
            ws_.x.get(), ws_.x.get(), nullptr, vis_.pre_w.get(), vis_.pre_b.get(), B * Tv, C, c.vision.eps);
        KERNEL_CHECK();
        run_layers(vis_layers_, c.vision, B, Tv, /*causal=*/false);
        // CLS token (row b·Tv) → post_layernorm → visual_projection
        std::vector<int> rows(B);
        for (int b = 0; b < B; b++) rows[b] = b * Tv;
        pool_project(rows, vis_.post_w, vis_.post_b, vis_.proj, C, c.vision.eps, B, out);
    }

    void text_pass(const int* ids, int B, float* out) {
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
        run_layers(text_layers_, c.text, B, Tn, /*causal=*/true);
        // final_layer_norm is per token: applying it to the pooled rows only is the same
        std::vector<int> rows(B);
        for (int b = 0; b < B; b++) rows[b] = b * Tn + pool[b];
        pool_project(rows, text_.fin_w, text_.fin_b, text_.proj, C, c.text.eps, B, out);
    }

    ClipConfig cfg_;
    int max_images_ = 256, max_texts_ = 1024;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t blas_ = nullptr;
    VisionDev vis_;
    TextDev text_;
    std::vector<LayerDev<T>> vis_layers_, text_layers_;
    Workspace ws_;
};

}  // namespace

struct ClipGpu::Impl {
    std::unique_ptr<TowersBase> towers;
    bool bf16 = false;
};

ClipGpu::ClipGpu(const ClipModel& m, bool bf16, int max_batch) : impl_(new Impl) {
    impl_->bf16 = bf16;
    if (bf16) impl_->towers.reset(new Towers<__nv_bfloat16>(m, max_batch));
    else impl_->towers.reset(new Towers<__half>(m, max_batch));
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
