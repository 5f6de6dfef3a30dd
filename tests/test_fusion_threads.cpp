// test_fusion_threads.cpp — training is bit-for-bit independent of the number of OpenMP threads
// (fixed-order reductions everywhere), which is what makes --resume exact on any machine.
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "adamw.h"
#include "fusion.h"
#include "fusion_train.h"
#include "test_util.h"

using namespace reco;

static std::vector<float> train3(int threads) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    const int d = 64, k = 5, B = 256;  // large enough for the parallel paths (B·(k+1)·d ≥ 65536)
    FusionModel m;
    FusionDims dims;
    dims.d = d;
    dims.heads = 8;
    m.init(dims, std::log(1 / 0.07f), 7);
    AdamW opt(m.table, m.params.size());
    FusionTrainWorkspace ws;
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0, 1);
    auto unit = [&](size_t rows) {
        std::vector<float> x(rows * d);
        for (size_t r = 0; r < rows; r++) {
            double s = 0;
            for (int i = 0; i < d; i++) s += (double)(x[r * d + i] = nd(rng)) * x[r * d + i];
            for (int i = 0; i < d; i++) x[r * d + i] /= (float)std::sqrt(s);
        }
        return x;
    };
    auto V = unit(B), T = unit(B), nbr_txt_for_img = unit((size_t)B * k), nbr_img_for_txt = unit((size_t)B * k);
    for (int s = 0; s < 3; s++)
        fusion_train_step(m, opt, ws, V.data(), T.data(), nbr_txt_for_img.data(), nbr_img_for_txt.data(), B, k, 1e-3);
    omp_set_num_threads(saved);
    return m.params;
}

TEST_CASE("fusion training gives identical weights with 1, 2 and 7 threads") {
    auto p1 = train3(1), p2 = train3(2), p3 = train3(7);
    REQUIRE(p1.size() == p2.size());
    CHECK(memcmp(p1.data(), p2.data(), p1.size() * 4) == 0);
    CHECK(memcmp(p1.data(), p3.data(), p1.size() * 4) == 0);
}
