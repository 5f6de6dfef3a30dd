// retrieval_mode.h — what is retrieved and what is fused: the paper's ablation switches (§4 and
// Table 5 of the paper, SPEC §1), stored in the fusion checkpoint so that evaluation uses what
// training used.
//
//   search uni   (the paper's)  image query → the memory's IMAGES,  text query → its TEXTS
//          cross                image query → the memory's TEXTS,   text query → its IMAGES
//   fuse   cross (the paper's)  the fused inputs are the OTHER modality of the retrieved pairs
//          uni                  the fused inputs are the SAME modality as the query
//   k      neighbours per query; k = 0 is the no-retrieval control: the same transformer run on the
//          query alone (the extra parameters without retrieval; the paper's "no retrieval" MLP)
//   memory_fraction F, memory_seed S: search only a seeded random subset of the memory,
//          max(1, round(F·N)) rows (memory_subset_rows); F = 1 searches everything.
//
// The two switches are independent and both are relative to the QUERY's modality. For an image query:
//   search uni,   fuse cross: search images, fuse the pairs' texts   (RECO)
//   search uni,   fuse uni:   search images, fuse the pairs' images
//   search cross, fuse cross: search texts,  fuse the pairs' texts (the searched side itself)
//   search cross, fuse uni:   search texts,  fuse the pairs' images
// and symmetrically for a text query.
//
// Checkpoint __metadata__ keys (strings; absent in older checkpoints, which read as the paper's):
//   search "uni"|"cross", fuse "cross"|"uni", k (already there), memory_fraction (%.17g),
//   memory_seed (decimal).
// Evaluation (`reco eval`, `reco classify`) takes the checkpoint's mode; --search or --fuse given
// with another value is refused naming both (check_same_mode). --k and --memory-fraction may differ
// (the paper evaluates a model trained with 1% of the memory on the full memory, §5.4 (d)), except
// that a k = 0 checkpoint only runs with k = 0 and a k > 0 one never with k = 0.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fusion.h"  // Modality
#include "dist/sharded_memory.h"
#include "memory.h"

namespace reco {

class Args;

enum class SearchMode { uni, cross };
enum class FuseMode { cross, uni };

SearchMode parse_search_mode(const std::string& s);  // "uni" | "cross", else an error naming both choices
FuseMode parse_fuse_mode(const std::string& s);      // "cross" | "uni"
const char* search_mode_name(SearchMode m);
const char* fuse_mode_name(FuseMode m);

struct RetrievalMode {
    SearchMode search = SearchMode::uni;
    FuseMode fuse = FuseMode::cross;
    int k = 10;
    double memory_fraction = 1.0;  // in (0, 1]
    uint64_t memory_seed = 0;

    // Does a query of modality m search the memory's image embeddings (else its text embeddings)?
    bool searches_images(Modality m) const { return (m == Modality::image) == (search == SearchMode::uni); }
    // Are the fused inputs of a query of modality m the retrieved pairs' image embeddings?
    bool fuses_images(Modality m) const { return (m == Modality::image) == (fuse == FuseMode::uni); }
    bool operator==(const RetrievalMode& o) const;
    // "search uni, fuse cross, k 10, memory 100%"
    std::string describe() const;
    void validate() const;  // k ≥ 0, 0 < memory_fraction ≤ 1
};

// Metadata keys (see the top of this file).
extern const char* kMetaSearch;          // "search"
extern const char* kMetaFuse;            // "fuse"
extern const char* kMetaMemoryFraction;  // "memory_fraction"
extern const char* kMetaMemorySeed;      // "memory_seed"

// Write search, fuse, memory_fraction, memory_seed (k is written by the checkpoint as before).
void mode_to_metadata(const RetrievalMode& m, std::map<std::string, std::string>& meta);
// Read them (absent → the paper's defaults); k is passed in. Errors name `path` and the key.
RetrievalMode mode_from_metadata(const std::map<std::string, std::string>& meta, int k, const std::string& path);

// The training-side options (`reco train`): --search, --fuse, --k, --memory-fraction, --memory-seed,
// with the paper's defaults. Validated.
RetrievalMode mode_from_args(const Args& a, int default_k = 10);
// The option names, for REGISTER_COMMAND lists.
extern const std::vector<std::string> kRetrievalModeOptions;  // search fuse memory-fraction memory-seed

// Refuse evaluating a checkpoint trained with `trained` under `requested` when search or fuse
// differ, or one has k = 0 and the other not: the error names both, e.g.
//   "CKPT: trained with --search uni --fuse cross; asked for --search cross --fuse cross"
void check_same_mode(const RetrievalMode& trained, const RetrievalMode& requested, const std::string& ckpt_path);
// The mode evaluation uses: the checkpoint's, with --k / --memory-fraction / --memory-seed (when
// given) replacing its values, checked against --search/--fuse when given (check_same_mode).
RetrievalMode eval_mode(const RetrievalMode& trained, const std::string& ckpt_path, const Args& a);

// The seeded subset of an N-row memory: max(1, round(F·N)) distinct rows, ascending (a seeded
// partial Fisher–Yates over std::mt19937_64 seeded through splitmix64). F = 1 → 0..N-1.
std::vector<int> memory_subset_rows(int N, double fraction, uint64_t seed);

// The memory as one mode searches and fuses it. With memory_fraction < 1 the subset's fp16 rows
// are copied once (both sides); indices returned are always GLOBAL memory rows, so ties still go
// to the lower global row and captions/gathers use the file's rows.
class ModeMemory {
public:
    // mem must outlive this object (a one-file memory: wrap it in a ShardedMemory you keep).
    ModeMemory(const ShardedMemory& mem, const RetrievalMode& mode);
    ModeMemory(const EmbeddingFile& mem, const RetrievalMode& mode) = delete;  // would keep a temporary
    const ShardedMemory& file() const { return mem_; }
    const RetrievalMode& mode() const { return mode_; }
    int searchable() const { return n_; }  // rows searched
    // Exact top-k (mode.k) for Q queries of modality m. exclude: optional [Q] global rows (-1 none).
    // idx/score [Q,k]. Errors when k exceeds the searchable rows (minus one with exclude).
    void search(Modality m, const float* queries, int Q, int* idx, float* score, const int* exclude = nullptr) const;
    // The fused input for a query of modality m from memory row `row` (fp32, d floats).
    void fused_row(Modality m, int row, float* out) const;

private:
    const ShardedMemory& mem_;
    RetrievalMode mode_;
    int n_ = 0;
    std::vector<int> rows_;                      // the subset (empty: all rows)
    std::vector<int> local_;                     // global row → subset position or -1 (subset only)
    std::vector<uint16_t> img_sub_, txt_sub_;    // the subset's rows (subset only)
};

}  // namespace reco
