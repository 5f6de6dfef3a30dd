// fusion_gpu_ops.cu — single-op wrappers of the fusion kernels on host arrays (fusion_gpu.h,
// namespace gpu_fusion_ops), for tests/test_cuda_fusion.cpp: each mirrors the CPU function of the same name.
#include <algorithm>
#include <cmath>

#include "common.h"
#include "cuda_util.cuh"
#include "fusion_gpu.h"
#include "fusion_kernels.cuh"
#include "fusion_nce.cuh"

namespace reco {

using namespace fusion_k;

namespace gpu_fusion_ops {

namespace {
DevBuf<float> up(const float* h, size_t n) {
    DevBuf<float> d(std::max<size_t>(n, 1));
    if (n) CUDA_CHECK(cudaMemcpy(d.get(), h, n * 4, cudaMemcpyHostToDevice));
    return d;
}
void down(float* h, const DevBuf<float>& d, size_t n) {
    CUDA_CHECK(cudaDeviceSynchronize());
    if (n) CUDA_CHECK(cudaMemcpy(h, d.get(), n * 4, cudaMemcpyDeviceToHost));
}
}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps) {
    auto x = up(inp, (size_t)N * C), dw = up(w, C), db = up(b, C);
    DevBuf<float> y((size_t)N * C), mu(N), rs(N);
    ln_forward_kernel<<<grid_rows(N), 256>>>(y.get(), mu.get(), rs.get(), x.get(), nullptr, 1, dw.get(), db.get(), N,
                                             C, eps);
    KERNEL_CHECK();
    down(out, y, (size_t)N * C), down(mean, mu, N), down(rstd, rs, N);
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C) {
    auto g = up(dout, (size_t)N * C), x = up(inp, (size_t)N * C), dwt = up(w, C), mu = up(mean, N),
         rs = up(rstd, N);
    auto ddx = up(dinp, (size_t)N * C), ddw = up(dw, C), ddb = up(db, C);
    std::vector<float> one_h(N, 1.0f);
    auto ones = up(one_h.data(), N);
    DevBuf<float> terms((size_t)N * C);
    ln_backward_dx_kernel<<<grid_rows(N), 256>>>(ddx.get(), nullptr, 1, g.get(), x.get(), nullptr, dwt.get(), mu.get(),
                                                 rs.get(), N, C);
    ln_dw_terms_kernel<<<grid_1d((size_t)N * C), 256>>>(terms.get(), g.get(), x.get(), nullptr, 1, mu.get(), rs.get(),
                                                        N, C);
    KERNEL_CHECK();
    cublasHandle_t blas;
    CUBLAS_CHECK(cublasCreate(&blas));
    try {
        colsum_add(blas, ddw.get(), terms.get(), N, C, C, ones.get());
        colsum_add(blas, ddb.get(), g.get(), N, C, C, ones.get());
    } catch (...) {
        cublasDestroy(blas);
        throw;
    }
    cublasDestroy(blas);
    down(dinp, ddx, (size_t)N * C), down(dw, ddw, C), down(db, ddb, C);
}

void gelu_forward(float* out, const float* inp, size_t n) {
    auto x = up(inp, n);
    DevBuf<float> g(std::max<size_t>(n, 1));
    // bias_gelu with a zero bias over one row of n columns is the plain exact GELU
    DevBuf<float> zb(std::max<size_t>(n, 1));
    CUDA_CHECK(cudaMemset(zb.get(), 0, std::max<size_t>(n, 1) * 4));
    bias_gelu_kernel<<<grid_1d(n), 256>>>(x.get(), g.get(), zb.get(), 1, (int)n);
    KERNEL_CHECK();
    down(out, g, n);
}

void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    auto dx = up(dinp, n), g = up(dout, n), x = up(inp, n);
    gelu_backward_kernel<<<grid_1d(n), 256>>>(dx.get(), g.get(), x.get(), n, false);
    KERNEL_CHECK();
    down(dinp, dx, n);
}

void l2norm_forward(float* out, float* norm, const float* inp, int N, int C) {
    auto x = up(inp, (size_t)N * C);
    DevBuf<float> y((size_t)N * C), nr(N);
    l2norm_forward_kernel<<<grid_rows(N), 256>>>(y.get(), nr.get(), x.get(), N, C);
    KERNEL_CHECK();
    down(out, y, (size_t)N * C), down(norm, nr, N);
}

