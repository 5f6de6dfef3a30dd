// reference/topk.cpp — KNN(q, M) by brute force (paper §3: "the k nearest neighbours of the query in
// the memory", exact inner-product search; SPEC §5). The twin of topk.cpp's blocked search and of the
// GPU search (kernels/topk.cu): both must return exactly these indices and scores.
#include <algorithm>
#include <cmath>
#include <vector>

#include "safetensors.h"  // half_to_float
#include "topk.h"

namespace reco {

// score(q, i) = q·m_i as ONE fmaf chain in increasing c (topk.h): the definition, bit for bit.
static float score(const float* q, const uint16_t* m, int d) {
    float acc = 0.0f;
    for (int c = 0; c < d; c++) acc = std::fma(q[c], half_to_float(m[c]), acc);
    return acc;
}

// i ranks above j: higher score, or the same score and the lower index.
static bool ranks_above(float si, int i, float sj, int j) { return si > sj || (si == sj && i < j); }

void topk_search_reference(const float* queries, const uint16_t* mem, int Q, int N, int d, int k, int* out_idx,
                           float* out_score, const int* exclude) {
    topk_check_args(queries, Q, N, d, k, exclude);
#pragma omp parallel for schedule(dynamic, 1)
    for (int q = 0; q < Q; q++) {
        std::vector<float> s((size_t)N);
        std::vector<int> order;
        for (int i = 0; i < N; i++) {
            s[i] = score(queries + (size_t)q * d, mem + (size_t)i * d, d);
            if (!exclude || exclude[q] != i) order.push_back(i);  // never the query's own pair
        }
        std::partial_sort(order.begin(), order.begin() + k, order.end(),  // the k best, in ranking order
                          [&](int i, int j) { return ranks_above(s[i], i, s[j], j); });
        for (int j = 0; j < k; j++) {
            out_idx[(size_t)q * k + j] = order[j];
            out_score[(size_t)q * k + j] = s[order[j]];
        }
    }
}

}  // namespace reco
