// reference/attention.cpp — multi-head self-attention of the CLIP/SigLIP towers, written plainly
// (hf CLIPAttention / SiglipAttention, softmax in float; reference.h).
#include <cmath>
#include <vector>

#include "reference/reference.h"

namespace reco {

void attention_reference(float* out, const float* q, const float* k, const float* v, size_t stride, int B, int T,
                         int C, int NH, bool causal) {
    const int hd = C / NH;
    const float scale = 1.0f / std::sqrt((float)hd);
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            std::vector<float> p(T);
            for (int i = 0; i < T; i++) {
                const float* qi = q + ((size_t)b * T + i) * stride + h * hd;
                const int jmax = causal ? i + 1 : T;  // causal: key j > i is masked
                // scores s_j = q_i·k_j / √hd, and their maximum
                float maxs = -INFINITY;
                for (int j = 0; j < jmax; j++) {
                    const float* kj = k + ((size_t)b * T + j) * stride + h * hd;
                    float s = 0;
                    for (int d = 0; d < hd; d++) s += qi[d] * kj[d];
                    p[j] = s * scale;
                    maxs = std::max(maxs, p[j]);
                }
                // softmax: p_j = e^(s_j − max) / Σ_j e^(s_j − max)
                float sum = 0;
                for (int j = 0; j < jmax; j++) sum += (p[j] = std::exp(p[j] - maxs));
                // o_i = Σ_j p_j · v_j
                float* oi = out + ((size_t)b * T + i) * C + h * hd;
                for (int d = 0; d < hd; d++) oi[d] = 0;
                for (int j = 0; j < jmax; j++) {
                    const float* vj = v + ((size_t)b * T + j) * stride + h * hd;
                    const float pj = p[j] / sum;
                    for (int d = 0; d < hd; d++) oi[d] += pj * vj[d];
                }
            }
        }
}

}  // namespace reco
