// gemm.cpp — the CPU hot loop: out[N,OC] = inp[N,C]·W[OC,C]ᵀ + bias.
// (placeholder simple version; replaced by the blocked kernel)
#include "ops.h"

namespace reco {

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                    int N, int C, int OC) {
    #pragma omp parallel for collapse(2)
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            const float* a = inp + (size_t)n * C;
            const float* w = weight + (size_t)o * C;
            float acc = 0;
            for (int c = 0; c < C; c++) acc += a[c] * w[c];
            out[(size_t)n * OC + o] = acc + (bias ? bias[o] : 0.0f);
        }
}

}  // namespace reco
