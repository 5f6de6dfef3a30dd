// fusion_kernels.cuh — forward and backward kernels of the RECO fusion module (SPEC §3–§4), fp32.
//
// These mirror, op for op, the CPU's fast query-row path (src/fusion_fast.cpp), its building blocks
// (src/fusion_ops.h), the loss (src/nce_loss.cpp) and the optimiser (src/adamw.cpp). The GEMMs of
// that path run through cuBLAS in pure fp32 (CUBLAS_COMPUTE_32F_PEDANTIC: no TF32), so the GPU
// follows the CPU's trajectory up to summation order. Every backward kernel states the forward it
// inverts and, like the CPU, ACCUMULATES (+=) into parameter gradients.
// Deterministic: no floating-point atomics; every sum has a fixed order.
#pragma once
#include "cuda_util.cuh"

namespace reco {
namespace fusion_k {

// ------------------------------------------------------------------------------- GEMM (row-major)
// C[M,N] = alpha·op(A)·op(B) + beta·C with fusion_gemm.h's contract (op(A) = A [M,K] or Aᵀ with A
// stored [K,M]; op(B) = B [K,N] or Bᵀ with B stored [N,K]; leading dimensions lda, ldb, ldc).
// Row-major C is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, hence B first.
inline void gemm(cublasHandle_t h, bool transA, bool transB, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc) {
    CUBLAS_CHECK(cublasGemmEx(h, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                              &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc,
                              CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}
// The same for `batch` problems at fixed strides (the per-head products of the fast path).
inline void gemm_batched(cublasHandle_t h, bool transA, bool transB, int M, int N, int K, float alpha,
                         const float* A, int lda, long long sA, const float* B, int ldb, long long sB, float beta,
                         float* C, int ldc, long long sC, int batch) {
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            N, M, K, &alpha, B, CUDA_R_32F, ldb, sB, A, CUDA_R_32F, lda, sA, &beta,
                                            C, CUDA_R_32F, ldc, sC, batch, CUBLAS_COMPUTE_32F_PEDANTIC,
                                            CUBLAS_GEMM_DEFAULT));
}

// Input row r of the fusion layer's sequence: X = [q; r_1 … r_k] per item, Tn = k + 1 tokens;
// nbr == nullptr means plain rows of q (Tn = 1).
__device__ __forceinline__ const float* seq_row(const float* q, const float* nbr, int Tn, int r, int C) {
    const int b = r / Tn, i = r % Tn;
    return i == 0 ? q + (size_t)b * C : nbr + ((size_t)b * (Tn - 1) + i - 1) * C;
}
__device__ __forceinline__ float* seq_row_mut(float* q, float* nbr, int Tn, int r, int C) {
    const int b = r / Tn, i = r % Tn;
    if (i == 0) return q ? q + (size_t)b * C : nullptr;
    return nbr ? nbr + ((size_t)b * (Tn - 1) + i - 1) * C : nullptr;
}

// ------------------------------------------------------------------------------- LayerNorm
// forward (fusion_ops::layernorm_forward): out = (x - mean)·rstd·w + b, rstd = 1/sqrt(var + eps),
// biased variance; saves mean, rstd. One warp per row, fp32 two-pass statistics (the CPU: double).
static __global__ void ln_forward_kernel(float* out, float* mean, float* rstd, const float* q, const float* nbr, int Tn,
                                  const float* w, const float* b, int N, int C, float eps) {
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= N) return;
    const float* x = seq_row(q, nbr, Tn, r, C);
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i];
    const float mu = warp_sum(s) / C;
    float v = 0.0f;
    for (int i = lane; i < C; i += 32) v += (x[i] - mu) * (x[i] - mu);
    const float rs = 1.0f / sqrtf(warp_sum(v) / C + eps);
    float* y = out + (size_t)r * C;
    for (int i = lane; i < C; i += 32) y[i] = (x[i] - mu) * rs * w[i] + b[i];
    if (lane == 0) mean[r] = mu, rstd[r] = rs;
}
// backward of out = xhat·w + b, xhat = (x - mean)·rstd, for the input (fusion_ops::layernorm_backward):
//   dx += rstd·(dxhat - mean(dxhat) - xhat·mean(dxhat·xhat)),  dxhat = dout·w.  One warp per row;
// dinp rows gathered like the input (null pointers skip).
static __global__ void ln_backward_dx_kernel(float* dq, float* dnbr, int Tn, const float* dout, const float* q,
                                      const float* nbr, const float* w, const float* mean, const float* rstd, int N,
                                      int C) {
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= N) return;
    float* dx = seq_row_mut(dq, dnbr, Tn, r, C);
    if (!dx) return;
    const float* x = seq_row(q, nbr, Tn, r, C);
    const float* g = dout + (size_t)r * C;
    const float mu = mean[r], rs = rstd[r];
    float s1 = 0.0f, s2 = 0.0f;
    for (int i = lane; i < C; i += 32) {
        const float xhat = (x[i] - mu) * rs, dxhat = g[i] * w[i];
        s1 += dxhat;
        s2 += dxhat * xhat;
    }
    const float m1 = warp_sum(s1) / C, m2 = warp_sum(s2) / C;
    for (int i = lane; i < C; i += 32) {
        const float xhat = (x[i] - mu) * rs;
        dx[i] += rs * (g[i] * w[i] - m1 - xhat * m2);
    }
}
// ... and for the parameters: dw[i] += Σ_n dout[n,i]·xhat[n,i],  db[i] += Σ_n dout[n,i]. This kernel
// forms the products P[n,i] = dout[n,i]·xhat[n,i]; colsum_add() then sums the columns of P and of dout.
static __global__ void ln_dw_terms_kernel(float* P, const float* dout, const float* q, const float* nbr, int Tn,
                                          const float* mean, const float* rstd, int N, int C) {
    const size_t n = (size_t)N * C;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const int r = (int)(e / C), i = (int)(e % C);
        P[e] = dout[e] * ((seq_row(q, nbr, Tn, r, C)[i] - mean[r]) * rstd[r]);
    }
}

