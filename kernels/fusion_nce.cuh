// fusion_nce.cuh — one InfoNCE term on the device (nce_loss.cpp's nce_loss), shared by the GPU
// training step (fusion_gpu.cu) and the single-op test wrappers (fusion_gpu_ops.cu).
#pragma once
#include "cuda_util.cuh"
#include "fusion_kernels.cuh"

namespace reco {
namespace fusion_k {

// nce_loss.cpp on the device. run(): out2[0] = the term's loss, out2[1] = its dL/ds (device);
// dA += s·G·B, dB += s·Gᵀ·A (either may be null).
struct NceWorkspace {
    DevBuf<float> S, G, row_lse, col_lse, row_term, col_term, ds_part;
    void run(cublasHandle_t blas, cudaStream_t st, const float* A, const float* Bm, int N, int d, float s, float* dA,
             float* dB, float* out2) {
        S.reserve((size_t)N * N), G.reserve((size_t)N * N);
        row_lse.reserve(N), col_lse.reserve(N), row_term.reserve(N), col_term.reserve(N), ds_part.reserve(N);
        gemm(blas, false, true, N, N, d, 1.0f, A, d, Bm, d, 0.0f, S.get(), N);  // S = A·Bᵀ
        nce_rows_kernel<<<N, 256, 0, st>>>(row_lse.get(), row_term.get(), S.get(), N, s);
        nce_cols_kernel<<<N, 256, 0, st>>>(col_lse.get(), col_term.get(), S.get(), N, s);
        nce_grad_kernel<<<N, 256, 0, st>>>(G.get(), ds_part.get(), S.get(), row_lse.get(), col_lse.get(), N, s);
        nce_reduce_kernel<<<1, 1, 0, st>>>(out2, row_term.get(), col_term.get(), ds_part.get(), N);
        KERNEL_CHECK();
        if (dA) gemm(blas, false, false, N, d, N, s, G.get(), N, Bm, d, 1.0f, dA, d);  // dA += s·G·B
        if (dB) gemm(blas, true, false, N, d, N, s, G.get(), N, A, d, 1.0f, dB, d);    // dB += s·Gᵀ·A
    }
};

}  // namespace fusion_k
}  // namespace reco
