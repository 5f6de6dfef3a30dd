// sharded_memory.h — one logical memory stored as one file or as a directory of files (SPEC §9).
//
// `--memory PATH` names either a memory file (memory.h) or a directory of them. A directory is one
// memory whose global row order is its files in lexical (byte) order of their names, rows in file
// order: shard s holds global rows [offset_s, offset_s + n_s). Memory files are the directory's
// regular `*.safetensors` files, except neighbour caches (`*.knn-*.safetensors`, neighbour_cache.h)
// and hidden files. Subdirectories are ignored.
//
// Opening reads only each shard's header (a few KB; nothing is mapped): every shard must be a
// memory file with N ≥ 1 pairs, and all shards must agree in d, model and family; the error names
// the offending file. The rows themselves are used in two ways:
//   - searched (sharded_search.h): a shard's image_emb or text_emb is mapped in row tiles of at most
//     the memory budget, searched, and unmapped again, so the resident size is bounded by the
//     budget, not by the memory;
//   - read row by row (image_row/text_row/caption, e.g. the fusion inputs of retrieved neighbours):
//     the owning shard is opened (EmbeddingFile, mapped and validated) on first use and stays open.
// A shard that disappeared or was truncated since it was listed is an error naming it.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "memory.h"

namespace reco {

// What a shard's header says (no data read).
struct ShardInfo {
    std::string path;
    int64_t offset = 0;      // global index of the shard's first row
    int n = 0, d = 0;
    std::string model, family;
    bool has_captions = false;
    uint64_t file_size = 0;  // bytes, when listed
    uint64_t image_pos = 0;  // file offset of image_emb's first byte
    uint64_t text_pos = 0;   // file offset of text_emb's first byte
};

// Read and check one memory file's header: F16 image_emb/text_emb of the same [N, d], N ≥ 1, data
// inside the file, format/n/d metadata consistent. Errors name the file.
ShardInfo read_shard_header(const std::string& path);

// The memory files of a directory, sorted (lexical byte order). Error when there are none.
std::vector<std::string> list_memory_files(const std::string& dir);

class ShardedMemory {
public:
    // A memory file or a directory of memory files (see above). Throws reco::Error.
    explicit ShardedMemory(const std::string& path);
    // An open memory file as a one-shard memory (not copied: `file` must outlive this). Implicit, so
    // code holding an EmbeddingFile can pass it wherever a memory is expected.
    ShardedMemory(const EmbeddingFile& file);
    ~ShardedMemory();

    const std::string& path() const { return path_; }
    bool is_directory() const { return is_dir_; }
    int n() const { return (int)n_; }
    int d() const { return d_; }
    const std::string& model() const { return model_; }    // "" when unknown
    const std::string& family() const { return family_; }  // "" when unknown
    bool has_captions() const { return has_captions_; }    // every shard has captions
    uint64_t bytes() const;                                // sum of the shards' file sizes
    const std::vector<ShardInfo>& shards() const { return shards_; }
    int shard_of(int64_t row) const;                       // the shard holding global row `row`

    // Global row i as fp32 (exact), caption i ("" when its shard has none). Thread-safe; the owning
    // shard is opened on first use and kept open.
    void image_row(int64_t i, float* out) const;
    void text_row(int64_t i, float* out) const;
    std::string caption(int64_t i) const;
    // Open every shard now (before rows are read from parallel threads, where an error could not be
    // reported cleanly).
    void open_all() const;
    // Shard s opened whole (mapped, validated); kept open. Thread-safe.
    const EmbeddingFile& shard_file(int s) const;
    // Shard s if it is already open (then searches use its mapping), else null.
    const EmbeddingFile* open_shard(int s) const { return open_[s]; }

private:
    std::string path_, model_, family_;
    bool is_dir_ = false, has_captions_ = true;
    int64_t n_ = 0;
    int d_ = 0;
    std::vector<ShardInfo> shards_;
    mutable std::vector<const EmbeddingFile*> open_;
    mutable std::vector<std::unique_ptr<EmbeddingFile>> owned_;
    mutable std::vector<std::unique_ptr<std::once_flag>> once_;
};

}  // namespace reco
