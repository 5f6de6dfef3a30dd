// fusion_gpu.cu — the RECO fusion modules trained on the GPU (see fusion_gpu.h).
//
// forward()/backward() below are fusion_fast.cpp's fusion_forward/fusion_backward line for line
// (same products, same order of operations, same names), with each CPU loop replaced by a kernel
// from fusion_kernels.cuh and each gemm<T> by fusion_k::gemm (cuBLAS, pure fp32). nce() is
// nce_loss.cpp, loss_grads() is fusion_train.cpp's fusion_loss, adamw() is adamw.cpp's step.
#include "fusion_gpu.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "cuda_util.cuh"
#include "fusion_kernels.cuh"
#include "fusion_nce.cuh"

namespace reco {

using namespace fusion_k;

namespace {

// Device activations of one module's forward, kept for its backward (fusion.h FusionCache).
struct ModuleCache {
    int B = 0, k = 0;
    const float* q = nullptr;    // [B,d] (device, not owned)
    const float* nbr = nullptr;  // [B,k,d]
    DevBuf<float> xn, mean1, rstd1, Q, U, c, A, Z, O, H, hn, mean2, rstd2, F1, G, Y, norm, out;
    DevBuf<float> dY, dF, dhn, dO, dZ, dU, dQ, dxn;
};

constexpr float kLnEps = 1e-5f;  // SPEC §3

}  // namespace

struct FusionGpu::Impl {
    FusionDims dims;
    size_t numel = 0, M = 0;  // whole buffer, one module
    AdamWConfig cfg;
    int64_t t = 0;
    float logit_scale = 0.0f;  // host mirror of params[2M] (the loss needs s on the host)
    cudaStream_t st = nullptr;
    cublasHandle_t blas = nullptr;
    DevBuf<float> params, grads, m, v;
    DevBuf<unsigned char> decay;
    ModuleCache img, txt;
    DevBuf<float> in_V, in_T, in_a, in_b;
    DevBuf<float> dVbar, dTbar, parts, ones, ln_terms;
    NceWorkspace nce_ws;

    // a device vector of at least n ones (the column sums are GEMVs against it)
    const float* ones_n(size_t n) {
        if (ones.size() < n) {
            ones.reserve(n);
            std::vector<float> h(n, 1.0f);  // pageable: staged before the call returns, so h may go
            CUDA_CHECK(cudaMemcpyAsync(ones.get(), h.data(), n * 4, cudaMemcpyHostToDevice, st));
        }
        return ones.get();
    }
    // dw += Σ_r dout·xhat, db += Σ_r dout over the N rows of a LayerNorm (fusion_ops::layernorm_backward)
    void ln_dwdb(float* dw, float* db, const float* dout, const float* q, const float* nbr, int Tn, const float* mean,
                 const float* rstd, int N, int C) {
        ln_terms.reserve((size_t)N * C);
        const float* one = ones_n(N);
        ln_dw_terms_kernel<<<grid_1d((size_t)N * C), 256, 0, st>>>(ln_terms.get(), dout, q, nbr, Tn, mean, rstd, N, C);
        KERNEL_CHECK();
        colsum_add(blas, dw, ln_terms.get(), N, C, C, one);
        colsum_add(blas, db, dout, N, C, C, one);
    }

    ~Impl() {
        if (blas) cublasDestroy(blas);
        if (st) cudaStreamDestroy(st);
    }

