// sharded_search.h — exact top-k over a sharded memory, streamed within a memory budget and split
// over the MPI ranks (SPEC §9).
//
// The result is identical, indices and score bits, to topk_search (topk.h) on the unsplit memory,
// however the memory is split into shards and tiles and however many ranks search it:
//   - a score depends only on (query, row): one fmaf chain over the row (topk.h), whatever the tile;
//   - every tile and every rank returns its own exact top-k, and the lists are merged with topk.h's
//     order (score descending, equal scores → the lower GLOBAL index), which the union preserves.
// Streaming: each shard's searched tensor (image_emb or text_emb only) is mapped in row tiles of at
// most `budget_bytes`, checked for NaN/Inf, searched with topk_search and unmapped, so the address
// space and resident size stay bounded by the budget, not by the memory size.
// Ranks: with R > 1 (mpirun) rank r searches the contiguous shard range dist::share(S, r, R) — only
// those files are opened — for all queries; the per-rank lists are all-gathered and merged on every
// rank. Ranks without shards (R > S) send empty lists but take part in every collective. A failure
// on any rank (a shard that vanished, was truncated, holds NaN) is an error on every rank.
#pragma once
#include <cstdint>

#include "dist/sharded_memory.h"

namespace reco {

extern const int kDefaultMemoryBudgetMB;  // 1024

// The budget searches use unless told otherwise (the commands' --memory-budget MB sets it).
uint64_t default_memory_budget();
void set_default_memory_budget(uint64_t bytes);

struct ShardSearchOptions {
    uint64_t budget_bytes = default_memory_budget();  // most bytes of memory rows mapped at once
    bool across_ranks = true;                       // split the shards over the MPI ranks
    bool progress = false;                          // a line per shard on stderr (rank 0)
};

// Where the time went (seconds, this rank): mapping + searching its tiles, exchanging the per-rank
// lists, merging them.
struct ShardSearchStats {
    double search_s = 0, comm_s = 0, merge_s = 0;
    int shards_searched = 0, tiles = 0;
};

// Bytes of memory budget from a --memory-budget MB value (refuses < 1).
uint64_t memory_budget_bytes(long long mb);

// queries [Q, d] fp32 (finite); search_images: search image_emb (else text_emb); exclude: optional
// [Q] GLOBAL row query q must not retrieve (-1 = none), then k ≤ N−1. Results [Q, k], best first.
// Errors: k < 1, k larger than the memory, non-finite query, shard problems (named).
void sharded_topk(const ShardedMemory& mem, bool search_images, const float* queries, int Q, int k, int* out_idx,
                  float* out_score, const int* exclude = nullptr, const ShardSearchOptions& opt = {},
                  ShardSearchStats* stats = nullptr);

// Merge L sorted candidate lists ([L][Q][k_in] each, index -1 = no candidate) into the top k_out of
// their union per query, in topk.h's order. Exposed for the tests.
void merge_topk_lists(int L, const int* const* idx, const float* const* score, int Q, int k_in, int k_out,
                      int* out_idx, float* out_score);

}  // namespace reco
