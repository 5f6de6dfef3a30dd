// nce_loss.h — the RECO training loss (SPEC §4): symmetric InfoNCE over a batch, three terms.
//
//   NCE(A, B) = ½ [CE(s·A·Bᵀ, I) + CE(s·B·Aᵀ, I)],  mean over the N rows of the batch,
//   L = NCE(V̄, T̄) + NCE(V̄, T) + NCE(V, T̄),        s = min(exp(logit_scale), 100).
// V, T are the frozen CLIP embeddings (no gradient); V̄, T̄ the fused ones. The clamp follows
// torch.clamp(max=100): when exp(logit_scale) > 100 the gradient w.r.t. logit_scale is exactly 0
// (at exactly 100 it passes through, as torch's clamp backward does).
// Templated on the scalar (float for training, double for the finite-difference checks).
#pragma once

namespace reco {

// One NCE term over rows of A [N,d] and B [N,d] (row i of A pairs with row i of B).
// Returns the loss; ACCUMULATES dL/dA into dA, dL/dB into dB (either may be null) and dL/ds into *ds
// (may be null).
template <class T>
T nce_loss(const T* A, const T* B, int N, int d, T s, T* dA, T* dB, T* ds);

// The three-term loss. dVbar, dTbar, dlogit_scale accumulate (+=); any may be null.
template <class T>
T reco_loss(const T* Vbar, const T* Tbar, const T* V, const T* Tt, int N, int d, T logit_scale, T* dVbar,
            T* dTbar, T* dlogit_scale);

// s = min(exp(logit_scale), 100)
template <class T>
T logit_scale_to_s(T logit_scale);

}  // namespace reco
