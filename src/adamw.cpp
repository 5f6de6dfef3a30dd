// adamw.cpp — torch.optim.AdamW on one buffer, and the lr schedule (see adamw.h).
#include "adamw.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "impl.h"
#include "reference/reference.h"

namespace reco {

AdamW::AdamW(const std::vector<ParamEntry>& table, size_t numel, const AdamWConfig& c) : cfg(c) {
    std::vector<Range> r;
    for (const ParamEntry& e : table) r.push_back({e.offset, e.numel, e.weight_decay});
    std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.offset < b.offset; });
    size_t end = 0;
    for (const Range& x : r) {
        if (x.offset != end) fail("AdamW: parameter table does not tile the buffer (gap or overlap at %zu)", end);
        end += x.numel;
    }
    if (end != numel) fail("AdamW: parameter table covers %zu of %zu floats", end, numel);
    ranges_ = r;
    m.assign(numel, 0.0f);
    v.assign(numel, 0.0f);
}

void AdamW::step(float* params, const float* grads, double lr) {
    if (impl() == Impl::reference) return adamw_step_reference(*this, params, grads, lr);
    t += 1;
    const double bc1 = 1.0 - std::pow(cfg.beta1, (double)t);
    const double bc2 = 1.0 - std::pow(cfg.beta2, (double)t);
    const float neg_step_size = (float)-(lr / bc1);
    const float bc2_sqrt = (float)std::sqrt(bc2);
    const float w1 = (float)(1.0 - cfg.beta1);  // lerp weight (< 0.5: self + w·(end − self))
    const float b2 = (float)cfg.beta2, one_minus_b2 = (float)(1.0 - cfg.beta2), eps = (float)cfg.eps;
    const float decay_mul = (float)(1.0 - lr * cfg.weight_decay);
    const bool par = m.size() >= 65536;
#pragma omp parallel if (par)
    for (const Range& r : ranges_) {  // one parallel region; ranges are disjoint, so no barriers
        float* p = params + r.offset;
        const float* g = grads + r.offset;
        float* mm = m.data() + r.offset;
        float* vv = v.data() + r.offset;
        const float mul = r.decay && cfg.weight_decay != 0.0 ? decay_mul : 1.0f;
#pragma omp for schedule(static) nowait
        for (size_t i = 0; i < r.numel; i++) {
            const float pi = p[i] * mul;
            const float gi = g[i];
            const float mi = mm[i] + w1 * (gi - mm[i]);
            const float vi = vv[i] * b2 + one_minus_b2 * gi * gi;
            const float denom = std::sqrt(vi) / bc2_sqrt + eps;
            p[i] = pi + neg_step_size * mi / denom;
            mm[i] = mi;
            vv[i] = vi;
        }
    }
}

double LrSchedule::lr_at(int64_t step) const {
    if (kind == Kind::constant) return base_lr;
    if (step < warmup_steps) return base_lr * (double)(step + 1) / (double)warmup_steps;
    const int64_t span = total_steps - warmup_steps;
    if (span <= 0 || step >= total_steps) return 0.0;
    const double progress = (double)(step - warmup_steps) / (double)span;
    return base_lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace reco
