// memory.h — the embedding file: one format for training data and for the retrieval memory (SPEC §5).
//
// A safetensors file holding N image–text pairs embedded by one frozen CLIP model:
//   image_emb        F16 [N, d]   L2-normalised rows (f_img of each pair's image)
//   text_emb         F16 [N, d]   L2-normalised rows (f_txt of each pair's caption), row i ↔ row i
//   captions         U8  [B]      optional: every caption's UTF-8 bytes, concatenated
//   caption_offsets  I64 [N+1]    optional (with captions): caption i = bytes [off[i], off[i+1])
//   __metadata__     format "reco-embeddings-v1", model (CLIP model id or path), d, n
// Opened with mmap (reco::SafeTensors) and validated once on open; the fp16 rows are used in
// place by the top-k search (topk.h), never copied.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "safetensors.h"

namespace reco {

extern const char* kEmbeddingFormat;  // "reco-embeddings-v1"

class EmbeddingFile {
public:
    // mmap + validate: both tensors present, F16, the same [N, d], N ≥ 1, d ≥ 1, no NaN/Inf
    // (the error names the file, tensor and row), caption offsets monotone and inside the blob,
    // metadata (format, n, d) consistent when present. Throws reco::Error.
    explicit EmbeddingFile(const std::string& path);

    const std::string& path() const { return st_->path(); }
    int n() const { return n_; }
    int d() const { return d_; }
    const uint16_t* image_emb_f16() const { return image_; }  // [n, d] fp16 bits
    const uint16_t* text_emb_f16() const { return text_; }    // [n, d] fp16 bits
    void image_row(int i, float* out) const;                  // row i as fp32 (exact)
    void text_row(int i, float* out) const;
    bool has_captions() const { return has_captions_; }
    std::string caption(int i) const;                         // "" when the file has no captions
    std::string model() const { return st_->meta("model"); }  // "" when unknown
    std::string family() const { return st_->meta("family"); }  // "clip" | "siglip"; "" when unknown
    const SafeTensors& tensors() const { return *st_; }

private:
    std::unique_ptr<SafeTensors> st_;
    int n_ = 0, d_ = 0;
    const uint16_t* image_ = nullptr;
    const uint16_t* text_ = nullptr;
    std::vector<uint16_t> image_copy_, text_copy_;  // only if the mapped data were misaligned
    bool has_captions_ = false;
    const uint8_t* blob_ = nullptr;
    std::vector<int64_t> offsets_;
};

// Where the rows of a writer come from: get(i, out) fills out[0..d) with row i (fp32, any norm);
// `what` names the source in errors ("A.npy", "image embeddings").
struct RowSource {
    std::string what;
    std::function<void(int64_t i, float* out)> get;
};

// Write an embedding file atomically. Every row is L2-normalised (norm in double, then rounded
// to fp32, then to fp16 with round-to-nearest-even). Errors (no file written): n < 1, d < 1,
// a NaN/Inf value or an all-zero row (named by source and row), captions not empty and not n.
void write_embedding_file(const std::string& path, int n, int d, const RowSource& image, const RowSource& text,
                          const std::vector<std::string>& captions, const std::string& model,
                          const std::map<std::string, std::string>& extra_metadata = {});
// The same from fp32 arrays image_emb [n, d] and text_emb [n, d].
void write_embedding_file(const std::string& path, const float* image_emb, const float* text_emb, int n, int d,
                          const std::vector<std::string>& captions, const std::string& model,
                          const std::map<std::string, std::string>& extra_metadata = {});

// Two embedding spaces can be used together only if they come from the same CLIP model: the
// same d and, when both name their model, the same model (compared by the last path component,
// so "openai/clip-vit-base-patch32" matches "weights/clip-vit-base-patch32"). Throws an error
// naming both sides otherwise. `what_*` names each side ("memory FILE", "checkpoint FILE").
void check_compatible(const std::string& what_a, int d_a, const std::string& model_a,
                      const std::string& what_b, int d_b, const std::string& model_b);
void check_compatible(const EmbeddingFile& a, const EmbeddingFile& b);
// The same for the model families ("clip", "siglip"; "" = unknown, not checked): CLIP and SigLIP
// embeddings live in unrelated spaces even when d agrees.
void check_family(const std::string& what_a, const std::string& family_a, const std::string& what_b,
                  const std::string& family_b);

}  // namespace reco
