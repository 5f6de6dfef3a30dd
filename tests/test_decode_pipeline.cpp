// test_decode_pipeline.cpp — run_decode_pipeline (decode_pipeline.h): order, slot reuse, real overlap
// (shown by events, not timings), and errors from either side stop both without a hang.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "decode_pipeline.h"
#include "test_util.h"

using namespace reco;

namespace {
// Waits up to 10 s for flag; returns whether it became true.
bool wait_for(const std::atomic<bool>& flag) {
    for (int i = 0; i < 10000 && !flag.load(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return flag.load();
}
}  // namespace

TEST_CASE("decode pipeline: every batch consumed once, in order, from the slot its producer filled") {
    for (bool overlap : {false, true})
        for (int depth : {1, 2, 3}) {
            const size_t n = 17;
            std::vector<long> slots(depth, -1);
            std::vector<size_t> consumed;
            run_decode_pipeline(
                n, [&](size_t i) { slots[i % depth] = (long)i * 10; },
                [&](size_t i) {
                    CHECK(slots[i % depth] == (long)i * 10);  // not yet overwritten by produce(i + depth)
                    consumed.push_back(i);
                },
                overlap, depth);
            REQUIRE(consumed.size() == n);
            for (size_t i = 0; i < n; i++) CHECK(consumed[i] == i);
        }
}

TEST_CASE("decode pipeline: the next batch is produced while the current one is consumed") {
    // consume(i) waits until produce(i + 1) has started: possible only if they overlap (the
    // sequential loop would wait forever, so the wait has a 10 s limit and the check fails instead).
    const size_t n = 4;
    std::vector<std::atomic<bool>> started(n + 1);
    for (auto& s : started) s = false;
    int overlapped = 0;
    run_decode_pipeline(
        n, [&](size_t i) { started[i] = true; },
        [&](size_t i) {
            if (i + 1 < n && wait_for(started[i + 1])) overlapped++;
        },
        true, 2);
    CHECK(overlapped == (int)n - 1);
    // and never more than depth ahead: with depth 1, produce(i + 1) waits for consume(i)
    std::atomic<size_t> done{0};
    bool ahead = false;
    run_decode_pipeline(
        6, [&](size_t i) { ahead = ahead || i > done.load() + 1; }, [&](size_t i) { done = i + 1; }, true, 1);
    CHECK_FALSE(ahead);
}

TEST_CASE("decode pipeline: an error in the producer or the consumer is rethrown, nothing hangs") {
    for (bool overlap : {false, true}) {
        std::vector<size_t> consumed;
        CHECK_THROWS_WITH(run_decode_pipeline(
                              10,
                              [&](size_t i) {
                                  if (i == 3) throw std::runtime_error("decode failed at 3");
                              },
                              [&](size_t i) { consumed.push_back(i); }, overlap),
                          "decode failed at 3");
        CHECK(consumed == std::vector<size_t>({0, 1, 2}));  // batches before the failure only

        std::atomic<size_t> produced{0};
        CHECK_THROWS_WITH(run_decode_pipeline(
                              1000, [&](size_t i) { produced = i + 1; },
                              [&](size_t i) {
                                  if (i == 2) throw std::runtime_error("tower failed at 2");
                              },
                              overlap),
                          "tower failed at 2");
        CHECK(produced.load() <= 2 + 2 + 1);  // the producer stopped within depth of the failure
    }
}
