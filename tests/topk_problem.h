// topk_problem.h — a random exact-top-k problem (fp32 queries, fp16 memory), shared by the CPU and
// CUDA top-k tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "safetensors.h"  // float_to_half

namespace testutil {

struct Problem {
    int Q, N, d;
    std::vector<float> q;
    std::vector<uint16_t> m;
};

inline Problem random_problem(int Q, int N, int d, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    Problem p{Q, N, d, std::vector<float>((size_t)Q * d), std::vector<uint16_t>((size_t)N * d)};
    for (auto& v : p.q) v = nd(rng) / std::sqrt((float)d);
    for (auto& v : p.m) v = reco::float_to_half(nd(rng) / std::sqrt((float)d));
    return p;
}

}  // namespace testutil
