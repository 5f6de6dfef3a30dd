// fusion_train.h — the RECO loss through both fusion modules, and one AdamW training step (SPEC §4).
//
//   V̄ = φ_img(V, nbr_txt_for_img),  T̄ = φ_txt(T, nbr_img_for_txt)
//   L = NCE(V̄, T̄) + NCE(V̄, T) + NCE(V, T̄)            (LossKind::nce, the paper's; nce_loss.h)
//   L = SIG(V̄, T̄) + SIG(V̄, T) + SIG(V, T̄)            (LossKind::sigmoid, SigLIP's; sigmoid_loss.h)
// V, T [B,d] are the frozen CLIP embeddings of the batch; nbr_txt_for_img [B,k,d] holds, for item b,
// the TEXT embeddings of the k memory pairs nearest to V[b] (image→image search), most similar
// first; nbr_img_for_txt [B,k,d] the IMAGE embeddings of the pairs nearest to T[b] (text→text).
// Parameters and gradients use the whole-model buffer layout of fusion.h
// (image_fusion | text_fusion | logit_scale [| logit_bias]); the sigmoid loss needs the model's
// logit_bias (dims.logit_bias), the NCE loss a model without one.
#pragma once
#include <string>
#include <vector>

#include "adamw.h"
#include "fusion.h"

namespace reco {

enum class LossKind { nce, sigmoid };
// "nce" / "sigmoid" ↔ LossKind; parse_loss throws a reco::Error naming the choices on anything else.
LossKind parse_loss(const std::string& name);
const char* loss_name(LossKind loss);

template <class T>
struct FusionLossWorkspace {
    FusionCache<T> img, txt;             // fast path
    FusionRefCache<T> img_ref, txt_ref;  // reference path
    std::vector<T> dVbar, dTbar;
};

// Returns L. When grads is non-null, ACCUMULATES dL/dparams into it (total_numel values).
// reference = true runs the full-sequence reference layer instead of the fast query-row path.
// Throws when loss and dims.logit_bias disagree (sigmoid needs the bias parameter, NCE has none).
template <class T>
T fusion_loss(const FusionDims& dims, const T* params, T* grads, const T* V, const T* Tt,
              const T* nbr_txt_for_img, const T* nbr_img_for_txt, int B, int k, FusionLossWorkspace<T>& ws,
              bool reference = false, LossKind loss = LossKind::nce);

struct FusionTrainWorkspace {
    FusionLossWorkspace<float> loss;
    std::vector<float> grads;
};

// One training step: zero the gradients, forward + backward of L on the batch, one AdamW update
// with learning rate lr. Returns the loss BEFORE the update.
float fusion_train_step(FusionModel& model, AdamW& opt, FusionTrainWorkspace& ws, const float* V, const float* T,
                        const float* nbr_txt_for_img, const float* nbr_img_for_txt, int B, int k, double lr,
                        LossKind loss = LossKind::nce);

}  // namespace reco
