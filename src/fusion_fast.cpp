// fusion_fast.cpp — the fusion layer computed for the query row only (SPEC §3, "only Y[0] is used").
//
// Y[0] depends on rows 1..k only through the keys and values that token 0 attends to, so after
// LN1 everything is needed for row 0 alone, and the keys/values fold into matrix–vector work.
// With xn_i = LN1(x_i), Q = q_proj(xn_0), s = head_dim^-0.5, for head h (rows h·hd … of W_k, W_v):
//   score_{h,i} = s·Q_h·(W_k,h xn_i + b_k,h) = U_h·xn_i + c_h,   U_h = s·W_k,hᵀ Q_h,  c_h = s·Q_h·b_k,h
//   A_h         = softmax_i(score_h)
//   O_h         = Σ_i A_{h,i} (W_v,h xn_i + b_v,h) = W_v,h Z_h + b_v,h,   Z_h = Σ_i A_{h,i} xn_i
// (Σ_i A_{h,i} = 1), then H0 = x_0 + out_proj(O), Y0 = H0 + fc2(GELU(fc1(LN2(H0)))), q̄ = Y0/||Y0||.
// Cost per item: 12 d² multiply-adds forward, 24 d² backward, instead of ~12(k+1)d² and twice that.
// Batched over B items: every d²-sized product is one GEMM over the batch (per head for W_k, W_v).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"
#include "fusion.h"
#include "fusion_ops.h"

