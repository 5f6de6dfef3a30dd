// fusion_train.cpp — loss through both fusion modules and one AdamW step (see fusion_train.h).
#include "fusion_train.h"

#include <algorithm>

#include "common.h"
#include "impl.h"
#include "nce_loss.h"
#include "sigmoid_loss.h"

namespace reco {

LossKind parse_loss(const std::string& name) {
    if (name == "nce") return LossKind::nce;
    if (name == "sigmoid") return LossKind::sigmoid;
    fail("unknown loss '%s' (nce: the paper's contrastive loss, or sigmoid: SigLIP's pairwise loss)", name.c_str());
}

const char* loss_name(LossKind loss) { return loss == LossKind::sigmoid ? "sigmoid" : "nce"; }

// The three-term loss of `loss` on the fused and frozen embeddings; gradient pointers as reco_loss.
template <class T>
static T three_term_loss(LossKind loss, const T* params, size_t M, const T* Vbar, const T* Tbar, const T* V,
                         const T* Tt, int B, int D, T* dVbar, T* dTbar, T* grads) {
    const T logit_scale = params[2 * M];
    if (loss == LossKind::sigmoid)
        return reco_sigmoid_loss<T>(Vbar, Tbar, V, Tt, B, D, logit_scale, params[2 * M + 1], dVbar, dTbar,
                                    grads ? grads + 2 * M : nullptr, grads ? grads + 2 * M + 1 : nullptr);
    return reco_loss<T>(Vbar, Tbar, V, Tt, B, D, logit_scale, dVbar, dTbar, grads ? grads + 2 * M : nullptr);
}

template <class T>
T fusion_loss(const FusionDims& dims, const T* params, T* grads, const T* V, const T* Tt,
              const T* nbr_txt_for_img, const T* nbr_img_for_txt, int B, int k, FusionLossWorkspace<T>& ws,
              bool reference, LossKind loss) {
    dims.validate();
    if (impl() == Impl::reference) reference = true;  // --impl reference: the paper's full-sequence layer
    if (B < 1 || k < 0) fail("fusion_loss: invalid batch %d or k %d", B, k);
    if ((loss == LossKind::sigmoid) != dims.logit_bias)
        fail("fusion_loss: the %s loss needs a model %s a logit_bias parameter", loss_name(loss),
             dims.logit_bias ? "without" : "with");
    const int D = dims.d;
    const size_t M = dims.module_numel();
    const T* p_img = params;
    const T* p_txt = params + M;
    const T *Vbar, *Tbar;
    if (reference) {
        fusion_forward_ref(ws.img_ref, dims, p_img, V, nbr_txt_for_img, B, k);
        fusion_forward_ref(ws.txt_ref, dims, p_txt, Tt, nbr_img_for_txt, B, k);
        Vbar = ws.img_ref.out.data();
        Tbar = ws.txt_ref.out.data();
    } else {
        fusion_forward(ws.img, dims, p_img, V, nbr_txt_for_img, B, k);
        fusion_forward(ws.txt, dims, p_txt, Tt, nbr_img_for_txt, B, k);
        Vbar = ws.img.out.data();
        Tbar = ws.txt.out.data();
    }
    if (!grads) return three_term_loss<T>(loss, params, M, Vbar, Tbar, V, Tt, B, D, nullptr, nullptr, nullptr);

    ws.dVbar.assign((size_t)B * D, T(0));
    ws.dTbar.assign((size_t)B * D, T(0));
    const T L = three_term_loss<T>(loss, params, M, Vbar, Tbar, V, Tt, B, D, ws.dVbar.data(), ws.dTbar.data(),
                                   grads);
    // V, T and the neighbours are frozen: no input gradients
    if (reference) {
        fusion_backward_ref(ws.img_ref, dims, p_img, grads, ws.dVbar.data(), (T*)nullptr, (T*)nullptr);
        fusion_backward_ref(ws.txt_ref, dims, p_txt, grads + M, ws.dTbar.data(), (T*)nullptr, (T*)nullptr);
    } else {
        fusion_backward(ws.img, dims, p_img, grads, ws.dVbar.data(), (T*)nullptr, (T*)nullptr);
        fusion_backward(ws.txt, dims, p_txt, grads + M, ws.dTbar.data(), (T*)nullptr, (T*)nullptr);
    }
    return L;
}

float fusion_train_step(FusionModel& model, AdamW& opt, FusionTrainWorkspace& ws, const float* V, const float* T,
                        const float* nbr_txt_for_img, const float* nbr_img_for_txt, int B, int k, double lr,
                        LossKind kind) {
    ws.grads.assign(model.params.size(), 0.0f);
    const float loss = fusion_loss<float>(model.dims, model.params.data(), ws.grads.data(), V, T, nbr_txt_for_img,
                                          nbr_img_for_txt, B, k, ws.loss, false, kind);
    opt.step(model.params.data(), ws.grads.data(), lr);
    return loss;
}

template float fusion_loss<float>(const FusionDims&, const float*, float*, const float*, const float*,
                                  const float*, const float*, int, int, FusionLossWorkspace<float>&, bool,
                                  LossKind);
template double fusion_loss<double>(const FusionDims&, const double*, double*, const double*, const double*,
                                    const double*, const double*, int, int, FusionLossWorkspace<double>&, bool,
                                    LossKind);

}  // namespace reco
