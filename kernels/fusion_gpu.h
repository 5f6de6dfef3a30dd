// fusion_gpu.h — training and applying the RECO fusion modules on a CUDA device (SPEC §3–§4).
//
// FusionGpu holds the whole parameter buffer (fusion.h layout: image_fusion | text_fusion |
// logit_scale), its gradient and the AdamW moments on the device, and runs the same computation as
// fusion_train_step (fusion_train.h) — the fast query-row forward, the hand-derived backward, the
// three-term NCE loss and one fused AdamW kernel over the buffer — in fp32, with cuBLAS (no TF32)
// for the products and our kernels (fusion_kernels.cuh) for everything else. The trajectory follows
// the CPU's up to summation order.
//
// gpu_fusion_ops: host-pointer wrappers around single kernels, for tests/test_cuda_fusion.cpp.
//
// Only exists in CUDA builds: include it under #if RECO_CUDA.
#pragma once
#if RECO_CUDA
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "adamw.h"
#include "dist/data_parallel.h"
#include "fusion.h"

namespace reco {

class FusionGpu {
public:
    // Uploads model.params; with opt, also its configuration and state (t, m, v) for resuming,
    // else a fresh AdamW with default configuration (adamw.h).
    explicit FusionGpu(const FusionModel& model, const AdamW* opt = nullptr);
    ~FusionGpu();
    FusionGpu(const FusionGpu&) = delete;
    FusionGpu& operator=(const FusionGpu&) = delete;

    // fusion_train_step's contract on host arrays: V, T [B,d]; nbr_txt_for_img, nbr_img_for_txt
    // [B,k,d]. Zero the gradients, forward + backward of L, one AdamW update with lr.
    // Returns the loss BEFORE the update.
    float train_step(const float* V, const float* T, const float* nbr_txt_for_img, const float* nbr_img_for_txt,
                     int B, int k, double lr);
    // The same with device pointers (no host copies; benchmarks).
    float train_step_device(const float* V, const float* T, const float* nbr_txt_for_img,
                            const float* nbr_img_for_txt, int B, int k, double lr);
    // One data-parallel step (src/dist/data_parallel.h) on this rank's device: V, T [B_r,d] and the
    // neighbours [B_r,k,d] are THIS rank's rows of the global batch of B (host arrays, batch_slice).
    // Forward of its rows, all-gather of [V̄|T̄|V|T] over `c`, the global batch's NCE loss, backward of its
    // rows, gradients summed in rank order, the same AdamW update on every rank. nce loss only.
    // Returns the global batch's loss before the update.
    float train_step_data_parallel(DeviceCollectives& c, const float* V, const float* T,
                                   const float* nbr_txt_for_img, const float* nbr_img_for_txt, int B, int k,
                                   double lr);
    // fusion_loss with gradients, no update: returns L and (when grads is non-null) dL/dparams.
    float loss_and_grads(const float* V, const float* T, const float* nbr_txt_for_img, const float* nbr_img_for_txt,
                         int B, int k, std::vector<float>* grads);
    // fusion_refine: q̄ [B,d] for queries q [B,d] with neighbours nbr [B,k,d] (host arrays).
    void refine(Modality m, const float* q, const float* nbr, int B, int k, float* out);

    // Parameters (and, with opt, t, m, v) back to the host — for checkpoints.
    void download(FusionModel& model, AdamW* opt = nullptr) const;
    int64_t step_count() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

namespace gpu_fusion_ops {
// Each mirrors the fusion_ops.h / nce_loss.h / adamw.h function of the same name on host arrays,
// including the accumulate-into-gradient semantics.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps = 1e-5f);
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C);
void gelu_forward(float* out, const float* inp, size_t n);
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void l2norm_forward(float* out, float* norm, const float* inp, int N, int C);
void l2norm_backward(float* dinp, const float* dout, const float* out, const float* norm, int N, int C);
// The query row's attention of fusion_fast.cpp: A [B,NH,Tn], Z [B,NH,D] from U [B,NH,D], c [B,NH],
// xn [B,Tn,D]; and its backward: dU [B,NH,D] (assigned), dxn [B,Tn,D] (assigned) from dZ.
void attention_row_forward(float* A, float* Z, const float* U, const float* c, const float* xn, int B, int NH,
                           int Tn, int D);
void attention_row_backward(float* dU, float* dxn, const float* dZ, const float* A, const float* U, const float* xn,
                            int B, int NH, int Tn, int D);
float nce_loss(const float* A, const float* Bm, int N, int d, float s, float* dA, float* dB, float* ds);
// One AdamW update of n parameters (decay[i] != 0 → decayed), t = the update's 1-based index.
void adamw_step(float* p, float* m, float* v, const float* g, const uint8_t* decay, size_t n, const AdamWConfig& cfg,
                int64_t t, double lr);
}  // namespace gpu_fusion_ops

}  // namespace reco
#endif
