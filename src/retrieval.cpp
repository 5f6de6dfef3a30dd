// retrieval.cpp — uni-modal search + cross-modal gather (see retrieval.h).
#include "retrieval.h"

#include "dist/sharded_search.h"
#include <algorithm>
#include <map>

#include "common.h"
#include "topk.h"

namespace reco {

Neighbours retrieve(const ShardedMemory& mem, Modality m, const float* queries, int Q, int k, bool cross,
                    const int* exclude) {
    // uni-modal: search the query's own modality; cross-modal ablation: the other one
    bool search_images = (m == Modality::image) != cross;
    Neighbours nb;
    nb.Q = Q;
    nb.k = k;
    nb.idx.resize((size_t)Q * k);
    nb.score.resize((size_t)Q * k);
    if (Q == 0) return nb;
    sharded_topk(mem, search_images, queries, Q, k, nb.idx.data(), nb.score.data(), exclude);
    return nb;
}

std::vector<float> gather_fusion_inputs(const ShardedMemory& mem, Modality m, const Neighbours& nb) {
    const int d = mem.d();
    std::vector<float> out((size_t)nb.Q * nb.k * d);
    for (size_t i = 0; i < nb.idx.size(); i++) {
        if (m == Modality::image) mem.text_row(nb.idx[i], out.data() + i * d);
        else mem.image_row(nb.idx[i], out.data() + i * d);
    }
    return out;
}

Neighbours retrieve(const ModeMemory& mem, Modality m, const float* queries, int Q, const int* exclude) {
    Neighbours nb;
    nb.Q = Q;
    nb.k = mem.mode().k;
    nb.idx.resize((size_t)Q * nb.k);
    nb.score.resize((size_t)Q * nb.k);
    mem.search(m, queries, Q, nb.idx.data(), nb.score.data(), exclude);
    return nb;
}

std::vector<float> gather_fusion_inputs(const ModeMemory& mem, Modality m, const Neighbours& nb) {
    const int d = mem.file().d();
    std::vector<float> out((size_t)nb.Q * nb.k * d);
    for (size_t i = 0; i < nb.idx.size(); i++) mem.fused_row(m, nb.idx[i], out.data() + i * d);
    return out;
}

Neighbours retrieve_excluding_labels(const ModeMemory& mem, Modality m, const float* queries, int Q,
                                     const int* query_label, const std::vector<int>& row_label) {
    const int k = mem.mode().k, N = mem.file().n();
    if ((int)row_label.size() != N) fail("retrieve_excluding_labels: %zu row labels for %d rows", row_label.size(), N);
    std::map<int, int> per_label;
    int most = 0;
    for (int l : row_label)
        if (l >= 0) most = std::max(most, ++per_label[l]);
    Neighbours out;
    out.Q = Q;
    out.k = k;
    out.idx.resize((size_t)Q * k);
    out.score.resize((size_t)Q * k);
    if (k == 0 || Q == 0) return out;
    RetrievalMode wide = mem.mode();
    wide.k = std::min(mem.searchable(), k + most);
    ModeMemory wider(mem.file(), wide);
    std::vector<int> idx((size_t)Q * wide.k);
    std::vector<float> score((size_t)Q * wide.k);
    wider.search(m, queries, Q, idx.data(), score.data());
    for (int q = 0; q < Q; q++) {
        int got = 0;
        for (int j = 0; j < wide.k && got < k; j++) {
            const int r = idx[(size_t)q * wide.k + j];
            if (query_label[q] >= 0 && row_label[r] == query_label[q]) continue;
            out.idx[(size_t)q * k + got] = r;
            out.score[(size_t)q * k + got] = score[(size_t)q * wide.k + j];
            got++;
        }
        if (got < k)
            fail("%s: only %d memory rows remain for query %d once the rows of its own label are excluded (k=%d)",
                 mem.file().path().c_str(), got, q, k);
    }
    return out;
}

}  // namespace reco