// out[j] += Σ_r M[r·ld + j]  (bias gradients, LayerNorm parameter gradients): a GEMV with a vector of
// ones through cuBLAS — fast, and deterministic (cuBLAS uses no atomics by default). ones: ≥ rows ones.
inline void colsum_add(cublasHandle_t h, float* out, const float* M, int rows, int cols, int ld, const float* ones) {
    gemm(h, false, false, 1, cols, rows, 1.0f, ones, rows, M, ld, 1.0f, out, cols);
}

// ------------------------------------------------------------------------------- small elementwise
// X[r, c] += bias[c] over rows × cols (ld = cols)   (the bias of fusion_ops::linear_forward)
static __global__ void add_bias_kernel(float* X, const float* bias, int rows, int cols) {
    const size_t n = (size_t)rows * cols;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        X[e] += bias[e % cols];
}
// H[b, j] += bo[j] + q[b, j]   (fusion_fast: H0 = x_0 + O·W_oᵀ + b_o)
static __global__ void add_bias_residual_kernel(float* H, const float* bo, const float* q, int B, int D) {
    const size_t n = (size_t)B * D;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        H[e] += bo[e % D] + q[e];
}
// Y[b, j] = H[b, j] + b2[j]   (fusion_fast: Y0 = H0 + b_2, then += G·W_2ᵀ)
static __global__ void bias_copy_kernel(float* Y, const float* H, const float* b2, int B, int D) {
    const size_t n = (size_t)B * D;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        Y[e] = H[e] + b2[e % D];
}
// ------------------------------------------------------------------------------- exact GELU
// forward (fusion_ops::gelu_forward) with the fc1 bias: F1 = x + b1 (kept for the backward),
// G = ½·F1·(1 + erf(F1/√2)).
static __global__ void bias_gelu_kernel(float* F1, float* G, const float* b1, int rows, int cols) {
    const size_t n = (size_t)rows * cols;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const float x = F1[e] + b1[e % cols];
        F1[e] = x;
        G[e] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    }
}
// backward of out = x·Φ(x) (fusion_ops::gelu_backward): dinp += dout·(Φ(x) + x·φ(x)).
// in_place = true: dinp = dout·(…) in dinp's own storage (fusion_fast's "dF *= GELU'(F1)").
static __global__ void gelu_backward_kernel(float* dinp, const float* dout, const float* x, size_t n, bool in_place) {
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const float v = x[e];
        const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        const float pdf = expf(-0.5f * v * v) * 0.3989422804014327f;
        if (in_place) dinp[e] *= cdf + v * pdf;
        else dinp[e] += dout[e] * (cdf + v * pdf);
    }
}

