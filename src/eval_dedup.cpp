// eval_dedup.cpp — near-duplicates of the evaluated images out of the memory (see eval_dedup.h).
#include "eval_dedup.h"

#include <algorithm>

#include "common.h"
#include "reco_eval.h"
#include "retrieval.h"

namespace reco {

NearDuplicates find_near_duplicates(const ModeMemory& mem, const float* img, int n, double threshold) {
    NearDuplicates d;
    d.threshold = threshold;
    if (mem.mode().k == 0 || n == 0) return d;
    const int N = mem.file().n(), searchable = mem.searchable();
    d.removed.assign(N, 0);
    // image → image search, top K; when some query's K-th neighbour still passes, search again with 4K
    for (int K = std::min(64, searchable);; K = std::min(4 * K, searchable)) {
        RetrievalMode probe = mem.mode();
        probe.search = SearchMode::uni;
        probe.k = K;
        ModeMemory wide(mem.file(), probe);
        Neighbours nb = retrieve(wide, Modality::image, img, n);
        bool more = false;
        for (int q = 0; q < n; q++) {
            for (int j = 0; j < K; j++)
                if (nb.score[(size_t)q * K + j] >= threshold) d.removed[nb.idx[(size_t)q * K + j]] = 1;
            more |= nb.score[(size_t)q * K + K - 1] >= threshold;
        }
        if (!more || K == searchable) break;
    }
    d.count = (int)std::count(d.removed.begin(), d.removed.end(), 1);
    if (d.count == 0) d.removed.clear();
    return d;
}

void reco_refine_without(const FusionModel& fusion, const ModeMemory& mem, Modality m, std::vector<float>& emb, int n,
                         const NearDuplicates& dups) {
    if (dups.count == 0 || mem.mode().k == 0) return reco_refine(fusion, mem, m, emb, n);
    const int k = mem.mode().k;
    if (mem.searchable() - dups.count < k)
        fail("%s: k=%d is more than the %d memory items left after removing %d near-duplicates of the evaluated "
             "images (cosine >= %g); lower --k or raise --near-dup",
             mem.file().path().c_str(), k, mem.searchable() - dups.count, dups.count, dups.threshold);
    RetrievalMode wide_mode = mem.mode();
    wide_mode.k = std::min(mem.searchable(), k + dups.count);
    ModeMemory wide(mem.file(), wide_mode);
    Neighbours all = retrieve(wide, m, emb.data(), n);
    Neighbours nb;
    nb.Q = n;
    nb.k = k;
    for (int q = 0; q < n; q++) {
        int kept = 0;
        for (int j = 0; j < all.k && kept < k; j++) {
            const int row = all.idx[(size_t)q * all.k + j];
            if (dups.removed[row]) continue;
            nb.idx.push_back(row);
            nb.score.push_back(all.score[(size_t)q * all.k + j]);
            kept++;
        }
    }
    std::vector<float> nbr = gather_fusion_inputs(mem, m, nb);
    fusion_refine(fusion, m, emb.data(), nbr.data(), n, k, emb.data());
}

std::string describe_near_duplicates(const NearDuplicates& d, double threshold) {
    if (threshold < 0) return "near-duplicates: not removed (--near-dup off)";
    return strformat("near-duplicates: %d memory item%s removed (image cosine >= %g with an evaluated image)", d.count,
                     d.count == 1 ? "" : "s", threshold);
}

}  // namespace reco
