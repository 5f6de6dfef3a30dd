// sigmoid_loss.h — SigLIP's pairwise sigmoid loss (Zhai et al. 2023) as an alternative to the NCE
// terms of the RECO loss (SPEC §8, `reco train --loss sigmoid`).
//
//   z_ij = t·a_i·b_j + β,  t = min(exp(logit_scale), 100),  β = logit_bias
//   ℓ_ij = +1 if i = j else −1
//   SIG(A, B) = −(1/N) Σ_i Σ_j log σ(ℓ_ij·z_ij)          (sum over all N² pairs, divided by N)
//   L = SIG(V̄, T̄) + SIG(V̄, T) + SIG(V, T̄)
// exactly the three pairings of the NCE loss (nce_loss.h). The three terms SHARE one
// (logit_scale, logit_bias) pair, as the NCE version shares its one logit_scale across its terms:
// the module is one model with one temperature, and the frozen-side terms only calibrate that scale.
// The scale is clamped like NCE's (torch.clamp(max=100) semantics: gradient 0 above 100).
// Initialisation (SigLIP paper, SPEC §8): logit_scale = ln 10, logit_bias = −10.
// ℓ is symmetric, so SIG(A, B) = SIG(B, A): one pass over the N² pairs covers both directions.
// Templated on the scalar (float for training, double for the finite-difference checks).
#pragma once

namespace reco {

extern const float kSigmoidInitLogitScale;  // ln 10
extern const float kSigmoidInitLogitBias;   // −10

// One sigmoid term over rows of A [N,d] and B [N,d] (row i of A pairs with row i of B), scale t and
// bias b given directly. Returns the loss; ACCUMULATES dL/dA into dA, dL/dB into dB, dL/dt into *dt
// and dL/db into *db (each may be null).
template <class T>
T sigmoid_loss(const T* A, const T* B, int N, int d, T t, T b, T* dA, T* dB, T* dt, T* db);

// The three-term loss with the sigmoid in each term. dVbar, dTbar, dlogit_scale, dlogit_bias
// accumulate (+=); any may be null.
template <class T>
T reco_sigmoid_loss(const T* Vbar, const T* Tbar, const T* V, const T* Tt, int N, int d, T logit_scale,
                    T logit_bias, T* dVbar, T* dTbar, T* dlogit_scale, T* dlogit_bias);

}  // namespace reco
