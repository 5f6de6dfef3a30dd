// test_topk.cpp — the exact top-k search (topk.h) against independent brute force:
//  * a double-precision full sort of every item (swaps allowed only where the double scores of the
//    two items are within 1e-6, i.e. where fp32 rounding may legitimately reorder them),
//  * exact ties from duplicated rows → lower index first, across tiles and threads,
//  * bit-identity of every kernel level this CPU supports (portable, AVX2, AVX-512 exact fma, and the
//    avx512_bf16 filter + exact re-scoring) with the plain sequential-fma reference definition,
//  * near-ties inside the bf16 filter's error bound (thousands of rows within 1e-3 of the k-th score),
//    the filter's overflow fallback, and queries too large or too small for its bound,
//  * exclusion, k = 1, k = N, N not a multiple of the tile, several query chunks, and the errors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <omp.h>

#include "common.h"
#include "safetensors.h"
#include "test_util.h"
#include "topk_problem.h"
#include "topk.h"
#include "cpu_features.h"

using namespace reco;

namespace {

using testutil::Problem;
using testutil::random_problem;

// Score of query q and item i in double: fp16 values and fp32 query values are exact in double,
// so this is the true inner product up to ~1e-16.
double dscore(const Problem& p, int q, int i) {
    double s = 0;
    for (int c = 0; c < p.d; c++) s += (double)p.q[(size_t)q * p.d + c] * half_to_float(p.m[(size_t)i * p.d + c]);
    return s;
}

typedef void (*SearchFn)(const float*, const uint16_t*, int, int, int, int, int*, float*, const int*);

// Check one search result against the double-precision full sort.
void check_against_double(const Problem& p, int k, const std::vector<int>& idx, const std::vector<float>& score,
                          const int* exclude) {
    for (int q = 0; q < p.Q; q++) {
        std::vector<double> s(p.N);
        for (int i = 0; i < p.N; i++) s[i] = dscore(p, q, i);
        std::vector<int> order;
        for (int i = 0; i < p.N; i++)
            if (!exclude || exclude[q] != i) order.push_back(i);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
        std::vector<bool> seen(p.N, false);
        for (int j = 0; j < k; j++) {
            int got = idx[(size_t)q * k + j], want = order[j];
            INFO("Q=" << p.Q << " N=" << p.N << " d=" << p.d << " k=" << k << " query " << q << " rank " << j);
            REQUIRE(got >= 0);
            REQUIRE(got < p.N);
            CHECK(!seen[got]);  // no duplicates
            seen[got] = true;
            if (exclude) CHECK(got != exclude[q]);
            // the same item, or one whose true score is indistinguishable at fp32 accuracy
            if (got != want) CHECK(std::fabs(s[got] - s[want]) <= 1e-6);
            CHECK(std::fabs(score[(size_t)q * k + j] - s[got]) <= 1e-5);
            if (j > 0) {  // sorted: descending score, ties by ascending index
                float prev = score[(size_t)q * k + j - 1], cur = score[(size_t)q * k + j];
                CHECK(prev >= cur);
                if (prev == cur) CHECK(idx[(size_t)q * k + j - 1] < got);
            }
        }
        // nothing left out beats the k-th returned item (beyond fp32 accuracy)
        double kth = s[order[k - 1]];
        int beaten = 0;
        for (int i = 0; i < p.N; i++)
            if (!seen[i] && !(exclude && exclude[q] == i) && s[i] > kth + 1e-6) beaten++;
        CHECK(beaten == 0);
    }
}

void run_and_check(const Problem& p, int k, const int* exclude = nullptr) {
    std::vector<int> idx((size_t)p.Q * k), ridx((size_t)p.Q * k), pidx((size_t)p.Q * k);
    std::vector<float> sc((size_t)p.Q * k), rsc((size_t)p.Q * k), psc((size_t)p.Q * k);
    topk_search(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, idx.data(), sc.data(), exclude);
    topk_search_portable(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, pidx.data(), psc.data(), exclude);
    topk_search_reference(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, ridx.data(), rsc.data(), exclude);
    check_against_double(p, k, idx, sc, exclude);
    check_against_double(p, k, ridx, rsc, exclude);
    // every kernel level returns the reference fma chain's bits and the reference order
    INFO("Q=" << p.Q << " N=" << p.N << " d=" << p.d << " k=" << k);
    CHECK(idx == ridx);
    CHECK(pidx == ridx);
    CHECK(memcmp(sc.data(), rsc.data(), sc.size() * 4) == 0);
    CHECK(memcmp(psc.data(), rsc.data(), psc.size() * 4) == 0);
    for (int lv = 1; lv <= (int)isa_supported(); lv++) {
        const std::string level = isa_name((Isa)lv);
        INFO("kernel level " << level);
        topk_search_at((Isa)lv, p.q.data(), p.m.data(), p.Q, p.N, p.d, k, pidx.data(), psc.data(), exclude);
        CHECK(pidx == ridx);
        CHECK(memcmp(psc.data(), rsc.data(), psc.size() * 4) == 0);
    }
}

// The same, levels and reference only (no double sort): for larger adversarial problems.
void check_levels_bit_exact(const Problem& p, int k, const int* exclude = nullptr) {
    std::vector<int> ridx((size_t)p.Q * k), idx((size_t)p.Q * k);
    std::vector<float> rsc((size_t)p.Q * k), sc((size_t)p.Q * k);
    topk_search_reference(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, ridx.data(), rsc.data(), exclude);
    for (int lv = 0; lv <= (int)isa_supported(); lv++) {
        const std::string level = isa_name((Isa)lv);
        INFO("Q=" << p.Q << " N=" << p.N << " d=" << p.d << " k=" << k << " kernel level " << level);
        topk_search_at((Isa)lv, p.q.data(), p.m.data(), p.Q, p.N, p.d, k, idx.data(), sc.data(), exclude);
        CHECK(idx == ridx);
        CHECK(memcmp(sc.data(), rsc.data(), sc.size() * 4) == 0);
    }
}

std::string error_of(const Problem& p, int k, const int* exclude = nullptr) {
    std::vector<int> idx((size_t)p.Q * std::max(k, 1));
    std::vector<float> sc((size_t)p.Q * std::max(k, 1));
    try {
        topk_search(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, idx.data(), sc.data(), exclude);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("topk: equals a double-precision full sort on random data, many shapes") {
    // (Q, N, d, k): k = 1, k = N, N around and not a multiple of the 192-row tile, odd d,
    // Q around the 16- and 64-query groups; one query over enough rows that the filter decides
    // (its one-query kernel, with and without a last half step of 16 pairs).
    int cases[][4] = {{1, 1, 1, 1},     {1, 10, 3, 10},   {3, 193, 7, 1},   {5, 191, 16, 5},  {16, 384, 33, 10},
                      {17, 385, 64, 7}, {64, 500, 32, 64}, {65, 1000, 17, 10}, {130, 600, 48, 3}, {7, 50, 512, 50},
                      {2, 2000, 5, 2000}, {1, 3000, 64, 10}, {1, 2500, 80, 5}, {3, 3000, 48, 10}};
    unsigned seed = 1;
    for (auto& c : cases) run_and_check(random_problem(c[0], c[1], c[2], seed++), c[3]);
}

TEST_CASE("topk: several query chunks (Q > 1024), and a large k (many heap moves)") {
    run_and_check(random_problem(1100, 70, 6, 42), 4);
    run_and_check(random_problem(70, 3000, 3, 43), 1500);
}

TEST_CASE("topk: exact ties from duplicated rows rank the lower index first") {
    // Rows 5, 200, 450 and 999 (different tiles) are the same vector and the best match of every
    // query; rows 3 and 700 duplicate a weaker one. Scores of duplicates are bit-identical (same
    // chain), so the order is decided by the index alone.
    Problem p = random_problem(20, 1000, 24, 7);
    std::vector<uint16_t> best(p.d), weak(p.d);
    for (int c = 0; c < p.d; c++) best[c] = float_to_half(0.5f), weak[c] = float_to_half(0.2f);
    for (int q = 0; q < p.Q; q++)
        for (int c = 0; c < p.d; c++) p.q[(size_t)q * p.d + c] = std::fabs(p.q[(size_t)q * p.d + c]) + 0.5f;
    for (int i : {999, 450, 200, 5}) std::copy(best.begin(), best.end(), p.m.begin() + (size_t)i * p.d);
    for (int i : {700, 3}) std::copy(weak.begin(), weak.end(), p.m.begin() + (size_t)i * p.d);
    int k = 6;
    std::vector<int> idx((size_t)p.Q * k);
    std::vector<float> sc((size_t)p.Q * k);
    const int threads_before = omp_get_max_threads();
    for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        topk_search(p.q.data(), p.m.data(), p.Q, p.N, p.d, k, idx.data(), sc.data());
        for (int q = 0; q < p.Q; q++) {
            INFO("threads " << threads << " query " << q);
            CHECK(idx[(size_t)q * k + 0] == 5);
            CHECK(idx[(size_t)q * k + 1] == 200);
            CHECK(idx[(size_t)q * k + 2] == 450);
            CHECK(idx[(size_t)q * k + 3] == 999);
            CHECK(idx[(size_t)q * k + 4] == 3);
            CHECK(idx[(size_t)q * k + 5] == 700);
            CHECK(sc[(size_t)q * k + 0] == sc[(size_t)q * k + 3]);
            CHECK(sc[(size_t)q * k + 4] == sc[(size_t)q * k + 5]);
        }
    }
    omp_set_num_threads(threads_before);
    run_and_check(p, k);

    // All rows identical: with k = N the result is 0, 1, ..., N-1.
    Problem same = random_problem(3, 300, 8, 9);
    for (int i = 1; i < same.N; i++) std::copy(same.m.begin(), same.m.begin() + same.d, same.m.begin() + (size_t)i * same.d);
    std::vector<int> all((size_t)same.Q * same.N);
    std::vector<float> asc((size_t)same.Q * same.N);
    topk_search(same.q.data(), same.m.data(), same.Q, same.N, same.d, same.N, all.data(), asc.data());
    for (int q = 0; q < same.Q; q++)
        for (int i = 0; i < same.N; i++) CHECK(all[(size_t)q * same.N + i] == i);
}

TEST_CASE("topk: exclude skips each query's own item") {
    Problem p = random_problem(40, 300, 12, 11);
    // make item (q·7) the exact best of query q, then exclude it
    std::vector<int> excl(p.Q);
    for (int q = 0; q < p.Q; q++) {
        excl[q] = q % 3 == 2 ? -1 : q * 7;
        if (excl[q] < 0) continue;
        for (int c = 0; c < p.d; c++) p.m[(size_t)excl[q] * p.d + c] = float_to_half(p.q[(size_t)q * p.d + c] * 4);
    }
    run_and_check(p, 10, excl.data());
    run_and_check(p, p.N - 1, excl.data());  // every other item
    CHECK(error_of(p, p.N, excl.data()) == "k=300 is larger than the memory minus the excluded item (299 items)");
    excl[4] = p.N;
    CHECK(error_of(p, 3, excl.data()).find("exclude[4]=300 is not a memory index") != std::string::npos);
}

TEST_CASE("topk: errors for k > N, k <= 0, an empty memory and non-finite queries") {
    Problem p = random_problem(2, 10, 4, 3);
    CHECK(error_of(p, 11) == "k=11 is larger than the memory (10 items)");
    CHECK(error_of(p, 0).find("k=0 must be at least 1") != std::string::npos);
    CHECK(error_of(p, -3).find("k=-3 must be at least 1") != std::string::npos);
    Problem empty = p;
    empty.N = 0;
    CHECK(error_of(empty, 1).find("memory is empty") != std::string::npos);
    p.q[5] = NAN;
    CHECK(error_of(p, 1).find("query 1 has a non-finite value") != std::string::npos);
    p.q[5] = INFINITY;
    CHECK(error_of(p, 1).find("query 1 has a non-finite value") != std::string::npos);
}

TEST_CASE("topk: every kernel level on near-ties inside the bf16 filter's error bound") {
    if (isa_supported() < Isa::avx512_bf16)
        testutil::skip("this CPU lacks avx512_bf16: the bf16 filter level is not run (the exact levels are)");
    // Rows 0..N-1 are one base row with single fp16 components nudged by an ulp: all scores lie
    // within ~1e-3 of each other, far inside the filter's bound (~8e-3 at unit norm), so the filter
    // cannot separate them and the exact re-scoring decides. Some rows are exact duplicates (ties by
    // index). Q = 1, 5 and 40 run the one-query, 16- and 64-lane filter kernels; exclude on the last.
    for (int Q : {1, 5, 40}) {
        Problem p = random_problem(Q, 3000, 64, 100 + Q);
        std::mt19937 rng(7);
        for (int i = 1; i < p.N; i++) {
            std::copy(p.m.begin(), p.m.begin() + p.d, p.m.begin() + (size_t)i * p.d);
            if (i % 7 == 0) continue;  // an exact duplicate of row 0
            for (int j = 0; j < 3; j++) p.m[(size_t)i * p.d + rng() % p.d] += (rng() % 2) ? 1 : -1;
        }
        std::vector<int> excl(Q);
        for (int q = 0; q < Q; q++) excl[q] = (q * 37) % p.N;
        check_levels_bit_exact(p, 10, Q == 40 ? excl.data() : nullptr);
        check_levels_bit_exact(p, 1);
    }
}

TEST_CASE("topk: the bf16 filter's fallbacks: too many candidates, huge and tiny queries") {
    if (isa_supported() < Isa::avx512_bf16)
        testutil::skip("this CPU lacks avx512_bf16: the bf16 filter level is not run (the exact levels are)");
    // 40000 near-identical rows: more candidates than the filter keeps per query → exact kernel.
    Problem p = random_problem(3, 40000, 16, 5);
    for (int i = 1; i < p.N; i++) {
        std::copy(p.m.begin(), p.m.begin() + p.d, p.m.begin() + (size_t)i * p.d);
        p.m[(size_t)i * p.d + i % p.d] += 1 + i % 3;
    }
    check_levels_bit_exact(p, 5);
    // Queries with norm > 2^60 (the bound's no-overflow premise fails) and with subnormal values
    // (bf16 conversion flushes them: only the absolute term of the bound separates anything).
    Problem h = random_problem(20, 500, 24, 6);
    for (int c = 0; c < h.d; c++) h.q[c] *= 1e20f, h.q[(size_t)h.d + c] *= 1e-39f;
    check_levels_bit_exact(h, 7);
}
