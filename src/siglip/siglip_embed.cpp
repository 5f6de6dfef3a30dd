// siglip_embed.cpp — the SigLIP family's hooks of the Encoder (siglip_embed.h).
#include "siglip/siglip_embed.h"

#include <cmath>
#include <cstdio>

#include "common.h"
#include "device.h"
#include "json.h"
#if RECO_CUDA && __has_include("siglip_gpu.h")
#include "siglip_gpu.h"
#define RECO_GPU_TOWERS 1
#else
#define RECO_GPU_TOWERS 0
#endif

namespace reco {

ImagePreprocess siglip_preprocess_config(const std::string& dir, int image_size) {
    ImagePreprocess p = siglip_image_preprocess(image_size);
    const std::string path = dir + "/preprocessor_config.json";
    if (!file_exists(path)) return p;
    Json j = parse_json(read_file(path), path);
    if (j.type != Json::Object) fail("%s: not a JSON object", path.c_str());
    for (const char* flag : {"do_resize", "do_rescale", "do_normalize"}) {
        const Json* v = j.find(flag);
        if (v && v->type == Json::Bool && !v->b)
            fail("%s: %s is false; reco always resizes, rescales and normalises as SiglipImageProcessor does by default",
                 path.c_str(), flag);
    }
    if (const Json* v = j.find("resample"))
        if (v->type != Json::Null && !(v->is_int() && v->num == 3))
            fail("%s: resample must be 3 (bicubic, the only resampling reco implements)", path.c_str());
    if (const Json* v = j.find("size")) {
        const Json* h = v->find("height");
        const Json* w = v->find("width");
        if (v->type != Json::Object || !h || !w || !h->is_int() || !w->is_int())
            fail("%s: size must be {\"height\": N, \"width\": N}", path.c_str());
        if (h->num != image_size || w->num != image_size)
            fail("%s: size %gx%g differs from the model's vision_config.image_size %d", path.c_str(), h->num, w->num,
                 image_size);
    }
    if (const Json* v = j.find("rescale_factor")) {
        if (v->type != Json::Number || !(v->num > 0 && std::isfinite(v->num)))
            fail("%s: rescale_factor must be a positive number", path.c_str());
        p.rescale = v->num;
    }
    auto triple = [&](const char* key, double* dst, bool positive) {
        const Json* v = j.find(key);
        if (!v || v->type == Json::Null) return;
        if (v->type == Json::Number) {  // HF accepts one value for all channels
            for (int c = 0; c < 3; c++) dst[c] = v->num;
        } else if (v->type == Json::Array && v->arr.size() == 3) {
            for (int c = 0; c < 3; c++) {
                if (v->arr[c].type != Json::Number) fail("%s: %s must hold 3 numbers", path.c_str(), key);
                dst[c] = v->arr[c].num;
            }
        } else {
            fail("%s: %s must be a number or a list of 3 numbers", path.c_str(), key);
        }
        for (int c = 0; c < 3; c++)
            if (!std::isfinite(dst[c]) || (positive && !(dst[c] > 0)))
                fail("%s: %s must be finite%s", path.c_str(), key, positive ? " and positive" : "");
    };
    triple("image_mean", p.mean, false);
    triple("image_std", p.std, true);
    return p;
}

struct SiglipEncoder::Gpu {
#if RECO_GPU_TOWERS
    explicit Gpu(const SiglipModel& m) : impl(m) {}
    SiglipGpu impl;
#endif
};

SiglipEncoder::SiglipEncoder(const std::string& model_dir, const std::string& device, Precision precision)
    : model_(SiglipModel::load(model_dir)),
      tok_(SiglipTokenizer::from_model_dir(model_dir, model_.cfg.max_positions)) {
    model_.precision = precision;
    if (tok_.vocab_size() > model_.cfg.vocab_size)
        fail("%s: the tokenizer has %d pieces but %s/config.json says text_config.vocab_size = %d", tok_.path().c_str(),
             tok_.vocab_size(), model_dir.c_str(), model_.cfg.vocab_size);
    pre_ = siglip_preprocess_config(model_dir, model_.cfg.image_size);
    if (resolve_device(device) == Device::CUDA) {
#if RECO_GPU_TOWERS
        gpu_.reset(new Gpu(model_));
#endif
    }
}

SiglipEncoder::~SiglipEncoder() = default;

std::vector<int> SiglipEncoder::tokenize(const std::string& text, bool* truncated) const {
    return tok_.tokenize(text, truncated);
}

void SiglipEncoder::encode_images(const float* pixels, int n, float* out) {
#if RECO_GPU_TOWERS
    if (gpu_) return gpu_->impl.encode_images(pixels, n, out);
#endif
    siglip_encode_images(model_, pixels, n, out);
}

void SiglipEncoder::encode_texts(const int* ids, int n, float* out) {
#if RECO_GPU_TOWERS
    if (gpu_) return gpu_->impl.encode_texts(ids, n, out);
#endif
    siglip_encode_texts(model_, ids, n, out);
}

}  // namespace reco
