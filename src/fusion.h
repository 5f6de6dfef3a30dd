// fusion.h — the RECO fusion module φ (SPEC §3): parameters, initialisation, forward, backward.
//
// Per modality p ∈ {image_fusion, text_fusion}: a single pre-LN transformer layer over the query
// and its k retrieved cross-modal embeddings, width d, `heads` heads, MLP 4d, exact GELU,
// LayerNorm eps 1e-5, no positional embedding, no mask:
//   X  = [q; r_1 … r_k]                                  (k+1) × d
//   H  = X + out_proj(MHSA(q_proj, k_proj, v_proj of LN1(X)))     scale (d/heads)^-0.5
//   Y  = H + fc2(GELU(fc1(LN2(H))))
//   q̄  = Y[0] / ||Y[0]||
//
// Parameters live in ONE contiguous float buffer (FusionModel::params) so AdamW runs over one
// array and a device can upload one block; `fusion_param_table` names every tensor with its
// SPEC name, offset and shape (Linear weights [out, in], as PyTorch). Buffer order:
//   image_fusion.* | text_fusion.* | logit_scale [| logit_bias]
// (logit_bias only when dims.logit_bias: models trained with the sigmoid loss, sigmoid_loss.h).
// and inside a module: ln1.{weight,bias}, attn.{q,k,v,out}_proj.{weight,bias}, ln2.{weight,bias},
// mlp.fc1.{weight,bias}, mlp.fc2.{weight,bias}: 12d² + 13d floats (3,152,384 at d = 512).
//
// Two forward/backward implementations, templated on the scalar (float for training, double for
// the finite-difference checks), tested against each other in tests/test_fusion_grad.cpp:
//   fusion_forward_ref / fusion_backward_ref   fusion.cpp        the readable full-sequence layer
//   fusion_forward / fusion_backward           fusion_fast.cpp   the query-row path, O(d²) per item
// Inputs: q [B,d] and nbr [B,k,d] (row b's neighbours r_1..r_k, most similar first). The caches
// keep POINTERS to q and nbr: keep them alive and unchanged until the backward.
// Backward functions ACCUMULATE (+=) into the module gradient block and (when non-null) into the
// input gradients dq [B,d], dnbr [B,k,d].
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace reco {

class SafeTensors;
class SafeTensorsWriter;

struct FusionDims {
    int d = 512;    // CLIP embedding width
    int heads = 8;  // attention heads; d % heads == 0
    bool logit_bias = false;  // a learnable scalar logit_bias after logit_scale (the sigmoid loss)
    int head_dim() const { return d / heads; }
    size_t module_numel() const { return (size_t)12 * d * d + (size_t)13 * d; }
    // two modules + logit_scale (+ logit_bias)
    size_t total_numel() const { return 2 * module_numel() + 1 + (logit_bias ? 1 : 0); }
    void validate() const;  // throws reco::Error on d <= 0, heads <= 0, d % heads != 0
};

enum class Modality { image = 0, text = 1 };
const char* fusion_prefix(Modality m);  // "image_fusion" / "text_fusion"

// Views of one module's block (P = float, const float, double, ...).
template <class P>
struct FusionTensors {
    P *ln1_w, *ln1_b;
    P *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;  // attn.{q,k,v,out}_proj, W [d,d]
    P *ln2_w, *ln2_b;
    P *fc1_w, *fc1_b;  // [4d,d], [4d]
    P *fc2_w, *fc2_b;  // [d,4d], [d]
};
template <class P>
FusionTensors<P> fusion_tensors(P* block, int d) {
    const size_t D = d, DD = D * D;
    FusionTensors<P> t;
    P* p = block;
    t.ln1_w = p; p += D;
    t.ln1_b = p; p += D;
    t.q_w = p; p += DD;
    t.q_b = p; p += D;
    t.k_w = p; p += DD;
    t.k_b = p; p += D;
    t.v_w = p; p += DD;
    t.v_b = p; p += D;
    t.o_w = p; p += DD;
    t.o_b = p; p += D;
    t.ln2_w = p; p += D;
    t.ln2_b = p; p += D;
    t.fc1_w = p; p += 4 * DD;
    t.fc1_b = p; p += 4 * D;
    t.fc2_w = p; p += 4 * DD;
    t.fc2_b = p;
    return t;
}

// One named tensor inside the parameter buffer.
struct ParamEntry {
    std::string name;            // SPEC name, e.g. "image_fusion.attn.q_proj.weight"
    size_t offset = 0, numel = 0;  // in floats from the start of the buffer
    std::vector<int64_t> shape;  // {} for the scalar logit_scale
    bool weight_decay = false;   // AdamW decays 2-D weights only (SPEC §4)
};
// Every tensor of the model in buffer order (see the top of this file).
std::vector<ParamEntry> fusion_param_table(const FusionDims& dims);

struct FusionModel {
    FusionDims dims;
    std::vector<float> params;      // dims.total_numel() floats
    std::vector<ParamEntry> table;  // fusion_param_table(dims)

    // Lay out and initialise (seeded, std::mt19937_64). Our choice, documented in fusion.cpp:
    // PyTorch nn.Linear's default, kaiming_uniform(a=√5) = U(-1/√in, 1/√in) for weights AND
    // biases; LayerNorm weight 1, bias 0; logit_scale as given (CLIP's value, log(1/0.07) for
    // OpenAI CLIP); logit_bias (only when dims.logit_bias) as given.
    void init(const FusionDims& dims, float logit_scale, uint64_t seed, float logit_bias = 0.0f);
    // Read every tensor by name (name_prefix + SPEC name) from a safetensors file; d from
    // image_fusion.ln1.weight, heads as given, dims.logit_bias iff the file has a logit_bias tensor;
    // every shape checked; throws naming file and tensor.
    void load(const SafeTensors& st, int heads, const std::string& name_prefix = "");
    // Add every tensor (F32, SPEC names with name_prefix) to a writer.
    void save(SafeTensorsWriter& w, const std::string& name_prefix = "") const;

    size_t module_offset(Modality m) const { return m == Modality::image ? 0 : dims.module_numel(); }
    size_t logit_scale_offset() const { return 2 * dims.module_numel(); }
    float* module(Modality m) { return params.data() + module_offset(m); }
    const float* module(Modality m) const { return params.data() + module_offset(m); }
    float logit_scale() const { return params[logit_scale_offset()]; }
    size_t logit_bias_offset() const { return logit_scale_offset() + 1; }  // valid when dims.logit_bias
    float logit_bias() const { return dims.logit_bias ? params[logit_bias_offset()] : 0.0f; }
    const ParamEntry& entry(const std::string& name) const;  // throws when absent
};

// ----------------------------------------------------------------- fast query-row path
// Activations of fusion_forward, kept for fusion_backward (shapes with T = k+1, NH = heads).
template <class T>
struct FusionCache {
    int B = 0, k = 0;
    const T* q = nullptr;    // input queries [B,d]      (not owned)
    const T* nbr = nullptr;  // input neighbours [B,k,d] (not owned)
    std::vector<T> xn, mean1, rstd1;  // LN1 of all tokens [B,T,d], stats [B,T]
    std::vector<T> Q;                 // q_proj of token 0 [B,d]
    std::vector<T> U, c;              // folded keys: U[b,h] = s·W_k,hᵀ Q_h [B,NH,d]; c[b,h] = s·Q_h·b_k,h [B,NH]
    std::vector<T> A;                 // attention row of token 0 [B,NH,T]
    std::vector<T> Z;                 // Σ_i A_i LN1(x_i) per head [B,NH,d]
    std::vector<T> O;                 // attention output before out_proj [B,d]
    std::vector<T> H;                 // H[0] [B,d]
    std::vector<T> hn, mean2, rstd2;  // LN2(H[0]) [B,d], stats [B]
    std::vector<T> F1, G;             // fc1 output, GELU of it [B,4d]
    std::vector<T> Y, norm, out;      // Y[0] [B,d], ||Y[0]|| [B], q̄ [B,d]
    // backward scratch
    std::vector<T> dY, dF, dhn, dO, dZ, dU, dQ, dxn;
};

// out = c.out [B,d] after the call.
template <class T>
void fusion_forward(FusionCache<T>& c, const FusionDims& dims, const T* module, const T* q, const T* nbr,
                    int B, int k);
// dout [B,d] = dL/dq̄. Accumulates into dmodule (the module's gradient block) and dq, dnbr (nullable).
template <class T>
void fusion_backward(FusionCache<T>& c, const FusionDims& dims, const T* module, T* dmodule, const T* dout,
                     T* dq, T* dnbr);

// ----------------------------------------------------------------- readable full-sequence path
template <class T>
struct FusionRefCache {
    int B = 0, k = 0;
    std::vector<T> X;                  // [B,T,d]
    std::vector<T> ln1, mean1, rstd1;  // [B,T,d], [B,T]
    std::vector<T> qp, kp, vp;         // projections [B,T,d]
    std::vector<T> P;                  // attention probabilities [B,NH,T,T]
    std::vector<T> att;                // attention output before out_proj [B,T,d]
    std::vector<T> proj;               // out_proj(att) [B,T,d]
    std::vector<T> H;                  // X + proj [B,T,d]
    std::vector<T> ln2, mean2, rstd2;  // [B,T,d], [B,T]
    std::vector<T> F1, G;              // [B,T,4d]
    std::vector<T> F2;                 // fc2 output [B,T,d]
    std::vector<T> Y;                  // H + F2 [B,T,d]
    std::vector<T> Y0, norm, out;      // Y[:,0] [B,d], ||Y0|| [B], q̄ [B,d]
};
template <class T>
void fusion_forward_ref(FusionRefCache<T>& c, const FusionDims& dims, const T* module, const T* q,
                        const T* nbr, int B, int k);
template <class T>
void fusion_backward_ref(FusionRefCache<T>& c, const FusionDims& dims, const T* module, T* dmodule,
                         const T* dout, T* dq, T* dnbr);

// Inference: q̄ for B queries with the fast path, in chunks (bounded memory). out may alias q.
void fusion_refine(const FusionModel& model, Modality m, const float* q, const float* nbr, int B, int k,
                   float* out);

}  // namespace reco
