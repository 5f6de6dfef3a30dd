// gpu_ops.cu — host-pointer wrappers around single tower kernels, for the tests (see gpu_ops.h).
#include "gpu_ops.h"

#include <vector>

#include "cuda_util.cuh"
#include "tower_kernels.cuh"

namespace reco {
namespace gpu_ops {

namespace {

template <class T>
__global__ void f32_to_act_kernel(T* out, const float* in, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = from_float<T>(in[i]);
}
template <class T>
__global__ void act_to_f32_kernel(float* out, const T* in, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = to_float(in[i]);
}

DevBuf<float> upload(const float* h, size_t n) {
    DevBuf<float> d(n);
    if (n) d.upload(h, n);
    return d;
}
template <class T>
DevBuf<T> upload_act(const float* h, size_t n) {
    DevBuf<float> f = upload(h, n);
    DevBuf<T> d(n);
    f32_to_act_kernel<T><<<tower::grid_for(n), 256>>>(d.get(), f.get(), n);
    KERNEL_CHECK();
    return d;
}
template <class T>
void download_act(float* h, const DevBuf<T>& d, size_t n) {
    DevBuf<float> f(n);
    act_to_f32_kernel<T><<<tower::grid_for(n), 256>>>(f.get(), d.get(), n);
    KERNEL_CHECK();
    f.download(h, n);
}
void sync() { CUDA_CHECK(cudaDeviceSynchronize()); }

// Call fn.template operator()<T>() with T = __half or __nv_bfloat16.
template <class Fn>
void with_act(Act act, Fn fn) {
    if (act == Act::F16) fn(__half());
    else fn(__nv_bfloat16());
}

}  // namespace

void round_to_act(float* x, size_t n, Act act) {
    with_act(act, [&](auto tag) {
        using T = decltype(tag);
        auto d = upload_act<T>(x, n);
        download_act(x, d, n);
    });
}

void im2col(float* cols, const float* pixels, int B, int S, int P, Act act) {
    with_act(act, [&](auto tag) {
        using T = decltype(tag);
        const int G = S / P;
        const size_t n = (size_t)B * G * G * 3 * P * P;
        auto px = upload(pixels, (size_t)B * 3 * S * S);
        DevBuf<T> d(n);
        tower::im2col_kernel<T><<<tower::grid_for(n), 256>>>(d.get(), px.get(), B, S, P);
        KERNEL_CHECK();
        download_act(cols, d, n);
    });
}

void vision_embed(float* x, const float* patches, const float* class_emb, const float* pos, int B, int T, int C) {
    auto p = upload(patches, (size_t)B * (T - 1) * C);
    auto ce = upload(class_emb, C);
    auto po = upload(pos, (size_t)T * C);
    DevBuf<float> out((size_t)B * T * C);
    tower::vision_embed_kernel<<<tower::grid_for((size_t)B * T * C), 256>>>(out.get(), p.get(), ce.get(), po.get(), B,
                                                                           T, C);
    KERNEL_CHECK();
    out.download(x, (size_t)B * T * C);
}

void text_embed(float* x, const int* ids, const float* tok_emb, int V, const float* pos, int B, int T, int C) {
    DevBuf<int> di((size_t)B * T);
    di.upload(ids, (size_t)B * T);
    auto te = upload(tok_emb, (size_t)V * C);
    auto po = upload(pos, (size_t)T * C);
    DevBuf<float> out((size_t)B * T * C);
    tower::text_embed_kernel<<<tower::grid_for((size_t)B * T * C), 256>>>(out.get(), di.get(), T, te.get(), po.get(),
                                                                         B, T, C);
    KERNEL_CHECK();
    out.download(x, (size_t)B * T * C);
}

void layernorm(float* out, const float* inp, int n_in, const int* rows, const float* w, const float* b, int N,
               int C, float eps) {
    auto x = upload(inp, (size_t)n_in * C);
    auto dw = upload(w, C), db = upload(b, C);
    DevBuf<int> dr;
    if (rows) dr.upload(rows, N);
    DevBuf<float> y((size_t)N * C);
    tower::layernorm_kernel<float><<<tower::rows_grid(N), 256>>>(y.get(), x.get(), rows ? dr.get() : nullptr, dw.get(),
                                                                 db.get(), N, C, eps);
    KERNEL_CHECK();
    y.download(out, (size_t)N * C);
}

void residual_layernorm(float* x, float* ln_out, const float* y, const float* bias, const float* w, const float* b,
                        int N, int C, float eps, Act act) {
    with_act(act, [&](auto tag) {
        using T = decltype(tag);
        const size_t n = (size_t)N * C;
        auto dx = upload(x, n);
        auto dy = upload_act<T>(y, n);
        auto dbias = upload(bias, C), dw = upload(w, C), db = upload(b, C);
        DevBuf<T> dln(n);
        tower::residual_layernorm_kernel<T, T><<<tower::rows_grid(N), 256>>>(
            dx.get(), dy.get(), dbias.get(), ln_out ? dln.get() : nullptr, dw.get(), db.get(), N, C, eps);
        KERNEL_CHECK();
        dx.download(x, n);
        if (ln_out) download_act(ln_out, dln, n);
    });
}

void bias_act(float* h, const float* bias, int N, int M, bool quick_gelu, Act act) {
    bias_act(h, bias, N, M, quick_gelu ? Activation::quick_gelu : Activation::gelu, act);
}

void bias_act(float* h, const float* bias, int N, int M, Activation a, Act act) {
    with_act(act, [&](auto tag) {
        using T = decltype(tag);
        const size_t n = (size_t)N * M;
        auto dh = upload_act<T>(h, n);
        auto db = upload(bias, M);
        tower::bias_act_kernel<T><<<tower::grid_for(n), 256>>>(dh.get(), db.get(), (size_t)N, M, a);
        KERNEL_CHECK();
        download_act(h, dh, n);
    });
}

void map_attention(float* out, const float* q, const float* kv, const float* kv_b, int B, int T, int C, int NH,
                   Act act) {
    with_act(act, [&](auto tag) {
        using T_ = decltype(tag);
        auto dq = upload(q, C), dkvb = upload(kv_b, 2 * C);
        auto dkv = upload_act<T_>(kv, (size_t)B * T * 2 * C);
        DevBuf<T_> dout((size_t)B * C);
        tower::map_attention<T_>(dout.get(), dq.get(), dkv.get(), dkvb.get(), B, T, C, NH, 0);
        CUDA_CHECK(cudaDeviceSynchronize());
        download_act(out, dout, (size_t)B * C);
    });
}

void attention_qkv(float* out, const float* qkv, const float* qkv_b, int B, int T, int C, int NH, bool causal,
                   Act act, int path) {
    with_act(act, [&](auto tag) {
        using T_ = decltype(tag);
        auto dqkv = upload_act<T_>(qkv, (size_t)B * T * 3 * C);
        auto db = upload(qkv_b, (size_t)3 * C);
        DevBuf<T_> dout((size_t)B * T * C);
        const tower::AttnPath p = path == 1 ? tower::AttnPath::wmma
                                : path == 2 ? tower::AttnPath::scalar : tower::AttnPath::automatic;
        tower::attention_forward<T_>(dout.get(), dqkv.get(), db.get(), B, T, C, NH, causal, 0, p);
        sync();
        download_act(out, dout, (size_t)B * T * C);
    });
}

void l2_normalize_rows(float* x, int N, int C) {
    auto d = upload(x, (size_t)N * C);
    tower::l2_normalize_kernel<<<tower::rows_grid(N), 256>>>(d.get(), N, C);
    KERNEL_CHECK();
    d.download(x, (size_t)N * C);
}

void linear(float* out, const float* inp, const float* W, int N, int C, int OC, Act act) {
    with_act(act, [&](auto tag) {
        using T = decltype(tag);
        auto di = upload_act<T>(inp, (size_t)N * C);
        auto dw = upload_act<T>(W, (size_t)OC * C);
        DevBuf<float> dout((size_t)N * OC);
        cublasHandle_t h;
        CUBLAS_CHECK(cublasCreate(&h));
        try {
            gemm_linear<T, float>(h, dout.get(), di.get(), dw.get(), N, C, OC);
        } catch (...) {
            cublasDestroy(h);
            throw;
        }
        cublasDestroy(h);
        dout.download(out, (size_t)N * OC);
    });
}

}  // namespace gpu_ops
}  // namespace reco
