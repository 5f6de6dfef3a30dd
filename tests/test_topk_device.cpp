// test_topk_device.cpp — the exact top-k on the device --device chose (src/topk_device.h): the CPU
// path is topk_search itself; on a CUDA device TopkSearcher and topk_search_on return the CPU's indices
// and score bits (several searches on one upload, exclusion, k beyond the GPU limit falling back).
// The search-device flag: resolved lazily, bad names refused. GPU parts skip visibly without a device.
#include <cstring>
#include <vector>

#include "test_util.h"
#include "topk.h"
#include "topk_device.h"
#include "topk_problem.h"

using namespace reco;

TEST_CASE("topk_search_on: the CPU path is topk_search; the search-device flag") {
    const testutil::Problem p = testutil::random_problem(5, 3000, 48, 3);
    const int k = 7;
    std::vector<int> a((size_t)p.Q * k), b(a.size());
    std::vector<float> sa(a.size()), sb(a.size());
    topk_search(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, a.data(), sa.data());
    topk_search_on(Device::CPU, p.q.data(), p.m.data(), p.Q, p.N, p.d, k, b.data(), sb.data());
    CHECK(a == b);
    CHECK(std::memcmp(sa.data(), sb.data(), sa.size() * 4) == 0);
    set_search_device_flag("cpu");
    CHECK(search_device() == Device::CPU);
    set_search_device_flag("gpu");
    CHECK(testutil::contains(testutil::error_of([] { search_device(); }), "--device must be auto, cpu or cuda"));
    set_search_device_flag("auto");
    CHECK((search_device() == Device::CUDA) == (cuda_device_count() > 0));
}

TEST_CASE("cuda TopkSearcher: the CPU's indices and score bits, several searches on one upload") {
    REQUIRE_CUDA_DEVICE();
    const testutil::Problem p = testutil::random_problem(33, 20000, 512, 4);
    TopkSearcher gpu(Device::CUDA, p.m.data(), p.N, p.d);
    for (int k : {1, 10, 100}) {
        std::vector<int> a((size_t)p.Q * k), b(a.size()), ex(p.Q);
        std::vector<float> sa(a.size()), sb(a.size());
        for (int q = 0; q < p.Q; q++) ex[q] = q * 17;
        for (const int* e : {(const int*)nullptr, (const int*)ex.data()}) {
            topk_search(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, a.data(), sa.data(), e);
            gpu.search(p.q.data(), p.Q, k, b.data(), sb.data(), e);
            CAPTURE(k);
            CHECK(a == b);
            CHECK(std::memcmp(sa.data(), sb.data(), sa.size() * 4) == 0);
        }
    }
    // k beyond the GPU kernels' 1024: topk_search_on answers on the CPU, same contract
    const int k = 1500;
    std::vector<int> a((size_t)2 * k), b(a.size());
    std::vector<float> sa(a.size()), sb(a.size());
    topk_search(p.q.data(), p.m.data(), 2, p.N, p.d, k, a.data(), sa.data());
    topk_search_on(Device::CUDA, p.q.data(), p.m.data(), 2, p.N, p.d, k, b.data(), sb.data());
    CHECK(a == b);
}
