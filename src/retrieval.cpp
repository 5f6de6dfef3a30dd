// retrieval.cpp — uni-modal search + cross-modal gather (see retrieval.h).
#include "retrieval.h"

#include "topk.h"

namespace reco {

Neighbours retrieve(const EmbeddingFile& mem, Modality m, const float* queries, int Q, int k, bool cross,
                    const int* exclude) {
    // uni-modal: search the query's own modality; cross-modal ablation: the other one
    bool search_images = (m == Modality::image) != cross;
    Neighbours nb;
    nb.Q = Q;
    nb.k = k;
    nb.idx.resize((size_t)Q * k);
    nb.score.resize((size_t)Q * k);
    if (Q == 0) return nb;
    topk_search(queries, search_images ? mem.image_emb_f16() : mem.text_emb_f16(), Q, mem.n(), mem.d(), k,
                nb.idx.data(), nb.score.data(), exclude);
    return nb;
}

std::vector<float> gather_fusion_inputs(const EmbeddingFile& mem, Modality m, const Neighbours& nb) {
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

}  // namespace reco