    // ---------------------------------------------------------------- fusion_forward
    void forward(ModuleCache& c, const float* module, const float* q, const float* nbr, int B, int k) {
        const int D = dims.d, NH = dims.heads, hd = dims.head_dim(), Tn = k + 1;
        const float scale = 1.0f / sqrtf((float)hd);
        const size_t BD = (size_t)B * D;
        auto w = fusion_tensors<const float>(module, D);
        c.B = B, c.k = k, c.q = q, c.nbr = nbr;
        c.xn.reserve(BD * Tn), c.mean1.reserve((size_t)B * Tn), c.rstd1.reserve((size_t)B * Tn);
        for (DevBuf<float>* b : {&c.Q, &c.O, &c.H, &c.hn, &c.Y, &c.out}) b->reserve(BD);
        c.U.reserve(BD * NH), c.Z.reserve(BD * NH), c.c.reserve((size_t)B * NH), c.A.reserve((size_t)B * NH * Tn);
        c.mean2.reserve(B), c.rstd2.reserve(B), c.norm.reserve(B);
        c.F1.reserve(4 * BD), c.G.reserve(4 * BD);

        // xn[b,i] = LN1(x_i), x_0 = q[b], x_i = nbr[b,i-1]
        ln_forward_kernel<<<grid_rows(B * Tn), 256, 0, st>>>(c.xn.get(), c.mean1.get(), c.rstd1.get(), q, nbr, Tn,
                                                             w.ln1_w, w.ln1_b, B * Tn, D, kLnEps);
        KERNEL_CHECK();
        // Q = xn_0·W_qᵀ + b_q     (xn_0 rows are Tn·D apart)
        gemm(blas, false, true, B, D, D, 1.0f, c.xn.get(), Tn * D, w.q_w, D, 0.0f, c.Q.get(), D);
        add_bias_kernel<<<grid_1d(BD), 256, 0, st>>>(c.Q.get(), w.q_b, B, D);
        KERNEL_CHECK();
        // U_h = s·Q_h·W_k,h  [B,d] per head;  c_h = s·Q_h·b_k,h
        gemm_batched(blas, false, false, B, D, hd, scale, c.Q.get(), D, hd, w.k_w, D, (long long)hd * D, 0.0f,
                     c.U.get(), NH * D, D, NH);
        key_bias_scores_kernel<<<grid_1d((size_t)B * NH), 256, 0, st>>>(c.c.get(), c.Q.get(), w.k_b, B, NH, hd,
                                                                        scale);
        KERNEL_CHECK();
        // A_h = softmax_i(U_h·xn_i + c_h);  Z_h = Σ_i A_{h,i} xn_i
        attn_row_forward_kernel<<<B * NH, 128, Tn * sizeof(float), st>>>(c.A.get(), c.Z.get(), c.U.get(), c.c.get(),
                                                                         c.xn.get(), NH, Tn, D);
        KERNEL_CHECK();
        // O_h = Z_h·W_v,hᵀ + b_v,h
        gemm_batched(blas, false, true, B, hd, D, 1.0f, c.Z.get(), NH * D, D, w.v_w, D, (long long)hd * D, 0.0f,
                     c.O.get(), D, hd, NH);
        add_bias_kernel<<<grid_1d(BD), 256, 0, st>>>(c.O.get(), w.v_b, B, D);
        KERNEL_CHECK();
        // H0 = x_0 + O·W_oᵀ + b_o
        gemm(blas, false, true, B, D, D, 1.0f, c.O.get(), D, w.o_w, D, 0.0f, c.H.get(), D);
        add_bias_residual_kernel<<<grid_1d(BD), 256, 0, st>>>(c.H.get(), w.o_b, q, B, D);
        KERNEL_CHECK();
        // Y0 = H0 + fc2(GELU(fc1(LN2(H0))))
        ln_forward_kernel<<<grid_rows(B), 256, 0, st>>>(c.hn.get(), c.mean2.get(), c.rstd2.get(), c.H.get(), nullptr,
                                                        1, w.ln2_w, w.ln2_b, B, D, kLnEps);
        KERNEL_CHECK();
        gemm(blas, false, true, B, 4 * D, D, 1.0f, c.hn.get(), D, w.fc1_w, D, 0.0f, c.F1.get(), 4 * D);
        bias_gelu_kernel<<<grid_1d(4 * BD), 256, 0, st>>>(c.F1.get(), c.G.get(), w.fc1_b, B, 4 * D);
        KERNEL_CHECK();
        bias_copy_kernel<<<grid_1d(BD), 256, 0, st>>>(c.Y.get(), c.H.get(), w.fc2_b, B, D);
        KERNEL_CHECK();
        gemm(blas, false, true, B, D, 4 * D, 1.0f, c.G.get(), 4 * D, w.fc2_w, 4 * D, 1.0f, c.Y.get(), D);
        // q̄ = Y0/||Y0||
        l2norm_forward_kernel<<<grid_rows(B), 256, 0, st>>>(c.out.get(), c.norm.get(), c.Y.get(), B, D);
        KERNEL_CHECK();
    }