// ------------------------------------------------------------------------------- L2 normalisation
// forward (fusion_ops::l2norm_forward): norm = ||x||, out = x / norm. One warp per row.
static __global__ void l2norm_forward_kernel(float* out, float* norm, const float* inp, int N, int C) {
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= N) return;
    const float* x = inp + (size_t)r * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i] * x[i];
    const float nrm = sqrtf(warp_sum(s));
    for (int i = lane; i < C; i += 32) out[(size_t)r * C + i] = x[i] / nrm;
    if (lane == 0) norm[r] = nrm;
}
// backward of out = x/||x|| (fusion_ops::l2norm_backward): dx += (dout - out·(out·dout)) / ||x||.
static __global__ void l2norm_backward_kernel(float* dinp, const float* dout, const float* out, const float* norm,
                                              int N, int C) {
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= N) return;
    const float* y = out + (size_t)r * C;
    const float* g = dout + (size_t)r * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += y[i] * g[i];
    const float dot = warp_sum(s);
    for (int i = lane; i < C; i += 32) dinp[(size_t)r * C + i] += (g[i] - y[i] * dot) / norm[r];
}

// ------------------------------------------------------------------------------- the query row's attention
// c_h = s·Q_h·b_k,h  [B, NH]  (fusion_fast, "c_h"); one thread per (b, h), sequential over the head.
static __global__ void key_bias_scores_kernel(float* c, const float* Q, const float* bk, int B, int NH, int hd,
                                              float scale) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= B * NH) return;
    const int b = e / NH, h = e % NH, D = NH * hd;
    float s = 0.0f;
    for (int j = 0; j < hd; j++) s += Q[(size_t)b * D + h * hd + j] * bk[h * hd + j];
    c[e] = scale * s;
}

// forward, per item b and head h (fusion_fast "A_h = softmax_i(U_h·xn_i + c_h); Z_h = Σ_i A_{h,i} xn_i"):
//   S_i = U_h·xn_i + c_h (i = 0..Tn-1),  A = softmax(S) in fp32,  Z_h[j] = Σ_i A_i xn_i[j].
// One block per (b, h); warps over i for the dots, threads over j for Z (sum in increasing i).
// Dynamic shared memory: Tn floats.
static __global__ void attn_row_forward_kernel(float* A, float* Z, const float* U, const float* cvec, const float* xn,
                                               int NH, int Tn, int D) {
    extern __shared__ __align__(128) unsigned char smem[];
    float* sc = (float*)smem;
    const int bh = blockIdx.x, b = bh / NH;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    const float* u = U + (size_t)bh * D;
    const float* xb = xn + (size_t)b * Tn * D;
    for (int i = warp; i < Tn; i += nwarps) {
        float s = 0.0f;
        for (int j = lane; j < D; j += 32) s += u[j] * xb[(size_t)i * D + j];
        s = warp_sum(s);
        if (lane == 0) sc[i] = cvec[bh] + s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float mx = -INFINITY;
        for (int i = 0; i < Tn; i++) mx = fmaxf(mx, sc[i]);
        float sum = 0.0f;
        for (int i = 0; i < Tn; i++) sum += (sc[i] = expf(sc[i] - mx));
        for (int i = 0; i < Tn; i++) sc[i] /= sum;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < Tn; i += blockDim.x) A[(size_t)bh * Tn + i] = sc[i];
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float z = 0.0f;
        for (int i = 0; i < Tn; i++) z += sc[i] * xb[(size_t)i * D + j];
        Z[(size_t)bh * D + j] = z;
    }
}

