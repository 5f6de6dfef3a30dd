// retrieval.h — RECO's retrieval step (SPEC §1, §5): uni-modal search, cross-modal fusion inputs.
//
// An image query searches the memory's IMAGE embeddings and returns the TEXT embeddings of its k
// nearest pairs; a text query searches the TEXT embeddings and returns the IMAGE embeddings.
// `cross = true` is the cross-modal-search ablation (image query → text embeddings searched).
#pragma once
#include <vector>

#include "dist/sharded_memory.h"
#include "fusion.h"
#include "memory.h"
#include "retrieval_mode.h"

namespace reco {

struct Neighbours {
    int Q = 0, k = 0;
    std::vector<int> idx;      // [Q,k] memory rows, best first
    std::vector<float> score;  // [Q,k]
};

// Search for Q queries of modality m (image or text) in mem (one file or a directory of shards; exact
// and split over the MPI ranks: dist/sharded_search.h). exclude: optional [Q] global row to skip.
Neighbours retrieve(const ShardedMemory& mem, Modality m, const float* queries, int Q, int k, bool cross = false,
                    const int* exclude = nullptr);

// The fusion inputs for those neighbours: the OTHER modality's embeddings, [Q,k,d] fp32
// (image query → the pairs' text embeddings; text query → the pairs' image embeddings).
std::vector<float> gather_fusion_inputs(const ShardedMemory& mem, Modality m, const Neighbours& nb);

// The same under an ablation mode (retrieval_mode.h): the searched side, the fused side, k (0: no
// neighbours, an empty result and an empty [Q,0,d] gather) and the memory subset come from mem.mode().
Neighbours retrieve(const ModeMemory& mem, Modality m, const float* queries, int Q, const int* exclude = nullptr);
std::vector<float> gather_fusion_inputs(const ModeMemory& mem, Modality m, const Neighbours& nb);

// Retrieval that never shows a query its own label through the memory (evaluation with the data as
// the memory): query q never retrieves a row r with row_label[r] == query_label[q] (labels ≥ 0;
// -1 = no label, never excluded). The exact top-k over the remaining rows: searches k + (the
// largest number of rows one label has) and drops the excluded ones. Errors when fewer than k rows
// remain for some query.
Neighbours retrieve_excluding_labels(const ModeMemory& mem, Modality m, const float* queries, int Q,
                                     const int* query_label, const std::vector<int>& row_label);

}  // namespace reco