    // ---------------------------------------------------------------- fusion_backward (no input gradients)
    void backward(ModuleCache& c, const float* module, float* dmodule, const float* dout) {
        const int D = dims.d, NH = dims.heads, hd = dims.head_dim(), B = c.B, Tn = c.k + 1;
        const float scale = 1.0f / sqrtf((float)hd);
        const size_t BD = (size_t)B * D;
        auto w = fusion_tensors<const float>(module, D);
        auto g = fusion_tensors<float>(dmodule, D);
        c.dY.reserve(BD), c.dF.reserve(4 * BD), c.dhn.reserve(BD), c.dO.reserve(BD), c.dQ.reserve(BD);
        c.dZ.reserve(BD * NH), c.dU.reserve(BD * NH), c.dxn.reserve(BD * Tn);
        const float* one = ones_n((size_t)B * Tn);  // once, before any use: ones_n may reallocate

        // q̄ = Y0/||Y0||
        CUDA_CHECK(cudaMemsetAsync(c.dY.get(), 0, BD * sizeof(float), st));
        l2norm_backward_kernel<<<grid_rows(B), 256, 0, st>>>(c.dY.get(), dout, c.out.get(), c.norm.get(), B, D);
        KERNEL_CHECK();
        // Y0 = H0 + G·W2ᵀ + b2:  dH0 = dY0, dW2 += dY0ᵀ·G, db2 += Σ dY0, dG = dY0·W2
        gemm(blas, true, false, D, 4 * D, B, 1.0f, c.dY.get(), D, c.G.get(), 4 * D, 1.0f, g.fc2_w, 4 * D);
        colsum_add(blas, g.fc2_b, c.dY.get(), B, D, D, one);
        gemm(blas, false, false, B, 4 * D, D, 1.0f, c.dY.get(), D, w.fc2_w, 4 * D, 0.0f, c.dF.get(), 4 * D);
        // G = GELU(F1):  dF1 = dG·GELU'(F1)   (in place)
        gelu_backward_kernel<<<grid_1d(4 * BD), 256, 0, st>>>(c.dF.get(), nullptr, c.F1.get(), 4 * BD, true);
        KERNEL_CHECK();
        // F1 = hn·W1ᵀ + b1:  dW1 += dF1ᵀ·hn, db1 += Σ dF1, dhn = dF1·W1
        gemm(blas, true, false, 4 * D, D, B, 1.0f, c.dF.get(), 4 * D, c.hn.get(), D, 1.0f, g.fc1_w, D);
        colsum_add(blas, g.fc1_b, c.dF.get(), B, 4 * D, 4 * D, one);
        gemm(blas, false, false, B, D, 4 * D, 1.0f, c.dF.get(), 4 * D, w.fc1_w, D, 0.0f, c.dhn.get(), D);
        // hn = LN2(H0):  dH0 += LN2ᵀ(dhn)
        ln_backward_dx_kernel<<<grid_rows(B), 256, 0, st>>>(c.dY.get(), nullptr, 1, c.dhn.get(), c.H.get(), nullptr,
                                                            w.ln2_w, c.mean2.get(), c.rstd2.get(), B, D);
        ln_dwdb(g.ln2_w, g.ln2_b, c.dhn.get(), c.H.get(), nullptr, 1, c.mean2.get(), c.rstd2.get(), B, D);
        KERNEL_CHECK();
        const float* dH = c.dY.get();
        // H0 = x_0 + O·W_oᵀ + b_o:  dW_o += dH0ᵀ·O, db_o += Σ dH0, dO = dH0·W_o   (x_0 is frozen)
        gemm(blas, true, false, D, D, B, 1.0f, dH, D, c.O.get(), D, 1.0f, g.o_w, D);
        colsum_add(blas, g.o_b, dH, B, D, D, one);
        gemm(blas, false, false, B, D, D, 1.0f, dH, D, w.o_w, D, 0.0f, c.dO.get(), D);
        // O_h = Z_h·W_v,hᵀ + b_v,h:  dW_v,h += dO_hᵀ·Z_h, db_v += Σ dO, dZ_h = dO_h·W_v,h
        colsum_add(blas, g.v_b, c.dO.get(), B, D, D, one);
        gemm_batched(blas, true, false, hd, D, B, 1.0f, c.dO.get(), D, hd, c.Z.get(), NH * D, D, 1.0f, g.v_w, D,
                     (long long)hd * D, NH);
        gemm_batched(blas, false, false, B, D, hd, 1.0f, c.dO.get(), D, hd, w.v_w, D, (long long)hd * D, 0.0f,
                     c.dZ.get(), NH * D, D, NH);
        // per item and head: dS, dU_h, dxn (zeroed first)
        attn_row_backward_kernel<<<B, 256, Tn * sizeof(float), st>>>(c.dU.get(), c.dxn.get(), c.dZ.get(), c.A.get(),
                                                                     c.U.get(), c.xn.get(), NH, Tn, D);
        KERNEL_CHECK();
        // U_h = s·Q_h·W_k,h:  dQ_h = s·dU_h·W_k,hᵀ,  dW_k,h += s·Q_hᵀ·dU_h,  db_k += 0
        gemm_batched(blas, false, true, B, hd, D, scale, c.dU.get(), NH * D, D, w.k_w, D, (long long)hd * D, 0.0f,
                     c.dQ.get(), D, hd, NH);
        gemm_batched(blas, true, false, hd, D, B, scale, c.Q.get(), D, hd, c.dU.get(), NH * D, D, 1.0f, g.k_w, D,
                     (long long)hd * D, NH);
        // Q = xn_0·W_qᵀ + b_q:  dW_q += dQᵀ·xn_0, db_q += Σ dQ, dxn_0 += dQ·W_q
        gemm(blas, true, false, D, D, B, 1.0f, c.dQ.get(), D, c.xn.get(), Tn * D, 1.0f, g.q_w, D);
        colsum_add(blas, g.q_b, c.dQ.get(), B, D, D, one);
        gemm(blas, false, false, B, D, D, 1.0f, c.dQ.get(), D, w.q_w, D, 1.0f, c.dxn.get(), Tn * D);
        // xn_i = LN1(x_i) for every token: dln1_w, dln1_b (the inputs are frozen: no dx)
        ln_dwdb(g.ln1_w, g.ln1_b, c.dxn.get(), c.q, c.nbr, Tn, c.mean1.get(), c.rstd1.get(), B * Tn, D);
    }

