// clip_embed.h — from files and strings to L2-normalised CLIP embeddings, in batches.
// The glue every command uses (embed, classify, search, memory build): preprocessing,
// tokenisation, the tower forward pass on the chosen device, normalisation.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "clip_model.h"
#include "tokenizer.h"

namespace reco {

class ClipEncoder {
public:
    // Loads DIR (model + tokenizer). device: "auto" | "cpu" | "cuda" (see device.h).
    ClipEncoder(const std::string& model_dir, const std::string& device = "auto");
    ~ClipEncoder();

    const ClipModel& model() const { return model_; }
    const Tokenizer& tokenizer() const { return tok_; }
    int dim() const { return model_.cfg.projection_dim; }
    bool on_gpu() const { return gpu_ != nullptr; }

    // [n, dim] row-major, each row L2-normalised. Images are decoded and preprocessed here.
    std::vector<float> embed_image_files(const std::vector<std::string>& paths, int batch = 32);
    std::vector<float> embed_pixels(const float* pixels, int n);           // [n,3,S,S] preprocessed
    std::vector<float> embed_texts(const std::vector<std::string>& texts, int batch = 256);
    std::vector<float> embed_token_ids(const int* ids, int n);            // [n,77]

private:
    ClipModel model_;
    Tokenizer tok_;
    struct Gpu;
    std::unique_ptr<Gpu> gpu_;
};

}  // namespace reco
