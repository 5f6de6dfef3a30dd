// clip_embed.cpp — the CLIP family's hooks of the Encoder (clip_embed.h): tokenizer, device dispatch.
#include "clip_embed.h"

#include "common.h"
#include "device.h"
#if RECO_CUDA && __has_include("clip_gpu.h")
#include "clip_gpu.h"
#define RECO_GPU_TOWERS 1
#else
#define RECO_GPU_TOWERS 0
#endif

namespace reco {

struct ClipEncoder::Gpu {
#if RECO_GPU_TOWERS
    explicit Gpu(const ClipModel& m) : impl(m) {}
    ClipGpu impl;
#endif
};

ClipEncoder::ClipEncoder(const std::string& model_dir, const std::string& device, Precision precision)
    : model_(ClipModel::load(model_dir)), tok_(Tokenizer::from_model_dir(model_dir)) {
    model_.precision = precision;
    pre_.size = model_.cfg.image_size;  // CLIPImageProcessor: shortest side, centre crop, OpenAI mean/std
    if (resolve_device(device) == Device::CUDA) {
#if RECO_GPU_TOWERS
        gpu_.reset(new Gpu(model_));
#endif
    }
}

ClipEncoder::~ClipEncoder() = default;

std::vector<int> ClipEncoder::tokenize(const std::string& text, bool* truncated) const {
    if (truncated) *truncated = tok_.encode(text, kContext - 1).size() > (size_t)kContext - 2;
    return tok_.tokenize(text);
}

void ClipEncoder::encode_images(const float* pixels, int n, float* out) {
#if RECO_GPU_TOWERS
    if (gpu_) return gpu_->impl.encode_images(pixels, n, out);
#endif
    clip_encode_images(model_, pixels, n, out);
}

void ClipEncoder::encode_texts(const int* ids, int n, float* out) {
#if RECO_GPU_TOWERS
    if (gpu_) return gpu_->impl.encode_texts(ids, n, out);
#endif
    clip_encode_texts(model_, ids, n, out);
}

}  // namespace reco
