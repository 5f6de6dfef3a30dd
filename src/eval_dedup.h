// eval_dedup.h — near-duplicates of the evaluated images are taken out of the memory (the paper's protocol,
// §4: "near-duplicates of the test images are removed from the memory"; threshold unpublished, see
// ../shared/research/reco_paper.md). Without this an evaluated image that is also in the memory finds itself
// first and fuses its own caption, which may name its class: the evaluation would read the label.
//
//   removed = { memory row r : cos(V^M[r], v) ≥ threshold for some evaluated image v }   (exact search)
// The rows are removed for every query of the evaluation, images and class prompts / captions alike, as
// if the memory had been filtered once. `reco eval --images/--pairs --near-dup COS` (default 0.95, the
// research notes' suggestion for CLIP ViT-B/32; `off` keeps every row).
#pragma once
#include <string>
#include <vector>

#include "fusion.h"
#include "retrieval_mode.h"

namespace reco {

struct NearDuplicates {
    double threshold = 0.95;
    std::vector<char> removed;  // [memory rows] 1 = removed (empty when nothing is)
    int count = 0;
};

// Memory rows (searched by mem's mode: the memory_fraction subset) whose image embedding has cosine ≥ threshold
// with one of the n images img [n, d]. No rows when mem's k is 0 (the no-retrieval control searches nothing).
NearDuplicates find_near_duplicates(const ModeMemory& mem, const float* img, int n, double threshold);

// reco_refine (reco_eval.h) that never retrieves a removed row: the top k + count are searched and the
// first k rows not removed are fused. Error when fewer than k rows remain.
void reco_refine_without(const FusionModel& fusion, const ModeMemory& mem, Modality m, std::vector<float>& emb, int n,
                         const NearDuplicates& dups);

// "near-duplicates: 3 memory items removed (image cosine >= 0.95 with an evaluated image)", or that the
// check is off (threshold < 0).
std::string describe_near_duplicates(const NearDuplicates& d, double threshold);

}  // namespace reco
