// bench_fusion.cpp — RECO fusion training steps/s on the CPU (both modules, the 3-term loss,
// hand-written backward, AdamW), for tools/bench.sh beside tools/bench_fusion_torch.py.
//   build/bench_fusion [d=512] [k=10] [batch=256] [seconds=5]   → "reco steps/s X"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "adamw.h"
#include "fusion.h"
#include "fusion_train.h"

using namespace reco;

static void unit_rows(std::vector<float>& x, size_t rows, int d, std::mt19937& rng) {
    std::normal_distribution<float> nd(0, 1);
    x.resize(rows * d);
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (int i = 0; i < d; i++) s += (double)(x[r * d + i] = nd(rng)) * x[r * d + i];
        for (int i = 0; i < d; i++) x[r * d + i] /= (float)std::sqrt(s);
    }
}

int main(int argc, char** argv) {
    int d = argc > 1 ? atoi(argv[1]) : 512, k = argc > 2 ? atoi(argv[2]) : 10, B = argc > 3 ? atoi(argv[3]) : 256;
    double secs = argc > 4 ? atof(argv[4]) : 5;
    FusionModel model;
    FusionDims dims;
    dims.d = d;
    dims.heads = 8;
    model.init(dims, std::log(1 / 0.07f), 0);
    AdamW opt(model.table, model.params.size());
    FusionTrainWorkspace ws;
    std::mt19937 rng(1);
    std::vector<float> V, T, nbr_txt_for_img, nbr_img_for_txt;
    unit_rows(V, B, d, rng);
    unit_rows(T, B, d, rng);
    unit_rows(nbr_txt_for_img, (size_t)B * k, d, rng);
    unit_rows(nbr_img_for_txt, (size_t)B * k, d, rng);
    fusion_train_step(model, opt, ws, V.data(), T.data(), nbr_txt_for_img.data(), nbr_img_for_txt.data(), B, k,
                      1e-3);  // warm-up
    auto t0 = std::chrono::steady_clock::now();
    int steps = 0;
    double el = 0;
    float loss = 0;
    do {
        loss = fusion_train_step(model, opt, ws, V.data(), T.data(), nbr_txt_for_img.data(), nbr_img_for_txt.data(), B,
                                 k, 1e-3);
        steps++;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (el < secs);
    printf("reco fusion d=%d k=%d batch=%d: last loss %.4f\n", d, k, B, loss);
    printf("reco steps/s %.3f\n", steps / el);
    return 0;
}
