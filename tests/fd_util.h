// fd_util.h — finite-difference helpers shared by the gradient tests (test_fusion_grad.cpp,
// test_sigmoid_loss.cpp): random inputs, the 5-point central stencil, and a small fusion problem.
//
// Finite differences: (f(x-2h) - 8f(x-h) + 8f(x+h) - f(x+2h))/12h, h = 1e-4, in double: truncation
// ~h⁴·f⁽⁵⁾ and rounding ~1e-16·|f|/h both ≲ 1e-11 here. Error per entry:
//   |analytic − numeric| / max(|analytic|, |numeric|, 1e-3)
// i.e. relative for gradients above 1e-3 and absolute (×1e-3) below, so entries whose true
// gradient is 0 (the key bias: softmax is shift-invariant) are held to |numeric| ≤ 1e-9.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "fusion.h"

namespace fdutil {

inline std::vector<double> randn(size_t n, std::mt19937_64& rng, double scale = 1.0) {
    std::normal_distribution<double> nd(0.0, scale);
    std::vector<double> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}
inline void normalize_rows(std::vector<double>& v, int C) {
    for (size_t r = 0; r < v.size() / C; r++) {
        double s = 0;
        for (int i = 0; i < C; i++) s += v[r * C + i] * v[r * C + i];
        for (int i = 0; i < C; i++) v[r * C + i] /= std::sqrt(s);
    }
}
inline double rel_err(double a, double n) {
    return std::fabs(a - n) / std::max({std::fabs(a), std::fabs(n), 1e-3});
}
// Max error of analytic gradient `grad` against central differences of f() over x[idx] for idx in
// `which` (all entries when empty).
inline double fd_check(const std::function<double()>& f, std::vector<double>& x, const std::vector<double>& grad,
                       std::vector<size_t> which = {}) {
    if (which.empty())
        for (size_t i = 0; i < x.size(); i++) which.push_back(i);
    const double h = 1e-4;
    double worst = 0;
    for (size_t i : which) {
        const double orig = x[i];
        auto at = [&](double dx) { x[i] = orig + dx; return f(); };
        const double num = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
        x[i] = orig;
        worst = std::max(worst, rel_err(grad[i], num));
    }
    return worst;
}
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}
const double kTol = 1e-6;

// A fusion training problem in double: parameters, the batch and its neighbours.
struct Problem {
    reco::FusionDims dims;
    int B, k;
    std::vector<double> params, V, T, nbr_txt_for_img, nbr_img_for_txt;
};
// Parameters: random around the init (LayerNorm weights near 1, biases nonzero) so every path
// matters. With logit_bias (the sigmoid loss's model) the bias is set to `bias`.
inline Problem make_problem(int d, int heads, int B, int k, uint64_t seed, bool logit_bias = false,
                            double bias = -10.0) {
    Problem p;
    p.dims.d = d;
    p.dims.heads = heads;
    p.dims.logit_bias = logit_bias;
    p.B = B;
    p.k = k;
    std::mt19937_64 rng(seed);
    reco::FusionModel m;
    m.init(p.dims, (float)std::log(1 / 0.07), seed, (float)bias);
    p.params.assign(m.params.begin(), m.params.end());
    std::normal_distribution<double> nd(0, 1);
    for (const reco::ParamEntry& e : m.table) {
        if (e.name == "logit_scale" || e.name == "logit_bias") continue;
        const bool ln = e.name.find(".ln") != std::string::npos;
        for (size_t i = 0; i < e.numel; i++) p.params[e.offset + i] += ln ? 0.2 * nd(rng) : 0.3 / std::sqrt((double)d) * nd(rng);
    }
    p.V = randn((size_t)B * d, rng);
    p.T = randn((size_t)B * d, rng);
    p.nbr_txt_for_img = randn((size_t)B * k * d, rng);
    p.nbr_img_for_txt = randn((size_t)B * k * d, rng);
    for (auto* v : {&p.V, &p.T, &p.nbr_txt_for_img, &p.nbr_img_for_txt}) normalize_rows(*v, d);
    return p;
}
// First, last and n-2 random entries of a tensor (all when small).
inline std::vector<size_t> sample(const reco::ParamEntry& e, int n, std::mt19937_64& rng) {
    std::vector<size_t> idx;
    if ((int)e.numel <= n) {
        for (size_t i = 0; i < e.numel; i++) idx.push_back(e.offset + i);
        return idx;
    }
    idx = {e.offset, e.offset + e.numel - 1};
    for (int i = 2; i < n; i++) idx.push_back(e.offset + rng() % e.numel);
    return idx;
}

}  // namespace fdutil
