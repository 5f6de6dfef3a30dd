// tower_gpu.cuh — the host side the CLIP and SigLIP towers on the GPU share (clip_gpu.cu, siglip_gpu.cu):
// weight upload (GEMM weights in act_t = fp16 or bf16, small vectors in fp32, every size checked), the
// encoder-layer stack (the table at the top of tower_kernels.cuh, causal or bidirectional, any of the
// three activations), the pooled-row LayerNorm + projection, and the batching of images and texts into
// device passes. A family supplies image_pass / text_pass (its embeddings and pooling) on top.
// Included by clip_gpu.cu and siglip_gpu.cu. Everything here is in an anonymous namespace, like the
// static kernels of tower_kernels.cuh it launches: each .cu file gets its own copy, so no template
// instantiated in one file can be linked against another file's kernels.
#pragma once
#include <algorithm>
#include <vector>

#include "clip_model.h"  // ClipLayer, ClipTowerConfig
#include "cuda_util.cuh"
#include "safetensors.h"  // float_to_half, float_to_bf16
#include "tower_kernels.cuh"

namespace reco {
namespace tower {
namespace {

template <class T>
inline uint16_t to_bits(float f);
template <>
inline uint16_t to_bits<__half>(float f) { return float_to_half(f); }
template <>
inline uint16_t to_bits<__nv_bfloat16>(float f) { return float_to_bf16(f); }

// One encoder layer's weights on the device.
template <class T>
struct LayerDev {
    DevBuf<T> qkv_w, out_w, fc1_w, fc2_w;
    DevBuf<float> ln1_w, ln1_b, qkv_b, out_b, ln2_w, ln2_b, fc1_b, fc2_b;
};

// What ClipGpu / SiglipGpu hold behind their pimpl (one of the two act_t instantiations).
struct TowersBase {
    virtual ~TowersBase() = default;
    virtual void encode_images(const float* pixels, int B, float* out, bool device_io) = 0;
    virtual void encode_texts(const int* ids, int B, float* out) = 0;
    size_t bytes = 0;
};

// The shared machinery. who: "ClipGpu" / "SiglipGpu" in error messages. img_elems: floats per image
// (3·S·S); out_dim: features per item (both towers); context: ids per text; vocab: the table's rows.
template <class T>
class Towers : public TowersBase {
public:
    Towers(const char* who, int max_batch, size_t img_elems, int out_dim, int context, int vocab)
        : who_(who), img_elems_(img_elems), out_dim_(out_dim), context_(context), vocab_(vocab) {
        max_images_ = max_batch > 0 ? max_batch : 256;
        max_texts_ = max_batch > 0 ? max_batch : 1024;
        CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        CUBLAS_CHECK(cublasCreate(&blas_));
        CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    }
    ~Towers() override {
        cublasDestroy(blas_);
        cudaStreamDestroy(stream_);
    }

    void encode_images(const float* pixels, int B, float* out, bool device_io) override {
        const size_t per = img_elems_;
        const int E = out_dim_;
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
        const int E = out_dim_, L = context_;
        for (int b = 0; b < B; b++)  // the CPU's check and message (clip_text.cpp, siglip_towers.cpp)
            for (int t = 0; t < L; t++) {
                const int id = ids[(size_t)b * L + t];
                if (id < 0 || id >= vocab_)
                    fail("token id %d at position %d is outside the vocabulary (%d)", id, t, vocab_);
            }
        for (int b0 = 0; b0 < B; b0 += max_texts_) {
            const int nb = std::min(max_texts_, B - b0);
            ws_.out.reserve((size_t)nb * E);
            text_pass(ids + (size_t)b0 * L, nb, ws_.out.get());
            CUDA_CHECK(cudaMemcpyAsync(out + (size_t)b0 * E, ws_.out.get(), (size_t)nb * E * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream_));
            CUDA_CHECK(cudaStreamSynchronize(stream_));
        }
    }

protected:
    // One device pass: pix / out are device pointers, ids a host pointer ([B, context]).
    virtual void image_pass(const float* pix, int B, float* out) = 0;
    virtual void text_pass(const int* ids, int B, float* out) = 0;

    struct Workspace {
        DevBuf<float> pix, x, patches, out;
        DevBuf<T> cols, ln, qkv, att, y, h, pooled;
        DevBuf<int> ids, rows;
    };

