// bench_common.h — what tools/bench_towers.cpp and tools/bench_siglip.cpp share: random weights in the
// checkpoints' shapes (no checkpoint needed: the speed of a layer does not depend on its values) and a
// timed loop.
#pragma once
#include <chrono>
#include <random>
#include <vector>

#include "clip_model.h"

namespace benchcommon {

// v = offset + scale·N(0, 1), n values.
inline void fill(std::vector<float>& v, size_t n, std::mt19937& rng, float scale, float offset = 0) {
    std::normal_distribution<float> nd(0, 1);
    v.resize(n);
    for (auto& x : v) x = offset + scale * nd(rng);
}

// One transformer layer of width C and MLP width M (the block both towers of both families share).
inline void random_layer(reco::ClipLayer& L, int C, int M, std::mt19937& rng) {
    fill(L.ln1_w, C, rng, 0.02f, 1); fill(L.ln1_b, C, rng, 0.02f);
    fill(L.qkv_w, (size_t)3 * C * C, rng, 0.02f); fill(L.qkv_b, 3 * C, rng, 0.02f);
    fill(L.out_w, (size_t)C * C, rng, 0.02f); fill(L.out_b, C, rng, 0.02f);
    fill(L.ln2_w, C, rng, 0.02f, 1); fill(L.ln2_b, C, rng, 0.02f);
    fill(L.fc1_w, (size_t)M * C, rng, 0.02f); fill(L.fc1_b, M, rng, 0.02f);
    fill(L.fc2_w, (size_t)C * M, rng, 0.02f); fill(L.fc2_b, C, rng, 0.02f);
}

// items/s of f() (which handles `items` items) over at least `seconds`, after one warm-up call (which
// also packs the weights, once).
template <class F>
double rate(F f, int items, double seconds) {
    f();
    const auto t0 = std::chrono::steady_clock::now();
    int done = 0;
    double el = 0;
    do {
        f();
        done += items;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (el < seconds);
    return done / el;
}

}  // namespace benchcommon
