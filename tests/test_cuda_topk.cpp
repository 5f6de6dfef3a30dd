// test_cuda_topk.cpp — the GPU exact top-k (kernels/topk_gpu.h) against the CPU (src/topk.h), whose
// contract is bit-exact: the GPU must return the SAME indices and the SAME score bits, on both paths
// (fused tensor-core filter + exact re-scoring; exact scores everywhere), resident and streamed:
//   * random problems, d a multiple of 16 and not, 1 to 1000 queries (1 to 16 query groups), k 1..1000,
//   * exact ties (duplicated rows, all-equal memory, a zero query) → lower index first,
//   * exclusion of each query's own row, queries far from unit norm, N not a multiple of any tile,
//   * the argument errors of the CPU.
// The CPU side is topk_search (itself tested bit-identical to topk_search_reference).
// Skips visibly without a CUDA device or in a CUDA=0 build.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "device.h"
#include "safetensors.h"
#include "test_util.h"
#include "topk_problem.h"
#include "topk.h"
#if RECO_CUDA
#include "topk_gpu.h"
#endif

using namespace reco;

#if RECO_CUDA
namespace {

using testutil::Problem;
using testutil::random_problem;

// Run the CPU and the GPU (with the given options) and require identical indices and score bits.
void check_same(const Problem& p, int k, const TopkGpuOptions& opt, const std::string& what,
                const int* exclude = nullptr, const char* want_path = nullptr) {
    std::vector<int> ci((size_t)p.Q * k), gi(ci.size());
    std::vector<float> cs(ci.size()), gs(ci.size());
    topk_search(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, ci.data(), cs.data(), exclude);
    TopkGpu g(p.m.data(), p.N, p.d, opt);
    g.search(p.q.data(), p.Q, k, gi.data(), gs.data(), exclude);
    size_t bad_idx = 0, bad_score = 0, first = SIZE_MAX;
    for (size_t i = 0; i < ci.size(); i++) {
        bad_idx += ci[i] != gi[i];
        bad_score += memcmp(&cs[i], &gs[i], 4) != 0;
        if ((ci[i] != gi[i] || memcmp(&cs[i], &gs[i], 4) != 0) && first == SIZE_MAX) first = i;
    }
    const std::string ran = std::string(g.last_path()) + (g.streaming() ? " streamed" : " resident") +
                            " rescored=" + std::to_string(g.last_rescored());
    INFO(what << " Q=" << p.Q << " N=" << p.N << " d=" << p.d << " k=" << k << " path=" << ran);
    if (first != SIZE_MAX)
        INFO("first difference at query " << first / k << " rank " << first % k << ": cpu (" << ci[first] << ", "
                                          << cs[first] << ") gpu (" << gi[first] << ", " << gs[first] << ")");
    CHECK(bad_idx == 0);
    CHECK(bad_score == 0);
    if (want_path) CHECK(std::string(g.last_path()) == want_path);
}

TopkGpuOptions path(int p, bool stream = false, long long tile = 0) {
    TopkGpuOptions o;
    o.force_path = p;
    o.force_stream = stream;
    o.stream_tile_rows = tile;
    return o;
}

}  // namespace
#endif

TEST_CASE("cuda topk: both paths return the CPU's indices and score bits on random problems") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    struct Case {
        int Q, N, d, k;
    };
    const Case cases[] = {{1, 20000, 512, 10},   {7, 70000, 64, 10},  {64, 30000, 512, 5},  {65, 25000, 48, 16},
                          {100, 9000, 100, 1},   {3, 5000, 33, 256},  {200, 12000, 128, 50}, {1000, 4000, 64, 10},
                          {2, 300, 768, 300}};
    for (const Case& c : cases) {
        const Problem p = random_problem(c.Q, c.N, c.d, 100 + c.Q + c.N);
        if (c.k <= 256) check_same(p, c.k, path(1), "fused", nullptr, "fused");  // the fused kernel's limit
        check_same(p, c.k, path(2), "exact", nullptr, "exact");
        check_same(p, c.k, path(0), "automatic");
    }
    // k beyond the fused kernel's 256 goes to the exact path automatically; forcing the fused path throws
    const Problem p = random_problem(5, 3000, 64, 5);
    check_same(p, 1000, path(0), "large k", nullptr, "exact");
    CHECK_THROWS_AS(check_same(p, 300, path(1), "forced fused, k=300"), reco::Error);