    void nce(const float* A, const float* Bm, int N, float s, float* dA, float* dB, float* out2) {
        nce_ws.run(blas, st, A, Bm, N, dims.d, s, dA, dB, out2);
    }

    // ---------------------------------------------------------------- fusion_loss (enqueue only)
    // The three terms' (loss, ds) land in parts[0..6); gradients accumulate into grads when asked.
    void loss_grads_enqueue(const float* V, const float* T, const float* nbr_txt_for_img, const float* nbr_img_for_txt,
                            int B, int k, bool want_grads) {
        dims.validate();
        if (B < 1 || k < 0) fail("fusion_loss: invalid batch %d or k %d", B, k);
        const int D = dims.d;
        const float* p_img = params.get();
        const float* p_txt = params.get() + M;
        forward(img, p_img, V, nbr_txt_for_img, B, k);
        forward(txt, p_txt, T, nbr_img_for_txt, B, k);
        const float s_raw = std::exp(logit_scale);
        const float s = std::min(s_raw, 100.0f);  // logit_scale_to_s
        parts.reserve(6);
        float *dV = nullptr, *dT = nullptr;
        if (want_grads) {
            dVbar.reserve((size_t)B * D), dTbar.reserve((size_t)B * D);
            CUDA_CHECK(cudaMemsetAsync(dVbar.get(), 0, (size_t)B * D * sizeof(float), st));
            CUDA_CHECK(cudaMemsetAsync(dTbar.get(), 0, (size_t)B * D * sizeof(float), st));
            dV = dVbar.get(), dT = dTbar.get();
        }
        // L = NCE(V̄, T̄) + NCE(V̄, T) + NCE(V, T̄)
        nce(img.out.get(), txt.out.get(), B, s, dV, dT, parts.get() + 0);
        nce(img.out.get(), T, B, s, dV, nullptr, parts.get() + 2);
        nce(V, txt.out.get(), B, s, nullptr, dT, parts.get() + 4);
        if (!want_grads) return;
        logit_scale_grad_kernel<<<1, 1, 0, st>>>(grads.get() + 2 * M, parts.get(), s_raw);
        KERNEL_CHECK();
        backward(img, p_img, grads.get(), dVbar.get());
        backward(txt, p_txt, grads.get() + M, dTbar.get());
    }

