// encoder.h — the family-neutral encoder every command uses: from files and strings to L2-normalised
// embeddings, in batches, whatever the model family (CLIP: clip_embed.h, SigLIP: siglip/siglip_embed.h).
//
// Written once here: batching, parallel image decoding + preprocessing, the long-text warning, the
// non-finite output check and the normalisation. Each family supplies its tokenizer, its
// preprocessing and its two towers (the protected hooks), and its scores (logit_scale, logit_bias).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "image.h"
#include "model_config.h"

namespace reco {

class Encoder {
public:
    // The family from DIR/config.json, then that family's encoder (model + tokenizer + preprocessing).
    // device: "auto" | "cpu" | "cuda" (device.h).
    // precision: "fp32" (default, the parity path) | "bf16" (CPU tower GEMMs in bf16, fp32 accumulation; ops.h).
    static std::unique_ptr<Encoder> open(const std::string& model_dir, const std::string& device = "auto",
                                         const std::string& precision = "fp32");
    virtual ~Encoder();

    virtual ModelFamily family() const = 0;
    virtual int dim() const = 0;                 // embedding width d
    virtual int context_length() const = 0;      // token ids per text (CLIP 77, SigLIP 64)
    const ImagePreprocess& preprocessing() const { return pre_; }
    int image_size() const { return pre_.size; }
    virtual const std::string& dir() const = 0;
    virtual const std::string& name() const = 0;  // the model id stored in memories ("_name_or_path" or dir)
    virtual float logit_scale() const = 0;       // not exponentiated
    // Zero-shot probabilities: CLIP a softmax over the labels of exp(logit_scale)·cos; SigLIP independent
    // sigmoids σ(exp(logit_scale)·cos + logit_bias).
    virtual bool sigmoid_scores() const { return false; }
    virtual float logit_bias() const { return 0.0f; }
    virtual bool on_gpu() const { return false; }

    // Exactly context_length() ids; *truncated says whether the text was cut.
    virtual std::vector<int> tokenize(const std::string& text, bool* truncated) const = 0;

    // [n, dim] row-major, each row L2-normalised.
    std::vector<float> embed_image_files(const std::vector<std::string>& paths, int batch = 32);
    std::vector<float> embed_pixels(const float* pixels, int n);  // [n,3,S,S] preprocessed
    std::vector<float> embed_texts(const std::vector<std::string>& texts, int batch = 256);
    std::vector<float> embed_token_ids(const int* ids, int n);    // [n, context_length()]

protected:
    // The towers: raw (un-normalised) features [n, dim].
    virtual void encode_images(const float* pixels, int n, float* out) = 0;
    virtual void encode_texts(const int* ids, int n, float* out) = 0;
    ImagePreprocess pre_;
};

}  // namespace reco
