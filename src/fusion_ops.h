// fusion_ops.h — differentiable building blocks of the RECO fusion transformer (SPEC §3).
//
// llm.c style: each op has a forward and a backward; every backward states the forward it
// inverts and ACCUMULATES (+=) into its gradient buffers, so a tensor used twice (a residual
// branch) sums its gradients naturally. Templated on the scalar: float for training, double for
// the finite-difference gradient checks (tests/test_fusion_grad.cpp). Row-major, N rows of C.
// Any gradient pointer may be null: that gradient is then not computed.
//
// These are the plain references; the fast query-row path (fusion_fast.cpp) reuses layernorm,
// gelu and l2-normalisation and replaces linear+attention by folded matrix–vector work.
#pragma once
#include <algorithm>
#include <cmath>

#include "fusion_gemm.h"

namespace reco {
namespace fusion_ops {

// ---------------------------------------------------------------- Linear (PyTorch nn.Linear)
// out[N,OC] = inp[N,C]·W[OC,C]ᵀ + b[OC]   (b may be null)
template <class T>
void linear_forward(T* out, const T* inp, const T* W, const T* b, int N, int C, int OC) {
    gemm<T>(false, true, N, OC, C, T(1), inp, C, W, C, T(0), out, OC);
    if (b)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += b[o];
}
// backward of out = inp·Wᵀ + b:   dinp += dout·W,  dW += doutᵀ·inp,  db += Σ_n dout[n]
template <class T>
void linear_backward(T* dinp, T* dW, T* db, const T* dout, const T* inp, const T* W, int N, int C, int OC) {
    if (dinp) gemm<T>(false, false, N, C, OC, T(1), dout, OC, W, C, T(1), dinp, C);
    if (dW) gemm<T>(true, false, OC, C, N, T(1), dout, OC, inp, C, T(1), dW, C);
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) db[o] += dout[(size_t)n * OC + o];
}

// ---------------------------------------------------------------- LayerNorm (nn.LayerNorm)
// out = (x - mean)·rstd·w + b,  rstd = 1/sqrt(var + eps), biased variance over C; saves mean, rstd.
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N, int C,
                       double eps = 1e-5) {
#pragma omp parallel for if ((size_t)N * C >= 65536)
    for (int n = 0; n < N; n++) {
        const T* x = inp + (size_t)n * C;
        double m = 0, v = 0;
#pragma omp simd reduction(+ : m)
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
        v /= C;
        const T mu = (T)m, rs = (T)(1.0 / std::sqrt(v + eps));
        T* y = out + (size_t)n * C;
        for (int i = 0; i < C; i++) y[i] = (x[i] - mu) * rs * w[i] + b[i];
        mean[n] = mu;
        rstd[n] = rs;
    }
}
// backward of out = xhat·w + b with xhat = (x - mean)·rstd:
//   dw += Σ_n dout·xhat,  db += Σ_n dout,
//   dx += rstd·(dxhat - mean(dxhat) - xhat·mean(dxhat·xhat)),  dxhat = dout·w
template <class T>
void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                        const T* rstd, int N, int C) {
    for (int n = 0; n < N; n++) {  // serial over rows: dw, db are shared sums
        const T* x = inp + (size_t)n * C;
        const T* g = dout + (size_t)n * C;
        const T mu = mean[n], rs = rstd[n];
        T sum_dxhat = 0, sum_dxhat_xhat = 0;
#pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
        for (int i = 0; i < C; i++) {
            const T xhat = (x[i] - mu) * rs, dxhat = g[i] * w[i];
            sum_dxhat += dxhat;
            sum_dxhat_xhat += dxhat * xhat;
            if (dw) dw[i] += g[i] * xhat;
            if (db) db[i] += g[i];
        }
        if (!dinp) continue;
        const T m1 = sum_dxhat / C, m2 = sum_dxhat_xhat / C;
        T* dx = dinp + (size_t)n * C;
        for (int i = 0; i < C; i++) {
            const T xhat = (x[i] - mu) * rs;
            dx[i] += rs * (g[i] * w[i] - m1 - xhat * m2);
        }
    }
}