namespace reco {

using namespace fusion_ops;

namespace {
// a·b over n values (vectorised: the reduction order is the compiler's)
template <class T>
inline T dotv(const T* a, const T* b, int n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
// Σ_b m[b, 0..n) into out[0..n)  (bias gradients)
template <class T>
void add_column_sums(T* out, const T* m, int rows, int n, int ld) {
    for (int b = 0; b < rows; b++)
        for (int j = 0; j < n; j++) out[j] += m[(size_t)b * ld + j];
}
}  // namespace

template <class T>
void fusion_forward(FusionCache<T>& c, const FusionDims& dims, const T* module, const T* q, const T* nbr,
                    int B, int k) {
    dims.validate();
    if (B < 0 || k < 0) fail("fusion_forward: invalid batch %d or k %d", B, k);
    const int D = dims.d, NH = dims.heads, hd = dims.head_dim(), Tn = k + 1;
    const T scale = T(1) / std::sqrt(T(hd));
    const size_t BD = (size_t)B * D;
    auto w = fusion_tensors(module, D);
    const bool par = (size_t)B * Tn * D >= 65536;  // OpenMP only where it pays for the fork/join
    c.B = B;
    c.k = k;
    c.q = q;
    c.nbr = nbr;
    c.xn.resize(BD * Tn);
    c.mean1.resize((size_t)B * Tn);
    c.rstd1.resize((size_t)B * Tn);
    for (auto* v : {&c.Q, &c.O, &c.H, &c.hn, &c.Y, &c.out}) v->resize(BD);
    c.U.resize(BD * NH);
    c.Z.resize(BD * NH);
    c.c.resize((size_t)B * NH);
    c.A.resize((size_t)B * NH * Tn);
    c.mean2.resize(B);
    c.rstd2.resize(B);
    c.norm.resize(B);
    c.F1.resize(4 * BD);
    c.G.resize(4 * BD);

    // xn[b,i] = LN1(x_i), x_0 = q[b], x_i = nbr[b,i-1]
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < B * Tn; r++) {
        const int b = r / Tn, i = r % Tn;
        const T* x = i == 0 ? q + (size_t)b * D : nbr + ((size_t)b * k + i - 1) * D;
        layernorm_forward(c.xn.data() + (size_t)r * D, &c.mean1[r], &c.rstd1[r], x, w.ln1_w, w.ln1_b, 1, D);
    }
    // Q = xn_0·W_qᵀ + b_q     (xn_0 rows are Tn·D apart)
    gemm<T>(false, true, B, D, D, T(1), c.xn.data(), Tn * D, w.q_w, D, T(0), c.Q.data(), D);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) c.Q[(size_t)b * D + j] += w.q_b[j];
    // U_h = s·Q_h·W_k,h  [B,d] per head;  c_h = s·Q_h·b_k,h
    gemm_batched<T>(NH, false, false, B, D, hd, scale, c.Q.data(), D, hd, w.k_w, D, (size_t)hd * D, T(0),
                    c.U.data(), NH * D, D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            T s = 0;
            for (int j = 0; j < hd; j++) s += c.Q[(size_t)b * D + h * hd + j] * w.k_b[h * hd + j];
            c.c[(size_t)b * NH + h] = scale * s;
        }
    // A_h = softmax_i(U_h·xn_i + c_h);  Z_h = Σ_i A_{h,i} xn_i
#pragma omp parallel for schedule(static) if (par)
    for (int b = 0; b < B; b++) {
        const T* xn = c.xn.data() + (size_t)b * Tn * D;
        for (int h = 0; h < NH; h++) {
            const T* u = c.U.data() + ((size_t)b * NH + h) * D;
            T* a = c.A.data() + ((size_t)b * NH + h) * Tn;
            T maxv = -INFINITY;
            for (int i = 0; i < Tn; i++) {
                a[i] = c.c[(size_t)b * NH + h] + dotv(u, xn + (size_t)i * D, D);
                maxv = std::max(maxv, a[i]);
            }
            T sum = 0;
            for (int i = 0; i < Tn; i++) sum += (a[i] = std::exp(a[i] - maxv));
            for (int i = 0; i < Tn; i++) a[i] /= sum;
            T* z = c.Z.data() + ((size_t)b * NH + h) * D;
            std::fill(z, z + D, T(0));
            for (int i = 0; i < Tn; i++)
                for (int j = 0; j < D; j++) z[j] += a[i] * xn[(size_t)i * D + j];
        }
    }
    // O_h = Z_h·W_v,hᵀ + b_v,h
    gemm_batched<T>(NH, false, true, B, hd, D, T(1), c.Z.data(), NH * D, D, w.v_w, D, (size_t)hd * D, T(0),
                    c.O.data(), D, hd);
    // H0 = x_0 + O·W_oᵀ + b_o   (b_v added here to O first)
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) c.O[(size_t)b * D + j] += w.v_b[j];
    gemm<T>(false, true, B, D, D, T(1), c.O.data(), D, w.o_w, D, T(0), c.H.data(), D);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) c.H[(size_t)b * D + j] += w.o_b[j] + q[(size_t)b * D + j];
    // Y0 = H0 + fc2(GELU(fc1(LN2(H0))))
    layernorm_forward(c.hn.data(), c.mean2.data(), c.rstd2.data(), c.H.data(), w.ln2_w, w.ln2_b, B, D);
    gemm<T>(false, true, B, 4 * D, D, T(1), c.hn.data(), D, w.fc1_w, D, T(0), c.F1.data(), 4 * D);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < 4 * D; j++) c.F1[(size_t)b * 4 * D + j] += w.fc1_b[j];
    gelu_forward(c.G.data(), c.F1.data(), 4 * BD);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) c.Y[(size_t)b * D + j] = c.H[(size_t)b * D + j] + w.fc2_b[j];
    gemm<T>(false, true, B, D, 4 * D, T(1), c.G.data(), 4 * D, w.fc2_w, 4 * D, T(1), c.Y.data(), D);
    // q̄ = Y0/||Y0||
    l2norm_forward(c.out.data(), c.norm.data(), c.Y.data(), B, D);
}

