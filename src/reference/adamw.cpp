// reference/adamw.cpp — one AdamW update, element by element (paper §4.1: AdamW, lr 1e-3;
// SPEC §4: β1 0.9, β2 0.999, ε 1e-8, weight decay 0.05 on 2-D weights). The twin of AdamW::step.
//
// The textbook update of parameter θ with gradient g at step t:
//   θ ← θ·(1 − lr·λ)                       decoupled weight decay (λ only for 2-D weights)
//   m ← β1·m + (1−β1)·g                    first moment
//   v ← β2·v + (1−β2)·g²                   second moment
//   m̂ = m/(1−β1ᵗ),  v̂ = v/(1−β2ᵗ)          bias corrections
//   θ ← θ − lr·m̂/(√v̂ + ε)
// PyTorch (and so reco) evaluates the last line as θ − (lr/(1−β1ᵗ))·m/(√v/√(1−β2ᵗ) + ε), the same
// number up to rounding, and the first moment as m + (1−β1)(g − m) (torch's lerp). We write it the
// PyTorch way so that the fast path and this twin agree bit for bit.
#include <cmath>

#include "reference/reference.h"

namespace reco {

void adamw_step_reference(AdamW& opt, float* params, const float* grads, double lr) {
    const AdamWConfig& c = opt.cfg;
    opt.t += 1;
    const double bias1 = 1.0 - std::pow(c.beta1, (double)opt.t);  // 1 − β1ᵗ
    const double bias2 = 1.0 - std::pow(c.beta2, (double)opt.t);  // 1 − β2ᵗ
    const float step_size = (float)(lr / bias1);
    const float sqrt_bias2 = (float)std::sqrt(bias2);
    const float one_minus_beta1 = (float)(1.0 - c.beta1), beta2 = (float)c.beta2;
    const float one_minus_beta2 = (float)(1.0 - c.beta2), eps = (float)c.eps;
    const float decay = (float)(1.0 - lr * c.weight_decay);
    for (const AdamW::Range& r : opt.ranges()) {
        const bool decays = r.decay && c.weight_decay != 0.0;
        for (size_t i = r.offset; i < r.offset + r.numel; i++) {
            const float theta = decays ? params[i] * decay : params[i];
            const float g = grads[i];
            const float m = opt.m[i] + one_minus_beta1 * (g - opt.m[i]);
            const float v = opt.v[i] * beta2 + one_minus_beta2 * g * g;
            params[i] = theta + -step_size * m / (std::sqrt(v) / sqrt_bias2 + eps);
            opt.m[i] = m;
            opt.v[i] = v;
        }
    }
}

}  // namespace reco
