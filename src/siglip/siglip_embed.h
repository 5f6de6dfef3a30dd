// siglip_embed.h — the SigLIP family behind the family-neutral Encoder (encoder.h): SiglipTokenizer
// (spiece.model, padded to max_position_embeddings = 64), SiglipImageProcessor (square bicubic resize,
// no crop, mean = std = 0.5 unless preprocessor_config.json says otherwise), the CPU towers
// (siglip_model.h) or, on a CUDA device, the GPU towers (kernels/siglip_gpu.h), and sigmoid scores.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "encoder.h"
#include "siglip/siglip_model.h"
#include "siglip/siglip_tokenizer.h"

namespace reco {

// SiglipImageProcessor's settings from DIR/preprocessor_config.json (defaults when the file is absent).
// The size must be the model's square image_size; resample must be bicubic (3); do_resize, do_rescale
// and do_normalize must not be false. Errors name the file and the field.
ImagePreprocess siglip_preprocess_config(const std::string& dir, int image_size);

class SiglipEncoder : public Encoder {
public:
    // Loads DIR (model + tokenizer). device: "auto" | "cpu" | "cuda" (see device.h).
    SiglipEncoder(const std::string& model_dir, const std::string& device = "auto",
                  Precision precision = Precision::fp32);
    ~SiglipEncoder() override;

    const SiglipModel& model() const { return model_; }
    const SiglipTokenizer& tokenizer() const { return tok_; }

    ModelFamily family() const override { return ModelFamily::siglip; }
    int dim() const override { return model_.cfg.embed_dim; }
    int context_length() const override { return model_.cfg.max_positions; }
    const std::string& dir() const override { return model_.dir; }
    const std::string& name() const override { return model_.name; }
    float logit_scale() const override { return model_.logit_scale; }
    bool sigmoid_scores() const override { return true; }
    float logit_bias() const override { return model_.logit_bias; }
    bool on_gpu() const override { return gpu_ != nullptr; }
    std::vector<int> tokenize(const std::string& text, bool* truncated) const override;

protected:
    void encode_images(const float* pixels, int n, float* out) override;
    void encode_texts(const int* ids, int n, float* out) override;

private:
    SiglipModel model_;
    SiglipTokenizer tok_;
    struct Gpu;
    std::unique_ptr<Gpu> gpu_;
};

}  // namespace reco
