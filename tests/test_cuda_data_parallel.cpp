// test_cuda_data_parallel.cpp — the GPU data-parallel step (FusionGpu::train_step_data_parallel) on
// R ranks simulated by threads that share ONE device (each its own FusionGpu; the device collectives
// exchange device pointers through a board, tests/thread_collectives.h's scheme): 10 steps on 2 and 3
// ranks (uneven slices, and B < R: an idle rank) against the single-process CPU trajectory
// (fusion_train_step) with the tolerances of tests/test_cuda_fusion.cpp (GPU vs CPU: summation order),
// and every rank's weights bit-identical. NCCL itself needs one GPU per rank (tests/test_nccl.cpp).
// Skips visibly without a device.
#include <cmath>
#include <random>
#include <vector>

#include "adamw.h"
#include "dist/data_parallel.h"
#include "fusion_train.h"
#include "test_util.h"
#include "thread_collectives.h"
#if RECO_CUDA
#include <cuda_runtime_api.h>

#include "fusion_gpu.h"
#endif

using namespace reco;

#if RECO_CUDA
namespace {

// Device-pointer collectives among threads on one device: copies between the ranks' buffers.
class ThreadDeviceCollectives : public DeviceCollectives {
public:
    ThreadDeviceCollectives(testutil::ThreadBoard& b, int rank) : b_(b), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return b_.size(); }
    void allgather_rows_device(const float* mine, float* all, const std::vector<int>& rows, int width) override {
        b_.ptrs_[rank_] = mine;
        b_.barrier();
        size_t off = 0;
        for (int r = 0; r < size(); r++) {
            const size_t n = (size_t)rows[r] * width;
            if (n) REQUIRE(cudaMemcpy(all + off, b_.ptrs_[r], n * 4, cudaMemcpyDeviceToDevice) == cudaSuccess);
            off += n;
        }
        b_.barrier();
    }
    void sum_in_rank_order_device(float* buf, size_t n) override {
        std::vector<float> mine(n);
        REQUIRE(cudaMemcpy(mine.data(), buf, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
        b_.ptrs_[rank_] = mine.data();
        b_.barrier();
        std::vector<float> sum(n);
        for (size_t i = 0; i < n; i++) {
            float s = b_.ptrs_[0][i];
            for (int r = 1; r < size(); r++) s += b_.ptrs_[r][i];
            sum[i] = s;
        }
        b_.barrier();
        REQUIRE(cudaMemcpy(buf, sum.data(), n * 4, cudaMemcpyHostToDevice) == cudaSuccess);
    }

private:
    testutil::ThreadBoard& b_;
    int rank_;
};

using testutil::unit_rows;

}  // namespace
#endif

TEST_CASE("cuda data-parallel: 10 steps on 2 and 3 ranks sharing one GPU follow the single-process CPU run") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    for (int B : {8, 2}) {
        const int k = 3, d = 64, steps = 10;
        struct Batch {
            std::vector<float> V, T, a, b;
        };
        std::vector<Batch> batches(steps);
        std::mt19937_64 rng(5 + B);
        for (auto& bt : batches) {
            bt.V.resize((size_t)B * d), bt.T.resize((size_t)B * d), bt.a.resize((size_t)B * k * d),
                bt.b.resize((size_t)B * k * d);
            for (auto* v : {&bt.V, &bt.T, &bt.a, &bt.b}) unit_rows(*v, d, rng);
        }
        FusionDims dims;
        dims.d = d;
        dims.heads = 4;
        FusionModel m0;
        m0.init(dims, 2.65926003f, 1);
        FusionModel m1 = m0;
        AdamW o1(m1.table, m1.params.size());
        FusionTrainWorkspace w1;
        std::vector<float> L1;
        for (auto& bt : batches)
            L1.push_back(fusion_train_step(m1, o1, w1, bt.V.data(), bt.T.data(), bt.a.data(), bt.b.data(), B, k, 1e-3));
        for (int R : {2, 3}) {
            CAPTURE(B);
            CAPTURE(R);
            testutil::ThreadBoard board(R);
            std::vector<std::vector<float>> L(R);
            std::vector<FusionModel> out(R, m0);
            std::vector<std::thread> th;
            for (int r = 0; r < R; r++)
                th.emplace_back([&, r] {
                    ThreadDeviceCollectives c(board, r);
                    FusionGpu gpu(m0);
                    int b0, b1;
                    batch_slice(B, R, r, &b0, &b1);
                    for (auto& bt : batches)
                        L[r].push_back(gpu.train_step_data_parallel(c, bt.V.data() + (size_t)b0 * d,
                                                                    bt.T.data() + (size_t)b0 * d,
                                                                    bt.a.data() + (size_t)b0 * k * d,
                                                                    bt.b.data() + (size_t)b0 * k * d, B, k, 1e-3));
                    gpu.download(out[r]);
                });
            for (auto& t : th) t.join();
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < steps; s++) CHECK(std::fabs(L[r][s] - L1[s]) <= 1e-5 * std::fabs(L1[s]));
                double m = 0;
                for (size_t i = 0; i < m1.params.size(); i++)
                    m = std::max(m, (double)std::fabs(out[r].params[i] - m1.params[i]));
                CHECK(m <= 2e-6);
                CHECK(out[r].params == out[0].params);
            }
        }
    }
#endif
}