// ---------------------------------------------------------------- multi-head self-attention core
// One sequence of Tn tokens, C = NH·hd, no mask (SPEC §3):
//   P_h = softmax_j(q_h[i]·k_h[j] · hd^-0.5),  out_h[i] = Σ_j P_h[i,j] v_h[j];  saves P [NH,Tn,Tn].
template <class T>
void attention_forward(T* out, T* P, const T* q, const T* k, const T* v, int Tn, int C, int NH) {
    const int hd = C / NH;
    const T scale = T(1) / std::sqrt(T(hd));
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < Tn; i++) {
            T* p = P + ((size_t)h * Tn + i) * Tn;
            T maxv = -INFINITY;
            for (int j = 0; j < Tn; j++) {
                T s = 0;
                for (int c = 0; c < hd; c++) s += q[(size_t)i * C + h * hd + c] * k[(size_t)j * C + h * hd + c];
                p[j] = s * scale;
                maxv = std::max(maxv, p[j]);
            }
            T sum = 0;
            for (int j = 0; j < Tn; j++) sum += (p[j] = std::exp(p[j] - maxv));
            for (int j = 0; j < Tn; j++) p[j] /= sum;
            for (int c = 0; c < hd; c++) {
                T o = 0;
                for (int j = 0; j < Tn; j++) o += p[j] * v[(size_t)j * C + h * hd + c];
                out[(size_t)i * C + h * hd + c] = o;
            }
        }
}
// backward of out_h[i] = Σ_j P[i,j] v_h[j], P = softmax(S), S[i,j] = scale·q_h[i]·k_h[j]:
//   dv_h[j] += Σ_i P[i,j] dout_h[i];  dP[i,j] = dout_h[i]·v_h[j];
//   dS[i,j] = P[i,j]·(dP[i,j] - Σ_l P[i,l] dP[i,l]);
//   dq_h[i] += scale·Σ_j dS[i,j] k_h[j];  dk_h[j] += scale·Σ_i dS[i,j] q_h[i]
template <class T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* P, const T* q, const T* k, const T* v,
                        int Tn, int C, int NH) {
    const int hd = C / NH;
    const T scale = T(1) / std::sqrt(T(hd));
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < Tn; i++) {
            const T* p = P + ((size_t)h * Tn + i) * Tn;
            const T* g = dout + (size_t)i * C + h * hd;
            T dot = 0;  // Σ_l P[i,l] dP[i,l]
            for (int j = 0; j < Tn; j++) {
                T dp = 0;
                for (int c = 0; c < hd; c++) dp += g[c] * v[(size_t)j * C + h * hd + c];
                dot += p[j] * dp;
            }
            for (int j = 0; j < Tn; j++) {
                T dp = 0;
                for (int c = 0; c < hd; c++) dp += g[c] * v[(size_t)j * C + h * hd + c];
                const T ds = p[j] * (dp - dot) * scale;
                for (int c = 0; c < hd; c++) {
                    dv[(size_t)j * C + h * hd + c] += p[j] * g[c];
                    dq[(size_t)i * C + h * hd + c] += ds * k[(size_t)j * C + h * hd + c];
                    dk[(size_t)j * C + h * hd + c] += ds * q[(size_t)i * C + h * hd + c];
                }
            }
        }
}

// ---------------------------------------------------------------- GELU (exact erf, nn.GELU())
// out = x·Φ(x) = ½x(1 + erf(x/√2))
template <class T>
void gelu_forward(T* out, const T* inp, size_t n) {
#pragma omp parallel for if (n >= 65536)
    for (size_t i = 0; i < n; i++) out[i] = T(0.5) * inp[i] * (T(1) + std::erf(inp[i] * T(M_SQRT1_2)));
}
// backward of out = x·Φ(x):  dx += dout·(Φ(x) + x·φ(x)),  φ(x) = exp(-x²/2)/√(2π)
template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, size_t n) {
#pragma omp parallel for if (n >= 65536)
    for (size_t i = 0; i < n; i++) {
        const T x = inp[i];
        const T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
        const T pdf = std::exp(T(-0.5) * x * x) * T(0.3989422804014327);  // 1/√(2π)
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

// ---------------------------------------------------------------- residual
// out = a + b
template <class T>
void residual_forward(T* out, const T* a, const T* b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
// backward of out = a + b:  da += dout,  db += dout
template <class T>
void residual_backward(T* da, T* db, const T* dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

// ---------------------------------------------------------------- L2 normalisation
// out = x / ||x|| per row; saves norm[N]
template <class T>
void l2norm_forward(T* out, T* norm, const T* inp, int N, int C) {
    for (int n = 0; n < N; n++) {
        const T* x = inp + (size_t)n * C;
        double s = 0;
        for (int i = 0; i < C; i++) s += (double)x[i] * x[i];
        const T nrm = (T)std::sqrt(s);
        norm[n] = nrm;
        for (int i = 0; i < C; i++) out[(size_t)n * C + i] = x[i] / nrm;
    }
}
// backward of out = x/||x||:  dx += (dout - out·(out·dout)) / ||x||
template <class T>
void l2norm_backward(T* dinp, const T* dout, const T* out, const T* norm, int N, int C) {
    for (int n = 0; n < N; n++) {
        const T* y = out + (size_t)n * C;
        const T* g = dout + (size_t)n * C;
        T dot = 0;
        for (int i = 0; i < C; i++) dot += y[i] * g[i];
        for (int i = 0; i < C; i++) dinp[(size_t)n * C + i] += (g[i] - y[i] * dot) / norm[n];
    }
}

}  // namespace fusion_ops
}  // namespace reco
