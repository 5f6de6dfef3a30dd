// topk_bound.cu — the error bound behind the GPU top-k's tensor-core filter (kernels/topk.cu,
// topk_filter.cuh): why the filter can never drop a true neighbour. Host code only.
#include <algorithm>
#include <cmath>
#include <vector>

#include "safetensors.h"  // float_to_half, half_to_float
#include "topk_gpu.h"

namespace reco {

// ============================================================================== query preparation
// For query x (fp32, d values) pick σ with max|x|·2^σ ∈ [2^14, 2^15), h = fp16(x·2^σ), δ = x - h·2^-σ
// (in double: exact up to 2^-53). With ||m|| the row's norm:
//   exact chain:  |s - x·m| ≤ d·2^-23·||x||·||m||         (fmaf chain, d roundings of ≤ 2^-24)
//   split:        x·m·2^σ = Σ m_c h_c + 2^σ Σ m_c δ_c  ≤  Σ m_c h_c + 2^σ·||m||·||δ||
//   tensor cores: |tc - Σ m_c h_c| ≤ (d·2^-20 + 2^-16)·||m||·||h||   (ASSUMED: fp32 accumulation whose
//                 error per step is ≤ 2^-22 of the running Σ|terms| — fp16 products are exact, and
//                 measured tensor cores lose at most a few ulps per block-FMA; we allow 4× that per
//                 step plus 2^-16, which also covers the fp32 rounding of the filter's own arithmetic)
// so  s·2^σ ≤ tc + ||m||·E,  E = (d·2^-20 + 2^-16)·||h|| + 2^σ||δ|| + d·2^-23·2^σ||x|| + d·2^-40,
// enlarged by 2^-10 and rounded up to fp32. The last term covers fp32 underflow in the chain for
// queries whose magnitude is inside [2^-90, 2^90]; outside that range we report false and the search
// uses the exact path (never the filter).
bool topk_prepare_queries(const float* X, int Q, int d, int dp, std::vector<uint16_t>& h, std::vector<int>& sigma,
                          std::vector<float>& E) {
    h.assign((size_t)Q * dp, 0);
    sigma.assign(Q, 0);
    E.assign(Q, 0.0f);
    bool ok = true;
    for (int q = 0; q < Q; q++) {
        const float* x = X + (size_t)q * d;
        float mx = 0.0f;
        for (int c = 0; c < d; c++) mx = std::max(mx, std::fabs(x[c]));
        if (mx == 0.0f) continue;  // every exact score is +0, tc = 0, E = 0: every row passes, exactly
        if (mx > 0x1p90f || mx < 0x1p-90f) ok = false;
        const int s = 14 - std::ilogb(mx);
        sigma[q] = s;
        double hn2 = 0, dn2 = 0, xn2 = 0;
        for (int c = 0; c < d; c++) {
            const uint16_t hb = float_to_half(std::ldexp(x[c], s));
            h[(size_t)q * dp + c] = hb;
            const double hv = half_to_float(hb);
            const double delta = (double)x[c] - std::ldexp(hv, -s);
            hn2 += hv * hv;
            dn2 += delta * delta;
            xn2 += (double)x[c] * x[c];
        }
        const double scale = std::ldexp(1.0, s);
        const double e = (d * 0x1p-20 + 0x1p-16) * std::sqrt(hn2) + scale * std::sqrt(dn2) +
                         d * 0x1p-23 * scale * std::sqrt(xn2) + d * 0x1p-40;
        E[q] = std::nextafter((float)(e * (1.0 + 0x1p-10)), INFINITY);
    }
    return ok;
}

}  // namespace reco
