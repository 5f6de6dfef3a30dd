// neighbour_cache.h — every training item's k memory neighbours, computed once (SPEC §4).
//
// The backbone and the memory are frozen, so retrieval gives the same answer in every epoch: for
// each item i of the training data the exact top-k (topk.h) is run once, uni-modally (SPEC §1):
//   img[i] = knn(V[i], V^M)   image → image; the fusion input of image i is T^M[img[i]]
//   txt[i] = knn(T[i], T^M)   text → text;   the fusion input of text i  is V^M[txt[i]]
// The memory may be a directory of shards (dist/sharded_memory.h); under mpirun the search is split
// over the ranks and every rank gets the whole index (dist/sharded_search.h).
// When the data file IS the memory file (same realpath), item i never retrieves its own pair:
// exclude[i] = i, so k ≤ N−1.
//
// The indices are cached beside the data as DATA.knn-<k>-<hash>.safetensors (hash: 8 hex digits of
// FNV-1a over the memory's realpath), tensors I32 img_idx/txt_idx [N,k], metadata naming both
// files with their realpaths, sizes, inodes and modification times, k and whether the pair was excluded.
// A cache is reused only when all of these match (and the indices are in range); otherwise it is
// recomputed and rewritten atomically. A data folder that is not writable only costs the cache.
// Ablation modes (retrieval_mode.h): the search side and the memory subset change which rows are
// found, so they are in the key and, when not the paper's default, in the hash of the file name;
// img[i]/txt[i] then hold the neighbours of image/text i on the SEARCHED side (global memory rows),
// and the trainer fuses the side the mode names. k = 0 (no retrieval): an empty index, no cache.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "dist/sharded_memory.h"
#include "memory.h"
#include "retrieval_mode.h"

namespace reco {

struct NeighbourIndex {
    int n = 0, k = 0;
    std::vector<int32_t> img;  // [n,k] memory rows nearest to data image i (image → image), best first
    std::vector<int32_t> txt;  // [n,k] memory rows nearest to data text i (text → text), best first
    bool self_excluded = false;
    bool from_cache = false;   // loaded from an existing cache file
    std::string cache_path;    // where it is (or would be) cached
};

// realpath(a) == realpath(b) (both must exist).
bool same_file(const std::string& a, const std::string& b);

// DATA.knn-<k>-<hash>.safetensors (the mode enters the hash when it is not the paper's default)
std::string neighbour_cache_path(const std::string& data_path, const std::string& memory_path, int k);
std::string neighbour_cache_path(const std::string& data_path, const std::string& memory_path,
                                 const RetrievalMode& mode);

// The exact search, no cache. Errors: k < 1, k > memory size (k > N−1 with exclude_self),
// exclude_self with data and memory of different sizes.
NeighbourIndex compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem, int k, bool exclude_self,
                                  bool show_progress = false);
NeighbourIndex compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem, const RetrievalMode& mode,
                                  bool exclude_self, bool show_progress = false);

// Reuse the cache when it matches, else compute and write it. exclude_self = same_file(data, memory).
// Notes what it did on `log` (nullable). Collective under mpirun: every rank calls it; rank 0 reads and
// writes the cache and broadcasts a cached index, else the search is split over the ranks.
NeighbourIndex load_or_compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem, int k,
                                          FILE* log = stderr);
NeighbourIndex load_or_compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem,
                                          const RetrievalMode& mode, FILE* log = stderr);

}  // namespace reco