#endif
}

TEST_CASE("cuda topk: ties go to the lower index (duplicated rows, constant memory, a zero query)") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    Problem p = random_problem(9, 20000, 64, 21);
    // duplicate a block of rows far apart: every duplicate scores the same bits
    for (int i = 0; i < 500; i++)
        std::copy(p.m.begin() + (size_t)i * p.d, p.m.begin() + (size_t)(i + 1) * p.d,
                  p.m.begin() + (size_t)(19000 + i) * p.d);
    // make one query equal to a memory row, another zero (every score +0: the first k indices)
    for (int c = 0; c < p.d; c++) p.q[c] = half_to_float(p.m[(size_t)123 * p.d + c]);
    std::fill(p.q.begin() + (size_t)1 * p.d, p.q.begin() + (size_t)2 * p.d, 0.0f);
    for (int opt : {1, 2}) check_same(p, 20, path(opt), "duplicates");
    // a constant memory: everything ties, the answer is 0..k-1 in order
    Problem c = random_problem(4, 6000, 32, 22);
    std::fill(c.m.begin(), c.m.end(), float_to_half(0.25f));
    for (int opt : {1, 2}) check_same(c, 37, path(opt), "constant memory");
#endif
}

TEST_CASE("cuda topk: exclusion, streaming through small tiles, unnormalised queries") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    Problem p = random_problem(50, 23456, 80, 31);
    std::vector<int> excl(p.Q);
    for (int q = 0; q < p.Q; q++) {
        excl[q] = q % 5 == 4 ? -1 : (q * 997) % p.N;
        // the excluded row is the query itself (the training set as memory): it would rank first
        if (excl[q] >= 0)
            for (int c = 0; c < p.d; c++) p.q[(size_t)q * p.d + c] = half_to_float(p.m[(size_t)excl[q] * p.d + c]);
    }
    for (int opt : {1, 2}) {
        check_same(p, 10, path(opt), "exclude", excl.data());
        check_same(p, 10, path(opt, true, 5000), "exclude, streamed in tiles of 5000", excl.data());
        check_same(p, 10, path(opt, true, 23456), "streamed in one tile", excl.data());
    }
    // queries far from unit norm: fine for the filter inside [2^-90, 2^90], the exact path outside
    Problem u = random_problem(6, 8000, 64, 32);
    for (int c = 0; c < u.d; c++) {
        u.q[c] *= 1e20f, u.q[(size_t)1 * u.d + c] *= 1e-20f, u.q[(size_t)2 * u.d + c] *= 3.0f;
    }
    check_same(u, 10, path(1), "scaled queries");
    u.q[(size_t)3 * u.d] = 1e35f;  // beyond the proven range: automatic falls back to the exact path
    check_same(u, 10, path(0), "huge query", nullptr, "exact");
    CHECK_THROWS_AS(check_same(u, 10, path(1), "forced fused with a huge query"), reco::Error);
#endif
}

TEST_CASE("cuda topk: the CPU's argument errors") {
    REQUIRE_CUDA_DEVICE();
#if RECO_CUDA
    Problem p = random_problem(2, 100, 16, 41);
    TopkGpu g(p.m.data(), p.N, p.d);
    std::vector<int> idx(1000);
    std::vector<float> sc(1000);
    auto err = [&](int k, const int* excl) {
        try {
            g.search(p.q.data(), p.Q, k, idx.data(), sc.data(), excl);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(err(0, nullptr).find("k=0 must be at least 1") != std::string::npos);
    CHECK(err(101, nullptr).find("k=101 is larger than the memory (100 items)") != std::string::npos);
    int ex[2] = {3, 100};
    CHECK(err(5, ex).find("exclude[1]=100 is not a memory index") != std::string::npos);
    int ex2[2] = {3, -1};
    CHECK(err(100, ex2).find("larger than the memory minus the excluded item") != std::string::npos);
    p.q[5] = NAN;
    CHECK(err(5, nullptr).find("non-finite value") != std::string::npos);
#endif
}