// Inverts fusion_forward, last op first.
template <class T>
void fusion_backward(FusionCache<T>& c, const FusionDims& dims, const T* module, T* dmodule, const T* dout,
                     T* dq, T* dnbr) {
    const int D = dims.d, NH = dims.heads, hd = dims.head_dim(), B = c.B, k = c.k, Tn = k + 1;
    const T scale = T(1) / std::sqrt(T(hd));
    const size_t BD = (size_t)B * D;
    auto w = fusion_tensors(module, D);
    auto g = fusion_tensors(dmodule, D);
    const bool par = (size_t)B * Tn * D >= 65536;
    c.dY.assign(BD, T(0));
    c.dF.resize(4 * BD);
    c.dhn.resize(BD);
    c.dO.resize(BD);
    c.dQ.resize(BD);
    c.dZ.resize(BD * NH);
    c.dU.resize(BD * NH);
    c.dxn.resize(BD * Tn);

    // q̄ = Y0/||Y0||
    l2norm_backward(c.dY.data(), dout, c.out.data(), c.norm.data(), B, D);
    // Y0 = H0 + G·W2ᵀ + b2:  dH0 = dY0 (c.dY now serves as dH0), dW2 += dY0ᵀ·G, db2 += Σ dY0, dG = dY0·W2
    gemm<T>(true, false, D, 4 * D, B, T(1), c.dY.data(), D, c.G.data(), 4 * D, T(1), g.fc2_w, 4 * D);
    add_column_sums(g.fc2_b, c.dY.data(), B, D, D);
    gemm<T>(false, false, B, 4 * D, D, T(1), c.dY.data(), D, w.fc2_w, 4 * D, T(0), c.dF.data(), 4 * D);
    // G = GELU(F1):  dF1 = dG·GELU'(F1)   (in place)
#pragma omp parallel for schedule(static) if (par)
    for (size_t i = 0; i < 4 * BD; i++) {
        const T x = c.F1[i];
        const T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
        const T pdf = std::exp(T(-0.5) * x * x) * T(0.3989422804014327);
        c.dF[i] *= cdf + x * pdf;
    }
    // F1 = hn·W1ᵀ + b1:  dW1 += dF1ᵀ·hn, db1 += Σ dF1, dhn = dF1·W1
    gemm<T>(true, false, 4 * D, D, B, T(1), c.dF.data(), 4 * D, c.hn.data(), D, T(1), g.fc1_w, D);
    add_column_sums(g.fc1_b, c.dF.data(), B, 4 * D, 4 * D);
    gemm<T>(false, false, B, D, 4 * D, T(1), c.dF.data(), 4 * D, w.fc1_w, D, T(0), c.dhn.data(), D);
    // hn = LN2(H0):  dH0 += LN2ᵀ(dhn)
    layernorm_backward(c.dY.data(), g.ln2_w, g.ln2_b, c.dhn.data(), c.H.data(), w.ln2_w, c.mean2.data(),
                       c.rstd2.data(), B, D);
    const T* dH = c.dY.data();
    // H0 = x_0 + O·W_oᵀ + b_o:  dx_0 += dH0, dW_o += dH0ᵀ·O, db_o += Σ dH0, dO = dH0·W_o
    if (dq)
        for (size_t i = 0; i < BD; i++) dq[i] += dH[i];
    gemm<T>(true, false, D, D, B, T(1), dH, D, c.O.data(), D, T(1), g.o_w, D);
    add_column_sums(g.o_b, dH, B, D, D);
    gemm<T>(false, false, B, D, D, T(1), dH, D, w.o_w, D, T(0), c.dO.data(), D);
    // O_h = Z_h·W_v,hᵀ + b_v,h:  dW_v,h += dO_hᵀ·Z_h, db_v += Σ dO, dZ_h = dO_h·W_v,h
    add_column_sums(g.v_b, c.dO.data(), B, D, D);
    gemm_batched<T>(NH, true, false, hd, D, B, T(1), c.dO.data(), D, hd, c.Z.data(), NH * D, D, T(1), g.v_w, D,
                    (size_t)hd * D);
    gemm_batched<T>(NH, false, false, B, D, hd, T(1), c.dO.data(), D, hd, w.v_w, D, (size_t)hd * D, T(0),
                    c.dZ.data(), NH * D, D);
    // Per item and head, inverting  Z_h = Σ_i A_i xn_i,  A = softmax(S),  S_i = U_h·xn_i + c_h:
    //   dA_i = dZ_h·xn_i,  dxn_i += A_i dZ_h,  dS_i = A_i (dA_i - Σ_j A_j dA_j),
    //   dU_h = Σ_i dS_i xn_i,  dxn_i += dS_i U_h,
    //   dc_h = Σ_i dS_i = 0 EXACTLY: softmax ignores a shift c_h common to all scores, so the key
    //   bias b_k and the c_h route into Q get no gradient. We use the exact 0 rather than its
    //   rounding noise (~1e-9), which AdamW would turn into a random walk of b_k of ~lr per step
    //   (harmless to the outputs, but noise). The reference path computes the noise honestly.
#pragma omp parallel for schedule(static) if (par)
    for (int b = 0; b < B; b++) {
        const T* xn = c.xn.data() + (size_t)b * Tn * D;
        T* dxn = c.dxn.data() + (size_t)b * Tn * D;
        std::fill(dxn, dxn + (size_t)Tn * D, T(0));
        std::vector<T> dS(Tn);
        for (int h = 0; h < NH; h++) {
            const T* a = c.A.data() + ((size_t)b * NH + h) * Tn;
            const T* dz = c.dZ.data() + ((size_t)b * NH + h) * D;
            const T* u = c.U.data() + ((size_t)b * NH + h) * D;
            T* du = c.dU.data() + ((size_t)b * NH + h) * D;
            T dot = 0;
            for (int i = 0; i < Tn; i++) {
                dS[i] = dotv(dz, xn + (size_t)i * D, D);  // dA_i
                dot += a[i] * dS[i];
            }
            std::fill(du, du + D, T(0));
            for (int i = 0; i < Tn; i++) {
                const T ds = a[i] * (dS[i] - dot);
                const T* x = xn + (size_t)i * D;
                T* dx = dxn + (size_t)i * D;
                for (int j = 0; j < D; j++) {
                    du[j] += ds * x[j];
                    dx[j] += a[i] * dz[j] + ds * u[j];
                }
            }
        }
    }
    // U_h = s·Q_h·W_k,h  (c_h = s·Q_h·b_k,h contributes nothing, see above):
    //   dQ_h = s·dU_h·W_k,hᵀ,  dW_k,h += s·Q_hᵀ·dU_h,  db_k += 0
    gemm_batched<T>(NH, false, true, B, hd, D, scale, c.dU.data(), NH * D, D, w.k_w, D, (size_t)hd * D, T(0),
                    c.dQ.data(), D, hd);
    gemm_batched<T>(NH, true, false, hd, D, B, scale, c.Q.data(), D, hd, c.dU.data(), NH * D, D, T(1), g.k_w, D,
                    (size_t)hd * D);
    // Q = xn_0·W_qᵀ + b_q:  dW_q += dQᵀ·xn_0, db_q += Σ dQ, dxn_0 += dQ·W_q
    gemm<T>(true, false, D, D, B, T(1), c.dQ.data(), D, c.xn.data(), Tn * D, T(1), g.q_w, D);
    add_column_sums(g.q_b, c.dQ.data(), B, D, D);
    gemm<T>(false, false, B, D, D, T(1), c.dQ.data(), D, w.q_w, D, T(1), c.dxn.data(), Tn * D);
    // xn_i = LN1(x_i) for every token: dln1_w, dln1_b, dx_i. The weight/bias gradients are summed
    // in a fixed number of row chunks and then added in chunk order, so the result does not depend
    // on the thread count or on scheduling (training and resume are bit-for-bit reproducible).
    {
        const int rows = B * Tn, chunks = std::min(rows, 16);
        std::vector<T> part((size_t)chunks * 2 * D, T(0));
#pragma omp parallel for schedule(static) if (par)
        for (int ch = 0; ch < chunks; ch++) {
            T* dw = part.data() + (size_t)ch * 2 * D;
            T* db = dw + D;
            for (int r = (int)((long long)rows * ch / chunks); r < (int)((long long)rows * (ch + 1) / chunks); r++) {
                const int b = r / Tn, i = r % Tn;
                const T* x = i == 0 ? c.q + (size_t)b * D : c.nbr + ((size_t)b * k + i - 1) * D;
                T* dx = i == 0 ? dq : dnbr;
                if (dx) dx += i == 0 ? (size_t)b * D : ((size_t)b * k + i - 1) * D;
                layernorm_backward(dx, dw, db, c.dxn.data() + (size_t)r * D, x, w.ln1_w, &c.mean1[r], &c.rstd1[r], 1, D);
            }
        }
        for (int ch = 0; ch < chunks; ch++)
            for (int j = 0; j < D; j++) {
                g.ln1_w[j] += part[(size_t)ch * 2 * D + j];
                g.ln1_b[j] += part[(size_t)ch * 2 * D + D + j];
            }
    }
}

template void fusion_forward<float>(FusionCache<float>&, const FusionDims&, const float*, const float*,
                                    const float*, int, int);
template void fusion_forward<double>(FusionCache<double>&, const FusionDims&, const double*, const double*,
                                     const double*, int, int);
template void fusion_backward<float>(FusionCache<float>&, const FusionDims&, const float*, float*, const float*,
                                     float*, float*);
template void fusion_backward<double>(FusionCache<double>&, const FusionDims&, const double*, double*,
                                      const double*, double*, double*);

}  // namespace reco