// backward of the above, per item b (heads in order, since every head adds into the same dxn rows):
//   dA_i = dZ_h·xn_i,  dS_i = A_i·(dA_i - Σ_l A_l dA_l),
//   dU_h = Σ_i dS_i xn_i   (assigned),   dxn_i += A_i dZ_h + dS_i U_h.
// dxn [B, Tn, D] of item b is zeroed first (fusion_fast fills it with 0 before the heads).
// (dc_h = Σ_i dS_i is exactly 0 and not computed — see fusion_fast.cpp.) Dynamic smem: Tn floats.
static __global__ void attn_row_backward_kernel(float* dU, float* dxn, const float* dZ, const float* A, const float* U,
                                         const float* xn, int NH, int Tn, int D) {
    extern __shared__ __align__(128) unsigned char smem[];
    float* dS = (float*)smem;
    const int b = blockIdx.x;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    const float* xb = xn + (size_t)b * Tn * D;
    float* dxb = dxn + (size_t)b * Tn * D;
    for (int e = threadIdx.x; e < Tn * D; e += blockDim.x) dxb[e] = 0.0f;
    for (int h = 0; h < NH; h++) {
        const size_t bh = (size_t)b * NH + h;
        const float* a = A + bh * Tn;
        const float* dz = dZ + bh * D;
        const float* u = U + bh * D;
        for (int i = warp; i < Tn; i += nwarps) {
            float s = 0.0f;
            for (int j = lane; j < D; j += 32) s += dz[j] * xb[(size_t)i * D + j];
            s = warp_sum(s);
            if (lane == 0) dS[i] = s;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            float dot = 0.0f;
            for (int i = 0; i < Tn; i++) dot += a[i] * dS[i];
            for (int i = 0; i < Tn; i++) dS[i] = a[i] * (dS[i] - dot);
        }
        __syncthreads();
        for (int j = threadIdx.x; j < D; j += blockDim.x) {
            float du = 0.0f;
            for (int i = 0; i < Tn; i++) {
                du += dS[i] * xb[(size_t)i * D + j];
                dxb[(size_t)i * D + j] += a[i] * dz[j] + dS[i] * u[j];
            }
            dU[bh * D + j] = du;
        }
        __syncthreads();  // dS is rewritten by the next head
    }
}

