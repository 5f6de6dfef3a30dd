// encoder.cpp — batching, normalisation and checks around any family's towers (encoder.h).
#include "encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "clip_embed.h"
#include "common.h"
#include "ops.h"
#include "siglip/siglip_embed.h"

namespace reco {

std::unique_ptr<Encoder> Encoder::open(const std::string& model_dir, const std::string& device,
                                       const std::string& precision) {
    const Precision p = parse_precision(precision);
    if (detect_family(model_dir) == ModelFamily::siglip)
        return std::unique_ptr<Encoder>(new SiglipEncoder(model_dir, device, p));
    return std::unique_ptr<Encoder>(new ClipEncoder(model_dir, device, p));
}

Encoder::~Encoder() = default;

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

std::vector<float> Encoder::embed_pixels(const float* pixels, int n) {
    const int E = dim();
    std::vector<float> out((size_t)n * E);
    if (n == 0) return out;
    encode_images(pixels, n, out.data());
    check_finite(out, n, E, "image", dir());
    l2_normalize_rows(out.data(), n, E);
    return out;
}

std::vector<float> Encoder::embed_token_ids(const int* ids, int n) {
    const int E = dim();
    std::vector<float> out((size_t)n * E);
    if (n == 0) return out;
    encode_texts(ids, n, out.data());
    check_finite(out, n, E, "text", dir());
    l2_normalize_rows(out.data(), n, E);
    return out;
}

std::vector<float> Encoder::embed_image_files(const std::vector<std::string>& paths, int batch) {
    const int S = image_size(), E = dim();
    const size_t per = (size_t)3 * S * S;
    std::vector<float> out(paths.size() * E);
    for (size_t b0 = 0; b0 < paths.size(); b0 += batch) {
        int nb = (int)std::min<size_t>(batch, paths.size() - b0);
        std::vector<float> pix((size_t)nb * per);
        std::vector<std::string> errors(nb);
        #pragma omp parallel for schedule(dynamic)
        for (int i = 0; i < nb; i++) {
            try {
                auto p = load_and_preprocess(paths[b0 + i], pre_);
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

std::vector<float> Encoder::embed_texts(const std::vector<std::string>& texts, int batch) {
    const int E = dim(), ctx = context_length();
    std::vector<float> out(texts.size() * E);
    for (size_t b0 = 0; b0 < texts.size(); b0 += batch) {
        int nb = (int)std::min<size_t>(batch, texts.size() - b0);
        std::vector<int> ids((size_t)nb * ctx);
        for (int i = 0; i < nb; i++) {
            const std::string& text = texts[b0 + i];
            if (text.find_first_not_of(" \t\r\n") == std::string::npos)
                fail("empty text (\"%s\"): nothing to embed", text.c_str());
            bool truncated = false;
            auto t = tokenize(text, &truncated);
            if (truncated)
                fprintf(stderr, "reco: warning: text longer than %d tokens, truncated (as %s does): \"%.60s...\"\n", ctx,
                        family() == ModelFamily::siglip ? "SigLIP" : "CLIP", text.c_str());
            std::copy(t.begin(), t.end(), ids.begin() + (size_t)i * ctx);
        }
        auto emb = embed_token_ids(ids.data(), nb);
        std::copy(emb.begin(), emb.end(), out.begin() + b0 * E);
    }
    return out;
}

}  // namespace reco
