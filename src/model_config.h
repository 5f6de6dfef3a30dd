// model_config.h — what every model family's config.json reader shares: the family itself
// (config.json "model_type"), and range-checked field readers whose errors name the file and the field.
#pragma once
#include <string>

#include "ops.h"

namespace reco {

struct Json;

// The model families reco runs (SPEC §2, §8).
enum class ModelFamily { clip, siglip };
const char* family_name(ModelFamily f);  // "clip" | "siglip"

// The family of a parsed config.json: "model_type" "clip" or "siglip". A config without model_type is
// CLIP's (older CLIP exports omit it). Any other value is an error naming the file and the value.
ModelFamily family_from_json(const Json& j, const std::string& path);
// The same from DIR/config.json (an error naming it when it is missing or not JSON).
ModelFamily detect_family(const std::string& model_dir);

namespace cfg {
// Upper bounds on config sizes, for every family. The largest public models (CLIP ViT-bigG/14: width 1664,
// MLP 8192, 48 layers; SigLIP so400m/14-384: width 1152, MLP 4304, 27 layers, 27 patches per side) are far
// inside them; anything beyond is a broken config, refused before a product of sizes is formed.
constexpr int kMaxWidth = 16384;      // hidden_size, projection_dim
constexpr int kMaxMlp = 65536;        // intermediate_size
constexpr int kMaxLayers = 256;       // num_hidden_layers
constexpr int kMaxImage = 4096;       // image_size (pixels per side)
constexpr int kMaxGrid = 128;         // patches per side: ≤ 16385 vision tokens
constexpr int kMaxVocab = 1 << 20;    // vocab_size
constexpr int kMaxPositions = 65536;  // max_position_embeddings

// What a JSON value is, for "got ..." in messages.
std::string describe(const Json& v);
// An integer field in [lo, hi], `def` when absent or null. `section` is "text_config.", "vision_config." or "".
int get_int(const Json& j, const char* section, const char* key, int def, int lo, int hi, const std::string& path);
// layer_norm_eps: finite and in (0, 1] once rounded to float; `def` when absent.
float get_eps(const Json& j, const char* section, const std::string& path, float def);
// hidden_act among the `n` allowed activations; `def` when absent.
Activation get_act(const Json& j, const char* section, const std::string& path, Activation def,
                   const Activation* allowed, int n);
}  // namespace cfg

}  // namespace reco

// ---- loading a model directory's weights (shared by the families) ----
#include <cstdint>
#include <vector>

#include "json.h"
#include "safetensors.h"

namespace reco {

// DIR/config.json and DIR/model.safetensors must exist (a pytorch_model.bin alone is explained).
// Returns the safetensors path.
std::string model_weights_path(const std::string& dir);

// How many encoder layers PREFIX ("vision_model.encoder.layers.") has in the checkpoint (layers 0..n-1
// present, by their first tensor), counting at most max + 1.
int checkpoint_layers(const SafeTensors& st, const std::string& prefix, int max);

// Both families name their encoder layers alike (HF): the checkpoint must hold exactly the number of
// vision and text layers config.json says, checked before any weight is converted, so a wrong config
// fails at once having allocated nothing. Errors name both files.
void check_layer_counts(const SafeTensors& st, const std::string& st_path, const std::string& cfg_path,
                        int vision_layers, int text_layers);

// The model's id: config.json's "_name_or_path" when set (what memories and checkpoints record), else DIR.
std::string model_name(const Json& config, const std::string& dir);

// Index of the first NaN or ±Inf in v, or v.size().
size_t first_non_finite(const std::vector<float>& v);

// The two passes of loading: each(fn) must call fn(name, shape, dst) for every tensor the config implies.
// First every shape is checked against the header (nothing converted, nothing allocated), then each tensor
// is converted to fp32, refused if it holds a non-finite value, and appended to dst (so q, k and v can
// share one vector). Errors name the file and the tensor.
template <class Each>
void load_checked_tensors(const SafeTensors& st, const std::string& st_path, Each&& each) {
    each([&](const std::string& name, const std::vector<int64_t>& shape, std::vector<float>&) {
        st.check_shape(name, shape);
    });
    each([&](const std::string& name, const std::vector<int64_t>& shape, std::vector<float>& dst) {
        std::vector<float> w = st.to_f32(name, shape);
        size_t i = first_non_finite(w);
        if (i < w.size())
            fail("%s: tensor '%s' holds a non-finite value (%g at flat index %zu): the checkpoint is corrupt",
                 st_path.c_str(), name.c_str(), w[i], i);
        if (dst.empty()) dst = std::move(w);
        else dst.insert(dst.end(), w.begin(), w.end());
    });
}

// An optional scalar parameter (logit_scale, logit_bias): *out unchanged when absent; refused when it
// is not a scalar or not finite.
void load_scalar(const SafeTensors& st, const std::string& st_path, const char* name, float* out);

}  // namespace reco
