// nce_loss.cpp — symmetric InfoNCE and the three-term RECO loss (see nce_loss.h, SPEC §4).
//
// With logits L = s·A·Bᵀ, the row term CE(L, I) and the column term CE(Lᵀ, I) share L:
//   loss      = ½/N · Σ_i [(lse_j L[i,j] − L[i,i]) + (lse_j L[j,i] − L[i,i])]
//   dloss/dL  = G,  G[i,j] = ½/N · (softmax_row(L)[i,j] + softmax_col(L)[i,j] − 2·δ_ij)
//   dA = s·G·B,  dB = s·Gᵀ·A,  ds = Σ_ij G[i,j]·(A·Bᵀ)[i,j]
#include "nce_loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fusion_gemm.h"

namespace reco {

template <class T>
T logit_scale_to_s(T logit_scale) {
    return std::min(std::exp(logit_scale), T(100));
}

template <class T>
T nce_loss(const T* A, const T* B, int N, int d, T s, T* dA, T* dB, T* ds) {
    std::vector<T> S((size_t)N * N), G((size_t)N * N);
    // S = A·Bᵀ (cosine similarities for unit rows)
    gemm<T>(false, true, N, N, d, T(1), A, d, B, d, T(0), S.data(), N);
    const T half_over_n = T(0.5) / T(N);
    double loss = 0;
    std::vector<T> col_max(N, -INFINITY), col_lse(N, T(0));
    // rows: CE(s·A·Bᵀ, I)
    for (int i = 0; i < N; i++) {
        const T* l = S.data() + (size_t)i * N;
        T m = -INFINITY;
        for (int j = 0; j < N; j++) m = std::max(m, s * l[j]);
        T sum = 0;
        for (int j = 0; j < N; j++) sum += std::exp(s * l[j] - m);
        const T lse = m + std::log(sum);
        loss += lse - s * l[i];
        for (int j = 0; j < N; j++) {
            G[(size_t)i * N + j] = half_over_n * std::exp(s * l[j] - lse);
            col_max[j] = std::max(col_max[j], s * l[j]);
        }
    }
    // columns: CE(s·B·Aᵀ, I) = CE over the columns of s·S
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) col_lse[j] += std::exp(s * S[(size_t)i * N + j] - col_max[j]);
    for (int j = 0; j < N; j++) {
        col_lse[j] = col_max[j] + std::log(col_lse[j]);
        loss += col_lse[j] - s * S[(size_t)j * N + j];
    }
    T dscale = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            T& g = G[(size_t)i * N + j];
            g += half_over_n * std::exp(s * S[(size_t)i * N + j] - col_lse[j]);
            if (i == j) g -= 2 * half_over_n;
            dscale += g * S[(size_t)i * N + j];
        }
    if (ds) *ds += dscale;
    if (dA) gemm<T>(false, false, N, d, N, s, G.data(), N, B, d, T(1), dA, d);  // dA += s·G·B
    if (dB) gemm<T>(true, false, N, d, N, s, G.data(), N, A, d, T(1), dB, d);   // dB += s·Gᵀ·A
    return (T)(0.5 * loss / N);
}

template <class T>
T reco_loss(const T* Vbar, const T* Tbar, const T* V, const T* Tt, int N, int d, T logit_scale, T* dVbar,
            T* dTbar, T* dlogit_scale) {
    const T s_raw = std::exp(logit_scale);
    const T s = logit_scale_to_s(logit_scale);
    T ds = 0;
    T loss = nce_loss(Vbar, Tbar, N, d, s, dVbar, dTbar, &ds);
    loss += nce_loss(Vbar, Tt, N, d, s, dVbar, (T*)nullptr, &ds);
    loss += nce_loss(V, Tbar, N, d, s, (T*)nullptr, dTbar, &ds);
    // s = exp(logit_scale) unclamped: ds/dlogit_scale = s; clamped (> 100): 0
    if (dlogit_scale && s_raw <= T(100)) *dlogit_scale += ds * s_raw;
    return loss;
}

template float logit_scale_to_s<float>(float);
template double logit_scale_to_s<double>(double);
template float nce_loss<float>(const float*, const float*, int, int, float, float*, float*, float*);
template double nce_loss<double>(const double*, const double*, int, int, double, double*, double*, double*);
template float reco_loss<float>(const float*, const float*, const float*, const float*, int, int, float, float*,
                                float*, float*);
template double reco_loss<double>(const double*, const double*, const double*, const double*, int, int, double,
                                  double*, double*, double*);

}  // namespace reco