void l2norm_backward(float* dinp, const float* dout, const float* out, const float* norm, int N, int C) {
    auto dx = up(dinp, (size_t)N * C), g = up(dout, (size_t)N * C), y = up(out, (size_t)N * C), nr = up(norm, N);
    l2norm_backward_kernel<<<grid_rows(N), 256>>>(dx.get(), g.get(), y.get(), nr.get(), N, C);
    KERNEL_CHECK();
    down(dinp, dx, (size_t)N * C);
}

void attention_row_forward(float* A, float* Z, const float* U, const float* c, const float* xn, int B, int NH, int Tn,
                           int D) {
    auto du = up(U, (size_t)B * NH * D), dc = up(c, (size_t)B * NH), dx = up(xn, (size_t)B * Tn * D);
    DevBuf<float> dA((size_t)B * NH * Tn), dZ((size_t)B * NH * D);
    attn_row_forward_kernel<<<B * NH, 128, Tn * sizeof(float)>>>(dA.get(), dZ.get(), du.get(), dc.get(), dx.get(), NH,
                                                                Tn, D);
    KERNEL_CHECK();
    down(A, dA, (size_t)B * NH * Tn), down(Z, dZ, (size_t)B * NH * D);
}

void attention_row_backward(float* dU, float* dxn, const float* dZ, const float* A, const float* U, const float* xn,
                            int B, int NH, int Tn, int D) {
    auto ddz = up(dZ, (size_t)B * NH * D), da = up(A, (size_t)B * NH * Tn), du = up(U, (size_t)B * NH * D),
         dx = up(xn, (size_t)B * Tn * D);
    DevBuf<float> odU((size_t)B * NH * D), odx((size_t)B * Tn * D);
    attn_row_backward_kernel<<<B, 256, Tn * sizeof(float)>>>(odU.get(), odx.get(), ddz.get(), da.get(), du.get(),
                                                            dx.get(), NH, Tn, D);
    KERNEL_CHECK();
    down(dU, odU, (size_t)B * NH * D), down(dxn, odx, (size_t)B * Tn * D);
}

float nce_loss(const float* A, const float* Bm, int N, int d, float s, float* dA, float* dB, float* ds) {
    cublasHandle_t blas;
    CUBLAS_CHECK(cublasCreate(&blas));
    float out2[2];
    try {
        CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_PEDANTIC_MATH));
        NceWorkspace ws;
        auto a = up(A, (size_t)N * d), b = up(Bm, (size_t)N * d);
        auto gA = up(dA ? dA : A, (size_t)N * d), gB = up(dB ? dB : Bm, (size_t)N * d);
        DevBuf<float> o(2);
        ws.run(blas, 0, a.get(), b.get(), N, d, s, dA ? gA.get() : nullptr, dB ? gB.get() : nullptr, o.get());
        down(out2, o, 2);
        if (dA) down(dA, gA, (size_t)N * d);
        if (dB) down(dB, gB, (size_t)N * d);
    } catch (...) {
        cublasDestroy(blas);
        throw;
    }
    cublasDestroy(blas);
    if (ds) *ds += out2[1];
    return out2[0];
}

void adamw_step(float* p, float* m, float* v, const float* g, const uint8_t* decay, size_t n, const AdamWConfig& cfg,
                int64_t t, double lr) {
    auto dp = up(p, n), dm = up(m, n), dv = up(v, n), dg = up(g, n);
    DevBuf<unsigned char> dd(std::max<size_t>(n, 1));
    CUDA_CHECK(cudaMemcpy(dd.get(), decay, n, cudaMemcpyHostToDevice));
    const double bc1 = 1.0 - std::pow(cfg.beta1, (double)t);
    const double bc2 = 1.0 - std::pow(cfg.beta2, (double)t);
    adamw_kernel<<<grid_1d(n), 256>>>(dp.get(), dm.get(), dv.get(), dg.get(), dd.get(), n,
                                      (float)(1.0 - lr * cfg.weight_decay), (float)(1.0 - cfg.beta1),
                                      (float)cfg.beta2, (float)(1.0 - cfg.beta2), (float)cfg.eps,
                                      (float)-(lr / bc1), (float)std::sqrt(bc2));
    KERNEL_CHECK();
    down(p, dp, n), down(m, dm, n), down(v, dv, n);
}

}  // namespace gpu_fusion_ops
}  // namespace reco
