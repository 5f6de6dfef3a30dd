// test_mpi.cpp — the communication layer (src/dist/comm.h): one process without a launcher, and the
// collectives across 3 ranks under mpirun (the test re-launches this test binary as the ranks), the
// argument agreement and the error protocol of ./reco under mpirun.
#include <doctest/doctest.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "dist/comm.h"
#include "mpi_util.h"
#include "test_util.h"

using namespace reco;
using testutil::contains;

static int count_of(const std::string& s, const std::string& part) {
    int n = 0;
    for (size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) n++;
    return n;
}

TEST_CASE("comm: a plain process is rank 0 of 1 and every collective is local") {
    if (dist::launched_by_mpi()) return;  // the mpirun worker below runs only its own case
    CHECK(dist::rank() == 0);
    CHECK(dist::size() == 1);
    CHECK(dist::is_root());
    std::vector<float> x = {1.5f, -2.f};
    std::vector<size_t> counts;
    CHECK(dist::allgatherv(x.data(), x.size(), &counts) == x);
    CHECK(counts == std::vector<size_t>{2});
    float s[2] = {3.f, 4.f};
    dist::sum_in_rank_order(s, 2);
    CHECK(s[0] == 3.f);
    CHECK(dist::allgather_strings("abc") == std::vector<std::string>{"abc"});
    CHECK_NOTHROW(dist::check_all_ok("x", true, ""));
    // one process: the plain error, not wrapped
    std::string e = testutil::error_of([] { dist::collectively("work", [] { fail("boom"); }); });
    CHECK(e == "boom");
    // shares: contiguous, the first count % R ranks one more, ranks beyond count empty
    int64_t b, en;
    dist::share(7, 0, 3, &b, &en);
    CHECK((b == 0 && en == 3));
    dist::share(7, 2, 3, &b, &en);
    CHECK((b == 5 && en == 7));
    dist::share(2, 2, 3, &b, &en);
    CHECK(b == en);
}

// Runs on each of 3 ranks (started by the next test case through mpirun).
static void collectives_worker() {
    dist::init(nullptr, nullptr);
    const int r = dist::rank(), R = dist::size();
    REQUIRE(R == 3);
    // uneven all-gather, rank 1 contributes nothing
    std::vector<float> mine;
    int n = r == 1 ? 0 : r + 1;
    for (int j = 0; j < n; j++) mine.push_back(r * 10.f + j);
    std::vector<size_t> counts;
    std::vector<float> all = dist::allgatherv(mine.data(), mine.size(), &counts);
    CHECK(counts == std::vector<size_t>{1, 0, 3});
    CHECK(all == std::vector<float>{0.f, 20.f, 21.f, 22.f});
    std::vector<int64_t> big = {(int64_t)r << 40};
    CHECK(dist::allgatherv(big.data(), 1)[2] == (int64_t)2 << 40);
    // the fixed order: ((1e8 + 1) + (-1e8)) = 0 in fp32; any other order gives 1
    float x[1] = {r == 0 ? 1e8f : r == 1 ? 1.f : -1e8f};
    dist::sum_in_rank_order(x, 1);
    CHECK(x[0] == 0.f);
    // longer sums, split into 3 uneven slices (the reduce-scatter): every element's bits equal the rank-order
    // sum each rank can compute itself from the three vectors (pseudo-random values: the order matters)
    auto value = [](int rank_, size_t i) {
        uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(rank_ * 40503u + 17u);
        h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
        return (float)((int32_t)h) * 1e-7f * (rank_ == 1 ? 1e4f : 1.f);
    };
    for (size_t n : {(size_t)2, (size_t)7, (size_t)100003}) {
        std::vector<float> v(n), want(n), x0(n), x1(n), x2(n);
        for (size_t i = 0; i < n; i++) x0[i] = value(0, i), x1[i] = value(1, i), x2[i] = value(2, i);
        for (size_t i = 0; i < n; i++) {
            v[i] = r == 0 ? x0[i] : r == 1 ? x1[i] : x2[i];
            volatile float partial = x0[i] + x1[i];  // (stored: no fused multiply-add with value()'s product)
            want[i] = partial + x2[i];
        }
        dist::sum_in_rank_order(v.data(), n);
        size_t bad_at = n;
        for (size_t i = 0; i < n && bad_at == n; i++)
            if (memcmp(&v[i], &want[i], sizeof(float)) != 0) bad_at = i;
        INFO("n=" << n << " first differing element " << bad_at << ": " << (bad_at < n ? v[bad_at] : 0.f) << " vs " << (bad_at < n ? want[bad_at] : 0.f));
        CHECK(bad_at == n);
    }
    std::string s = r == 0 ? "from root" : "";
    dist::broadcast(s, 0);
    CHECK(s == "from root");
    // one rank fails: every rank gets the error, naming the rank
    std::string e = testutil::error_of([&] {
        dist::collectively("the work", [&] {
            if (r == 1) fail("boom on one");
        });
    });
    CHECK(contains(e, "the work failed on 1 of 3 ranks: rank 1: boom on one"));
    // different lengths in a sum are refused, not mis-added
    std::vector<float> v((size_t)r + 1, 1.f);
    CHECK(contains(testutil::error_of([&] { dist::sum_in_rank_order(v.data(), v.size()); }), "same length"));
    dist::barrier();
    printf("comm worker rank %d of %d ok\n", r, R);
    fflush(stdout);
    dist::finalize();
}

TEST_CASE("comm: collectives across 3 ranks (uneven all-gather, rank-order sum, broadcast, errors)") {
    if (dist::launched_by_mpi()) {
        collectives_worker();
        return;
    }
    REQUIRE_MPI();
    char self[PATH_MAX] = {0};
    REQUIRE(readlink("/proc/self/exe", self, sizeof self - 1) > 0);
    std::string out;
    int rc = run_cmd(testutil::mpirun(3) + self + " -tc='comm: collectives across 3 ranks*'", &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(count_of(out, "ok\n") == 3);
}

TEST_CASE("comm: ranks launched with different arguments stop on every rank with a clear error") {
    if (dist::launched_by_mpi()) return;
    REQUIRE_MPI();
    std::string bin = testutil::reco_bin(), out;
    int rc = run_cmd(testutil::mpirun(1) + bin + "info a.safetensors : -np 1 " + bin + "info b.safetensors",
                               &out);
    INFO(out);
    CHECK(rc != 0);
    CHECK(rc != 124);  // not the timeout
    CHECK(count_of(out, "were not launched with the same arguments") == 2);
    CHECK(contains(out, "[rank 0 of 2]"));
    CHECK(contains(out, "[rank 1 of 2]"));
}

TEST_CASE("comm: an error on the ranks ends the run non-zero without a hang") {
    if (dist::launched_by_mpi()) return;
    REQUIRE_MPI();
    std::string out;
    int rc = run_cmd(testutil::mpirun(2, 60) + testutil::reco_bin() + "info /nonexistent/x.safetensors",
                               &out);
    INFO(out);
    CHECK(rc != 0);
    CHECK(rc != 124);
    CHECK(contains(out, "/nonexistent/x.safetensors"));
}