    // ---------------------------------------------------------------- AdamW::step
    void adamw(double lr) {
        t += 1;
        const double bc1 = 1.0 - std::pow(cfg.beta1, (double)t);
        const double bc2 = 1.0 - std::pow(cfg.beta2, (double)t);
        const float neg_step_size = (float)-(lr / bc1);
        const float bc2_sqrt = (float)std::sqrt(bc2);
        const float w1 = (float)(1.0 - cfg.beta1);
        const float b2 = (float)cfg.beta2, one_minus_b2 = (float)(1.0 - cfg.beta2), eps = (float)cfg.eps;
        const float decay_mul = (float)(1.0 - lr * cfg.weight_decay);
        adamw_kernel<<<grid_1d(numel), 256, 0, st>>>(params.get(), m.get(), v.get(), grads.get(), decay.get(), numel,
                                                     decay_mul, w1, b2, one_minus_b2, eps, neg_step_size, bc2_sqrt);
        KERNEL_CHECK();
    }

    // Wait for the step; read the losses and the new logit_scale.
    float finish() {
        float host_parts[6];
        CUDA_CHECK(cudaMemcpyAsync(host_parts, parts.get(), sizeof host_parts, cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaMemcpyAsync(&logit_scale, params.get() + 2 * M, sizeof(float), cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        float loss = host_parts[0];
        loss += host_parts[2];
        loss += host_parts[4];
        return loss;
    }

    void upload_inputs(const float* V, const float* T, const float* nbr_txt_for_img, const float* nbr_img_for_txt,
                       int B, int k) {
        const size_t BD = (size_t)B * dims.d, BKD = BD * k;
        in_V.reserve(BD), in_T.reserve(BD), in_a.reserve(std::max<size_t>(BKD, 1)),
            in_b.reserve(std::max<size_t>(BKD, 1));
        CUDA_CHECK(cudaMemcpyAsync(in_V.get(), V, BD * 4, cudaMemcpyHostToDevice, st));
        CUDA_CHECK(cudaMemcpyAsync(in_T.get(), T, BD * 4, cudaMemcpyHostToDevice, st));
        if (BKD) {
            CUDA_CHECK(cudaMemcpyAsync(in_a.get(), nbr_txt_for_img, BKD * 4, cudaMemcpyHostToDevice, st));
            CUDA_CHECK(cudaMemcpyAsync(in_b.get(), nbr_img_for_txt, BKD * 4, cudaMemcpyHostToDevice, st));
        }
    }

    // ---------------------------------------------------------------- data-parallel step
    // Rows [b0, b0+Bl) of the global batch of B on this rank (dist/data_parallel.h, steps 1-6).
    DevBuf<float> dp_mine, dp_all, dp_V, dp_T, dp_Vbar, dp_Tbar;
    float step_data_parallel(DeviceCollectives& cc, const float* V, const float* T, const float* nbr_txt_for_img,
                             const float* nbr_img_for_txt, int Bl, int B, int b0, int k, double lr) {
        const int D = dims.d;
        const size_t row = (size_t)D * sizeof(float);
        const float* p_img = params.get();
        const float* p_txt = params.get() + M;
        CUDA_CHECK(cudaMemsetAsync(grads.get(), 0, numel * sizeof(float), st));
        // 1. forward of this rank's rows, 2. packed [V̄ | T̄ | V | T] rows, all-gathered in rank order
        dp_mine.reserve(std::max<size_t>((size_t)Bl * 4 * D, 1));
        dp_all.reserve((size_t)B * 4 * D);
        if (Bl > 0) {
            forward(img, p_img, V, nbr_txt_for_img, Bl, k);
            forward(txt, p_txt, T, nbr_img_for_txt, Bl, k);
            const float* part[4] = {img.out.get(), txt.out.get(), V, T};
            for (int j = 0; j < 4; j++)
                CUDA_CHECK(cudaMemcpy2DAsync(dp_mine.get() + (size_t)j * D, 4 * row, part[j], row, row, Bl,
                                             cudaMemcpyDeviceToDevice, st));
        }
        CUDA_CHECK(cudaStreamSynchronize(st));
        cc.allgather_rows_device(dp_mine.get(), dp_all.get(), batch_slice_rows(B, cc.size()), 4 * D);
        DevBuf<float>* whole[4] = {&dp_Vbar, &dp_Tbar, &dp_V, &dp_T};
        for (int j = 0; j < 4; j++) {
            whole[j]->reserve((size_t)B * D);
            CUDA_CHECK(cudaMemcpy2DAsync(whole[j]->get(), row, dp_all.get() + (size_t)j * D, 4 * row, row, B,
                                         cudaMemcpyDeviceToDevice, st));
        }
        // 3. the global batch's loss (every rank the same); the scale's gradient from rank 0 only
        const float s_raw = std::exp(logit_scale);
        const float s = std::min(s_raw, 100.0f);
        parts.reserve(6);
        dVbar.reserve((size_t)B * D), dTbar.reserve((size_t)B * D);
        CUDA_CHECK(cudaMemsetAsync(dVbar.get(), 0, (size_t)B * D * sizeof(float), st));
        CUDA_CHECK(cudaMemsetAsync(dTbar.get(), 0, (size_t)B * D * sizeof(float), st));
        nce(dp_Vbar.get(), dp_Tbar.get(), B, s, dVbar.get(), dTbar.get(), parts.get() + 0);
        nce(dp_Vbar.get(), dp_T.get(), B, s, dVbar.get(), nullptr, parts.get() + 2);
        nce(dp_V.get(), dp_Tbar.get(), B, s, nullptr, dTbar.get(), parts.get() + 4);
        if (cc.rank() == 0) {
            logit_scale_grad_kernel<<<1, 1, 0, st>>>(grads.get() + 2 * M, parts.get(), s_raw);
            KERNEL_CHECK();
        }
        // 4. backward through the gather: this rank's rows of dL/dV̄, dL/dT̄
        if (Bl > 0) {
            backward(img, p_img, grads.get(), dVbar.get() + (size_t)b0 * D);
            backward(txt, p_txt, grads.get() + M, dTbar.get() + (size_t)b0 * D);
        }
        // 5. gradients summed in rank order, 6. the same update everywhere
        CUDA_CHECK(cudaStreamSynchronize(st));
        cc.sum_in_rank_order_device(grads.get(), numel);
        adamw(lr);
        return finish();
    }

    float step(const float* V, const float* T, const float* nbr_txt_for_img, const float* nbr_img_for_txt, int B, int k,
               double lr) {
        CUDA_CHECK(cudaMemsetAsync(grads.get(), 0, numel * sizeof(float), st));
        loss_grads_enqueue(V, T, nbr_txt_for_img, nbr_img_for_txt, B, k, true);
        adamw(lr);
        return finish();
    }
};

FusionGpu::FusionGpu(const FusionModel& model, const AdamW* opt) : impl_(new Impl) {
    Impl& I = *impl_;
    model.dims.validate();
    I.dims = model.dims;
    I.numel = model.dims.total_numel();
    I.M = model.dims.module_numel();
    if (model.params.size() != I.numel)
        fail("FusionGpu: the model has %zu parameters, expected %zu", model.params.size(), I.numel);
    I.cfg = opt ? opt->cfg : AdamWConfig();
    I.t = opt ? opt->t : 0;
    I.logit_scale = model.params[2 * I.M];
    CUDA_CHECK(cudaStreamCreateWithFlags(&I.st, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&I.blas));
    CUBLAS_CHECK(cublasSetStream(I.blas, I.st));
    CUBLAS_CHECK(cublasSetMathMode(I.blas, CUBLAS_PEDANTIC_MATH));  // no TF32, whatever the environment says
    I.params.reserve(I.numel), I.grads.reserve(I.numel), I.m.reserve(I.numel), I.v.reserve(I.numel);
    I.decay.reserve(I.numel);
    CUDA_CHECK(cudaMemcpy(I.params.get(), model.params.data(), I.numel * 4, cudaMemcpyHostToDevice));
    if (opt && opt->m.size() == I.numel && opt->v.size() == I.numel) {
        CUDA_CHECK(cudaMemcpy(I.m.get(), opt->m.data(), I.numel * 4, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(I.v.get(), opt->v.data(), I.numel * 4, cudaMemcpyHostToDevice));
    } else {
        CUDA_CHECK(cudaMemset(I.m.get(), 0, I.numel * 4));
        CUDA_CHECK(cudaMemset(I.v.get(), 0, I.numel * 4));
    }
    // decoupled weight decay on 2-D weights only (adamw.cpp: r.decay && weight_decay != 0)
    std::vector<unsigned char> mask(I.numel, 0);
    for (const ParamEntry& e : model.table)
        if (e.weight_decay && I.cfg.weight_decay != 0.0) {
            if (e.offset + e.numel > I.numel)
                fail("FusionGpu: parameter table entry %s is out of range", e.name.c_str());
            std::fill(mask.begin() + e.offset, mask.begin() + e.offset + e.numel, (unsigned char)1);
        }
    CUDA_CHECK(cudaMemcpy(I.decay.get(), mask.data(), I.numel, cudaMemcpyHostToDevice));
    // the uploads above ran on the legacy default stream, which does not order the non-blocking stream st
    CUDA_CHECK(cudaDeviceSynchronize());
}

FusionGpu::~FusionGpu() = default;

float FusionGpu::train_step(const float* V, const float* T, const float* nbr_txt_for_img, const float* nbr_img_for_txt,
                            int B, int k, double lr) {
    Impl& I = *impl_;
    I.upload_inputs(V, T, nbr_txt_for_img, nbr_img_for_txt, B, k);
    return I.step(I.in_V.get(), I.in_T.get(), I.in_a.get(), I.in_b.get(), B, k, lr);
}

float FusionGpu::train_step_device(const float* V, const float* T, const float* nbr_txt_for_img,
                                   const float* nbr_img_for_txt, int B, int k, double lr) {
    return impl_->step(V, T, nbr_txt_for_img, nbr_img_for_txt, B, k, lr);
}

float FusionGpu::train_step_data_parallel(DeviceCollectives& c, const float* V, const float* T,
                                          const float* nbr_txt_for_img, const float* nbr_img_for_txt, int B, int k,
                                          double lr) {
    Impl& I = *impl_;
    if (B < 1 || k < 0) fail("data-parallel step: invalid batch %d or k %d", B, k);
    int b0, b1;
    batch_slice(B, c.size(), c.rank(), &b0, &b1);
    if (b1 > b0) I.upload_inputs(V, T, nbr_txt_for_img, nbr_img_for_txt, b1 - b0, k);
    return I.step_data_parallel(c, I.in_V.get(), I.in_T.get(), I.in_a.get(), I.in_b.get(), b1 - b0, B, b0, k, lr);
}

float FusionGpu::loss_and_grads(const float* V, const float* T, const float* nbr_txt_for_img,
                                const float* nbr_img_for_txt, int B, int k, std::vector<float>* grads) {
    Impl& I = *impl_;
    I.upload_inputs(V, T, nbr_txt_for_img, nbr_img_for_txt, B, k);
    CUDA_CHECK(cudaMemsetAsync(I.grads.get(), 0, I.numel * sizeof(float), I.st));
    I.loss_grads_enqueue(I.in_V.get(), I.in_T.get(), I.in_a.get(), I.in_b.get(), B, k, grads != nullptr);
    const float loss = I.finish();
    if (grads) {
        grads->resize(I.numel);
        CUDA_CHECK(cudaMemcpy(grads->data(), I.grads.get(), I.numel * 4, cudaMemcpyDeviceToHost));
    }
    return loss;
}

void FusionGpu::refine(Modality mod, const float* q, const float* nbr, int B, int k, float* out) {
    Impl& I = *impl_;
    const int D = I.dims.d;
    const int chunk = 4096;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int n = std::min(chunk, B - b0);
        I.upload_inputs(q + (size_t)b0 * D, q + (size_t)b0 * D, nbr + (size_t)b0 * k * D, nbr + (size_t)b0 * k * D,
                        n, k);
        ModuleCache& c = mod == Modality::image ? I.img : I.txt;
        I.forward(c, I.params.get() + (mod == Modality::image ? 0 : I.M), I.in_V.get(), I.in_a.get(), n, k);
        CUDA_CHECK(cudaMemcpyAsync(out + (size_t)b0 * D, c.out.get(), (size_t)n * D * 4, cudaMemcpyDeviceToHost, I.st));
        CUDA_CHECK(cudaStreamSynchronize(I.st));
    }
}

void FusionGpu::download(FusionModel& model, AdamW* opt) const {
    const Impl& I = *impl_;
    model.params.resize(I.numel);
    CUDA_CHECK(cudaMemcpy(model.params.data(), I.params.get(), I.numel * 4, cudaMemcpyDeviceToHost));
    if (opt) {
        opt->cfg = I.cfg;
        opt->t = I.t;
        opt->m.resize(I.numel), opt->v.resize(I.numel);
        CUDA_CHECK(cudaMemcpy(opt->m.data(), I.m.get(), I.numel * 4, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(opt->v.data(), I.v.get(), I.numel * 4, cudaMemcpyDeviceToHost));
    }
}

int64_t FusionGpu::step_count() const { return impl_->t; }

}  // namespace reco
