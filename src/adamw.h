// adamw.h — AdamW over one contiguous parameter buffer, exactly as torch.optim.AdamW (SPEC §4),
// and the learning-rate schedule (linear warm-up then cosine to 0, or constant).
//
// One update (PyTorch 2.x `_single_tensor_adamw`, the path torch takes for CPU tensors), t += 1:
//   p ← p·(1 − lr·wd)                              decoupled decay, 2-D weights only
//   m ← m + (1−β1)(g − m)                          (torch lerp_)
//   v ← v·β2 + (1−β2)·g·g
//   p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps)
// Bias corrections and the step size are computed in double (PyTorch does them as Python floats),
// the element-wise work in float, in PyTorch's operation order.
// Defaults: β1 0.9, β2 0.999, eps 1e-8, weight decay 0.05 (SPEC §4; torch's own default is 0.01).
#pragma once
#include <cstdint>
#include <vector>

#include "fusion.h"  // ParamEntry

namespace reco {

struct AdamWConfig {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.05;
};

class AdamW {
public:
    AdamW() = default;
    // An optimiser over a buffer of `numel` floats whose tensors are `table` (each tensor decays
    // iff entry.weight_decay). Throws when the table does not tile [0, numel) exactly.
    AdamW(const std::vector<ParamEntry>& table, size_t numel, const AdamWConfig& cfg = AdamWConfig());
    // One update of params from grads with learning rate lr.
    void step(float* params, const float* grads, double lr);

    AdamWConfig cfg;
    int64_t t = 0;            // updates done so far (PyTorch's state["step"]); saved for resuming
    std::vector<float> m, v;  // exp_avg, exp_avg_sq; saved for resuming

    // The tensors of the buffer, in offset order (decay: the tensor gets weight decay).
    struct Range {
        size_t offset, numel;
        bool decay;
    };
    const std::vector<Range>& ranges() const { return ranges_; }

private:
    std::vector<Range> ranges_;
};

// Learning rate of the update with 0-based index `step` (the step-th call of AdamW::step):
//   constant: base_lr
//   cosine:   step <  warmup: base_lr·(step+1)/warmup                  (linear warm-up, never 0)
//             step >= warmup: base_lr·½(1 + cos(π·(step−warmup)/(total−warmup)))
//             which falls to 0 at step = total (and stays 0 after).
struct LrSchedule {
    enum class Kind { constant, cosine };
    Kind kind = Kind::cosine;
    double base_lr = 1e-3;
    int64_t warmup_steps = 0;
    int64_t total_steps = 1;
    double lr_at(int64_t step) const;
};

}  // namespace reco
