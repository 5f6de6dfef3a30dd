// sigmoid_loss.cpp — SigLIP's pairwise sigmoid loss and the three-term RECO version (see sigmoid_loss.h).
//
// With S = A·Bᵀ, z = t·S + b and u_ij = ℓ_ij·z_ij:
//   loss       = 1/N · Σ_ij softplus(−u_ij)                  (−log σ(u) = softplus(−u))
//   dloss/dz   = G,  G[i,j] = −ℓ_ij·σ(−u_ij) / N
//   dA = t·G·B,  dB = t·Gᵀ·A,  dt = Σ_ij G[i,j]·S[i,j],  db = Σ_ij G[i,j]
// softplus and σ are evaluated in their overflow-free forms (both branches on the sign).
#include "sigmoid_loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fusion_gemm.h"
#include "nce_loss.h"  // logit_scale_to_s: the same clamp

namespace reco {

const float kSigmoidInitLogitScale = 2.30258509f;  // ln 10
const float kSigmoidInitLogitBias = -10.0f;

template <class T>
T sigmoid_loss(const T* A, const T* B, int N, int d, T t, T b, T* dA, T* dB, T* dt, T* db) {
    std::vector<T> S((size_t)N * N);
    gemm<T>(false, true, N, N, d, T(1), A, d, B, d, T(0), S.data(), N);  // S = A·Bᵀ
    const T inv_n = T(1) / T(N);
    const bool want_grad = dA || dB || dt || db;
    double loss = 0;
    T dscale = 0, dbias = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            T& s = S[(size_t)i * N + j];
            const T label = i == j ? T(1) : T(-1);
            const T u = label * (t * s + b);
            // softplus(−u) = max(−u, 0) + log1p(exp(−|u|));  σ(−u) = e^{−u}/(1+e^{−u})
            const T e = std::exp(-std::fabs(u));
            loss += std::max(-u, T(0)) + std::log1p(e);
            if (want_grad) {
                const T sig_neg_u = u >= 0 ? e / (T(1) + e) : T(1) / (T(1) + e);
                const T g = -label * sig_neg_u * inv_n;
                dscale += g * s;
                dbias += g;
                s = g;  // S becomes G: the similarity is not needed after this entry
            }
        }
    if (dt) *dt += dscale;
    if (db) *db += dbias;
    if (dA) gemm<T>(false, false, N, d, N, t, S.data(), N, B, d, T(1), dA, d);  // dA += t·G·B
    if (dB) gemm<T>(true, false, N, d, N, t, S.data(), N, A, d, T(1), dB, d);   // dB += t·Gᵀ·A
    return (T)(loss / N);
}

template <class T>
T reco_sigmoid_loss(const T* Vbar, const T* Tbar, const T* V, const T* Tt, int N, int d, T logit_scale,
                    T logit_bias, T* dVbar, T* dTbar, T* dlogit_scale, T* dlogit_bias) {
    const T t_raw = std::exp(logit_scale);
    const T t = logit_scale_to_s(logit_scale);
    T dt = 0;
    // one (logit_scale, logit_bias) pair shared by the three terms (sigmoid_loss.h)
    T loss = sigmoid_loss(Vbar, Tbar, N, d, t, logit_bias, dVbar, dTbar, &dt, dlogit_bias);
    loss += sigmoid_loss(Vbar, Tt, N, d, t, logit_bias, dVbar, (T*)nullptr, &dt, dlogit_bias);
    loss += sigmoid_loss(V, Tbar, N, d, t, logit_bias, (T*)nullptr, dTbar, &dt, dlogit_bias);
    // t = exp(logit_scale) unclamped: dt/dlogit_scale = t; clamped (> 100): 0
    if (dlogit_scale && t_raw <= T(100)) *dlogit_scale += dt * t_raw;
    return loss;
}

template float sigmoid_loss<float>(const float*, const float*, int, int, float, float, float*, float*, float*,
                                   float*);
template double sigmoid_loss<double>(const double*, const double*, int, int, double, double, double*, double*,
                                     double*, double*);
template float reco_sigmoid_loss<float>(const float*, const float*, const float*, const float*, int, int, float,
                                        float, float*, float*, float*, float*);
template double reco_sigmoid_loss<double>(const double*, const double*, const double*, const double*, int, int,
                                          double, double, double*, double*, double*, double*);

}  // namespace reco
