// test_nccl.cpp — the NCCL collectives (kernels/nccl_comm.h) on one GPU: a one-rank communicator
// runs the data-parallel step (src/dist/data_parallel.h) with its gather and ordered sum staged
// through device buffers, against the single-process fusion_loss. (Several ranks need several GPUs:
// NCCL refuses two ranks on one device; the multi-rank arithmetic itself is tested on simulated ranks
// in tests/test_data_parallel.cpp.) Skips visibly without NCCL in the build or without a device.
#include <cmath>
#include <random>
#include <vector>

#include "dist/data_parallel.h"
#include "fusion_train.h"
#include "test_util.h"
#if RECO_CUDA && RECO_NCCL
#include "nccl_comm.h"
#endif

using namespace reco;

TEST_CASE("cuda nccl: a one-rank communicator runs the data-parallel step like the single process") {
#if !(RECO_CUDA && RECO_NCCL)
    testutil::skip("built without NCCL (tools/get_nccl.sh, then make with nvcc)");
#else
    REQUIRE_CUDA_DEVICE();
    NcclComm comm(0, 1, nccl_unique_id(), 0);
    FusionDims dims;
    dims.d = 32;
    dims.heads = 4;
    FusionModel model;
    model.init(dims, 2.65926003f, 3);
    const int B = 5, k = 2, d = dims.d;
    std::mt19937_64 rng(9);
    std::normal_distribution<float> g;
    std::vector<float> V((size_t)B * d), T((size_t)B * d), a((size_t)B * k * d), b((size_t)B * k * d);
    for (auto* v : {&V, &T, &a, &b})
        for (auto& x : *v) x = g(rng) * 0.2f;
    FusionLossWorkspace<float> ws1;
    std::vector<float> g1(model.params.size(), 0.0f), g2;
    const float L1 = fusion_loss<float>(dims, model.params.data(), g1.data(), V.data(), T.data(), a.data(), b.data(),
                                        B, k, ws1);
    DataParallelWorkspace ws;
    const float L2 = data_parallel_loss_and_grads(comm, model, ws, V.data(), T.data(), a.data(), b.data(), B, k,
                                                  LossKind::nce, g2);
    CHECK(std::fabs(L2 - L1) <= 1e-6 * std::fabs(L1));
    double m = 0;
    for (size_t i = 0; i < g1.size(); i++) m = std::max(m, (double)std::fabs(g1[i] - g2[i]));
    CHECK(m <= 1e-6);
#endif
}
