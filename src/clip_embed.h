// clip_embed.h — the CLIP family behind the family-neutral Encoder (encoder.h): the BPE tokenizer,
// CLIPImageProcessor's preprocessing, and the towers on the chosen device (CPU or the CUDA towers).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "clip_model.h"
#include "encoder.h"
#include "tokenizer.h"

namespace reco {

class ClipEncoder : public Encoder {
public:
    // Loads DIR (model + tokenizer). device: "auto" | "cpu" | "cuda" (see device.h).
    ClipEncoder(const std::string& model_dir, const std::string& device = "auto", Precision precision = Precision::fp32);
    ~ClipEncoder() override;

    const ClipModel& model() const { return model_; }
    const Tokenizer& tokenizer() const { return tok_; }

    ModelFamily family() const override { return ModelFamily::clip; }
    int dim() const override { return model_.cfg.projection_dim; }
    int context_length() const override { return kContext; }
    const std::string& dir() const override { return model_.dir; }
    const std::string& name() const override { return model_.name; }
    float logit_scale() const override { return model_.logit_scale; }
    bool on_gpu() const override { return gpu_ != nullptr; }
    std::vector<int> tokenize(const std::string& text, bool* truncated) const override;

protected:
    void encode_images(const float* pixels, int n, float* out) override;
    void encode_texts(const int* ids, int n, float* out) override;

private:
    ClipModel model_;
    Tokenizer tok_;
    struct Gpu;
    std::unique_ptr<Gpu> gpu_;
};

}  // namespace reco