    const std::vector<float>& need(const std::vector<float>& v, size_t n, const char* what) const {
        if (v.size() != n) fail("%s: %s has %zu values, expected %zu", who_, what, v.size(), n);
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
    std::vector<LayerDev<T>> up_layers(const std::vector<ClipLayer>& layers, const ClipTowerConfig& tc,
                                       const char* tower) {
        if ((int)layers.size() != tc.layers) fail("%s: the %s tower has the wrong number of layers", who_, tower);
        std::vector<LayerDev<T>> d;
        for (const ClipLayer& L : layers) d.push_back(up_layer(L, tc));
        return d;
    }

    // The encoder layers over ws_.x [B·Tn, C] (fp32, in place). See tower_kernels.cuh for the table.
    // causal: CLIP's text tower; SigLIP's towers and CLIP's vision tower are bidirectional.
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
        const int rg = rows_grid(N);
        layernorm_kernel<T><<<rg, 256, 0, stream_>>>(ln, x, nullptr, layers[0].ln1_w.get(), layers[0].ln1_b.get(), N,
                                                     C, tc.eps);
        KERNEL_CHECK();
        for (size_t l = 0; l < layers.size(); l++) {
            const LayerDev<T>& L = layers[l];
            const LayerDev<T>* next = l + 1 < layers.size() ? &layers[l + 1] : nullptr;
            // attention half: x += out_proj(attn(LN1(x)));  ln = LN2(x)
            gemm_linear<T, T>(blas_, qkv, ln, L.qkv_w.get(), N, C, 3 * C);
            attention_forward<T>(att, qkv, L.qkv_b.get(), B, Tn, C, tc.heads, causal, stream_);
            gemm_linear<T, T>(blas_, y, att, L.out_w.get(), N, C, C);
            residual_layernorm_kernel<T, T><<<rg, 256, 0, stream_>>>(x, y, L.out_b.get(), ln, L.ln2_w.get(),
                                                                    L.ln2_b.get(), N, C, tc.eps);
            KERNEL_CHECK();
            // MLP half: x += fc2(act(fc1(LN2(x))));  ln = LN1 of the next layer (none after the last)
            gemm_linear<T, T>(blas_, h, ln, L.fc1_w.get(), N, C, M);
            bias_act_kernel<T><<<grid_for((size_t)N * M), 256, 0, stream_>>>(h, L.fc1_b.get(), (size_t)N, M, tc.act);
            KERNEL_CHECK();
            gemm_linear<T, T>(blas_, y, h, L.fc2_w.get(), N, M, C);
            residual_layernorm_kernel<T, T><<<rg, 256, 0, stream_>>>(
                x, y, L.fc2_b.get(), next ? ln : nullptr, next ? next->ln1_w.get() : nullptr,
                next ? next->ln1_b.get() : nullptr, N, C, tc.eps);
            KERNEL_CHECK();
        }
    }

    // LN(ws_.x rows) → act_t [B,C] → projection GEMM (+ bias when given) → out fp32 [B,E] (device).
    void pool_project(const std::vector<int>& rows, const DevBuf<float>& ln_w, const DevBuf<float>& ln_b,
                      const DevBuf<T>& proj, const float* proj_b, int C, float eps, int B, float* out) {
        ws_.rows.reserve(B);
        CUDA_CHECK(cudaMemcpyAsync(ws_.rows.get(), rows.data(), B * sizeof(int), cudaMemcpyHostToDevice, stream_));
        ws_.pooled.reserve((size_t)B * C);
        layernorm_kernel<T><<<rows_grid(B), 256, 0, stream_>>>(ws_.pooled.get(), ws_.x.get(), ws_.rows.get(),
                                                               ln_w.get(), ln_b.get(), B, C, eps);
        KERNEL_CHECK();
        gemm_linear<T, float>(blas_, out, ws_.pooled.get(), proj.get(), B, C, out_dim_);
        if (proj_b) {
            add_bias_kernel<<<grid_for((size_t)B * out_dim_), 256, 0, stream_>>>(out, proj_b, B, out_dim_);
            KERNEL_CHECK();
        }
        // rows is a host vector: keep it alive until the copy has run
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    // Patch convolution (stride = kernel = P, no bias here) as im2col + GEMM: pix [B,3,S,S] → ws_.patches
    // fp32 [B·G², C].
    void patch_embed(const float* pix, int B, int S, int P, const DevBuf<T>& patch_w, int C) {
        const int G = S / P, K = 3 * P * P;
        const size_t npatch = (size_t)B * G * G;
        ws_.cols.reserve(npatch * K);
        ws_.patches.reserve(npatch * C);
        im2col_kernel<T><<<grid_for(npatch * K), 256, 0, stream_>>>(ws_.cols.get(), pix, B, S, P);
        KERNEL_CHECK();
        gemm_linear<T, float>(blas_, ws_.patches.get(), ws_.cols.get(), patch_w.get(), (int)npatch, K, C);
    }

    const char* who_;
    size_t img_elems_;
    int out_dim_, context_, vocab_;
    int max_images_ = 256, max_texts_ = 1024;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t blas_ = nullptr;
    Workspace ws_;
};

}  // namespace
}  // namespace tower
}  // namespace reco
