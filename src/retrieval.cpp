// retrieval.cpp — uni-modal search + cross-modal gather (see retrieval.h).
#include "retrieval.h"

#include "dist/sharded_search.h"

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

}  // namespace reco
