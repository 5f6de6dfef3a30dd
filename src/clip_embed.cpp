// clip_embed.cpp — batching, device dispatch and normalisation around the two towers.
#include "clip_embed.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "device.h"
#include "image.h"
#include "ops.h"
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

ClipEncoder::ClipEncoder(const std::string& model_dir, const std::string& device)
    : model_(ClipModel::load(model_dir)), tok_(Tokenizer::from_model_dir(model_dir)) {
    if (resolve_device(device) == Device::CUDA) {
#if RECO_GPU_TOWERS
        gpu_.reset(new Gpu(model_));
#endif
    }
}

ClipEncoder::~ClipEncoder() = default;

// The towers' raw output must be finite before it is normalised and used: NaN compares false with
// everything, so a NaN embedding would be printed, stored, or ranked (top-k, classify) as if valid.
// Finite weights and config values can still overflow to Inf inside the network; this is the one
// place every command's embeddings pass through, on either device.
static void check_finite(const std::vector<float>& out, int n, int E, const char* tower, const std::string& dir) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < E; k++)
            if (!std::isfinite(out[(size_t)i * E + k]))
                fail("%s: the %s tower produced a non-finite embedding (NaN or Inf) for input %d of the batch; "
                     "the model's weights overflow (is the checkpoint corrupt?)",
                     dir.c_str(), tower, i + 1);
}

std::vector<float> ClipEncoder::embed_pixels(const float* pixels, int n) {
    const int E = dim();
    std::vector<float> out((size_t)n * E);
    if (n == 0) return out;
#if RECO_GPU_TOWERS
    if (gpu_) gpu_->impl.encode_images(pixels, n, out.data());
    else
#endif
        clip_encode_images(model_, pixels, n, out.data());
    check_finite(out, n, E, "image", model_.dir);
    l2_normalize_rows(out.data(), n, E);
    return out;
}

std::vector<float> ClipEncoder::embed_token_ids(const int* ids, int n) {
    const int E = dim();
    std::vector<float> out((size_t)n * E);
    if (n == 0) return out;
#if RECO_GPU_TOWERS
    if (gpu_) gpu_->impl.encode_texts(ids, n, out.data());
    else
#endif
        clip_encode_texts(model_, ids, n, out.data());
    check_finite(out, n, E, "text", model_.dir);
    l2_normalize_rows(out.data(), n, E);
    return out;
}

std::vector<float> ClipEncoder::embed_image_files(const std::vector<std::string>& paths, int batch) {
    const int S = model_.cfg.image_size, E = dim();
    const size_t per = (size_t)3 * S * S;
    std::vector<float> out(paths.size() * E);
    for (size_t b0 = 0; b0 < paths.size(); b0 += batch) {
        int nb = (int)std::min<size_t>(batch, paths.size() - b0);
        std::vector<float> pix((size_t)nb * per);
        std::vector<std::string> errors(nb);
        #pragma omp parallel for schedule(dynamic)
        for (int i = 0; i < nb; i++) {
            try {
                auto p = load_and_preprocess(paths[b0 + i], S);
                std::copy(p.begin(), p.end(), pix.begin() + i * per);
            } catch (const Error& e) {
                errors[i] = e.what();
            }
        }
        for (auto& e : errors)
            if (!e.empty()) fail("%s", e.c_str());
        auto emb = embed_pixels(pix.data(), nb);
        std::copy(emb.begin(), emb.end(), out.begin() + b0 * E);
    }
    return out;
}

std::vector<float> ClipEncoder::embed_texts(const std::vector<std::string>& texts, int batch) {
    const int E = dim();
    std::vector<float> out(texts.size() * E);
    for (size_t b0 = 0; b0 < texts.size(); b0 += batch) {
        int nb = (int)std::min<size_t>(batch, texts.size() - b0);
        std::vector<int> ids((size_t)nb * kContext);
        for (int i = 0; i < nb; i++) {
            const std::string& text = texts[b0 + i];
            if (text.find_first_not_of(" \t\r\n") == std::string::npos)
                fail("empty text (\"%s\"): nothing to embed", text.c_str());
            if (tok_.encode(text).size() > (size_t)kContext - 2)
                fprintf(stderr, "reco: warning: text longer than 77 tokens, truncated (as CLIP does): \"%.60s...\"\n",
                        text.c_str());
            auto t = tok_.tokenize(text);
            std::copy(t.begin(), t.end(), ids.begin() + (size_t)i * kContext);
        }
        auto emb = embed_token_ids(ids.data(), nb);
        std::copy(emb.begin(), emb.end(), out.begin() + b0 * E);
    }
    return out;
}

}  // namespace reco