// ------------------------------------------------------------------------------- the NCE loss
// nce_loss.cpp with L = s·S, S = A·Bᵀ [N, N] (computed by a GEMM):
// rows:    lse_i = logsumexp_j L[i,j],  row_term_i = lse_i - L[i,i]               (one block per row)
static __global__ void nce_rows_kernel(float* row_lse, float* row_term, const float* S, int N, float s) {
    __shared__ float red[32];
    const int i = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    const float* l = S + (size_t)i * N;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < N; j += blockDim.x) m = fmaxf(m, s * l[j]);
    m = warp_max(m);
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < nw; w++) m = fmaxf(m, red[w]);
    __syncthreads();
    float sum = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) sum += expf(s * l[j] - m);
    sum = warp_sum(sum);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (int w = 0; w < nw; w++) t += red[w];
        const float lse = m + logf(t);
        row_lse[i] = lse;
        row_term[i] = lse - s * l[i];
    }
}
// columns: col_lse_j = logsumexp_i L[i,j],  col_term_j = col_lse_j - L[j,j]        (one block per column)
static __global__ void nce_cols_kernel(float* col_lse, float* col_term, const float* S, int N, float s) {
    __shared__ float red[32];
    const int j = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < N; i += blockDim.x) m = fmaxf(m, s * S[(size_t)i * N + j]);
    m = warp_max(m);
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < nw; w++) m = fmaxf(m, red[w]);
    __syncthreads();
    float sum = 0.0f;
    for (int i = threadIdx.x; i < N; i += blockDim.x) sum += expf(s * S[(size_t)i * N + j] - m);
    sum = warp_sum(sum);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (int w = 0; w < nw; w++) t += red[w];
        const float lse = m + logf(t);
        col_lse[j] = lse;
        col_term[j] = lse - s * S[(size_t)j * N + j];
    }
}
// dloss/dL:  G[i,j] = ½/N·(softmax_row(L)[i,j] + softmax_col(L)[i,j] − 2δ_ij);  ds_part_i = Σ_j G[i,j]·S[i,j]
// (one block per row; the caller sums ds_part in order).
static __global__ void nce_grad_kernel(float* G, float* ds_part, const float* S, const float* row_lse,
                                       const float* col_lse, int N, float s) {
    __shared__ float red[32];
    const int i = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    const float h = 0.5f / (float)N;
    float part = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        const float sij = S[(size_t)i * N + j];
        float g = h * expf(s * sij - row_lse[i]);
        g += h * expf(s * sij - col_lse[j]);
        if (i == j) g -= 2 * h;
        G[(size_t)i * N + j] = g;
        part += g * sij;
    }
    part = warp_sum(part);
    if (lane == 0) red[warp] = part;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (int w = 0; w < nw; w++) t += red[w];
        ds_part[i] = t;
    }
}
// loss = ½·Σ_i (row_term_i + col_term_i) / N (double accumulation, as nce_loss.cpp), ds = Σ_i ds_part_i.
// One thread. Writes out[0] = loss, out[1] = ds.
static __global__ void nce_reduce_kernel(float* out, const float* row_term, const float* col_term, const float* ds_part,
                                  int N) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double loss = 0.0;
    for (int i = 0; i < N; i++) loss += row_term[i];
    for (int j = 0; j < N; j++) loss += col_term[j];
    float ds = 0.0f;
    for (int i = 0; i < N; i++) ds += ds_part[i];
    out[0] = (float)(0.5 * loss / N);
    out[1] = ds;
}
// dlogit_scale += (ds_1 + ds_2 + ds_3)·s_raw when s_raw = exp(logit_scale) ≤ 100 (the clamp's gradient).
static __global__ void logit_scale_grad_kernel(float* grad, const float* parts, float s_raw) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float ds = 0.0f;
    ds += parts[1];
    ds += parts[3];
    ds += parts[5];
    if (s_raw <= 100.0f) *grad += ds * s_raw;
}

// ------------------------------------------------------------------------------- AdamW
// torch.optim.AdamW over one buffer, element for element as adamw.cpp (which follows PyTorch's
// _single_tensor_adamw), with no FMA contraction so that every operation rounds as written:
//   p ← p·(1 − lr·wd)            where decay[i] (2-D weights)
//   m ← m + (1−β1)(g − m)
//   v ← v·β2 + (1−β2)·g·g
//   p ← p + (−lr/(1−β1ᵗ))·m / (√v / √(1−β2ᵗ) + eps)
// The bias corrections and step size are computed on the host in double, as adamw.cpp does.
static __global__ void adamw_kernel(float* p, float* m, float* v, const float* g, const unsigned char* decay, size_t n,
                             float decay_mul, float w1, float b2, float one_minus_b2, float eps, float neg_step_size,
                             float bc2_sqrt) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float pi = p[i];
        if (decay[i]) pi = __fmul_rn(pi, decay_mul);
        const float gi = g[i];
        const float mi = __fadd_rn(m[i], __fmul_rn(w1, __fsub_rn(gi, m[i])));
        const float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        p[i] = __fadd_rn(pi, __fdiv_rn(__fmul_rn(neg_step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

inline int grid_1d(size_t n, int threads = 256) {
    return (int)std::min<size_t>(std::max<size_t>((n + threads - 1) / threads, 1), 65535u * 8);
}
inline int grid_rows(int N, int threads = 256) { return std::max(1, (N + threads / 32 - 1) / (threads / 32)); }

}  // namespace fusion_k
}  // namespace reco
