// fusion.cpp — fusion module parameters (layout, init, load/save) and the readable full-sequence
// reference forward/backward (SPEC §3). The fast query-row path is in fusion_fast.cpp.
//
// The reference is the layer exactly as written in SPEC §3, all k+1 rows through every op, built
// from the differentiable ops of fusion_ops.h; only row 0 of Y is used, so the gradient entering
// the backward is zero on rows 1..k. It is slow (O(k·d²) per item) and exists to be read and to
// test the fast path against.
#include "fusion.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common.h"
#include "fusion_ops.h"
#include "impl.h"
#include "safetensors.h"

namespace reco {

using namespace fusion_ops;

void FusionDims::validate() const {
    if (d <= 0 || heads <= 0 || d % heads != 0)
        fail("fusion: invalid dimensions d=%d heads=%d (need d > 0, heads > 0, d %% heads == 0)", d, heads);
}

const char* fusion_prefix(Modality m) { return m == Modality::image ? "image_fusion" : "text_fusion"; }

std::vector<ParamEntry> fusion_param_table(const FusionDims& dims) {
    dims.validate();
    const int64_t d = dims.d;
    std::vector<ParamEntry> t;
    size_t off = 0;
    auto add = [&](const std::string& name, std::vector<int64_t> shape) {
        ParamEntry e;
        e.name = name;
        e.offset = off;
        e.numel = 1;
        for (int64_t s : shape) e.numel *= (size_t)s;
        e.shape = shape;
        e.weight_decay = shape.size() == 2;
        off += e.numel;
        t.push_back(e);
    };
    for (Modality m : {Modality::image, Modality::text}) {
        const std::string p = fusion_prefix(m);
        add(p + ".ln1.weight", {d});
        add(p + ".ln1.bias", {d});
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
            add(p + ".attn." + proj + ".weight", {d, d});
            add(p + ".attn." + proj + ".bias", {d});
        }
        add(p + ".ln2.weight", {d});
        add(p + ".ln2.bias", {d});
        add(p + ".mlp.fc1.weight", {4 * d, d});
        add(p + ".mlp.fc1.bias", {4 * d});
        add(p + ".mlp.fc2.weight", {d, 4 * d});
        add(p + ".mlp.fc2.bias", {d});
    }
    add("logit_scale", {});
    if (dims.logit_bias) add("logit_bias", {});
    return t;
}

const ParamEntry& FusionModel::entry(const std::string& name) const {
    for (const ParamEntry& e : table)
        if (e.name == name) return e;
    fail("fusion: no parameter named %s", name.c_str());
}

static bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Init (our choice; the paper does not say): PyTorch's nn.Linear default. kaiming_uniform_(a=√5)
// gives bound = gain·√(3/fan_in) with gain = √(2/(1+5)), i.e. 1/√fan_in, and the bias uses the same
// bound 1/√fan_in. LayerNorm: weight 1, bias 0. Uniforms come from the top 53 bits of
// std::mt19937_64 (portable across standard libraries, unlike std::uniform_real_distribution).
void FusionModel::init(const FusionDims& d, float logit_scale_value, uint64_t seed, float logit_bias_value) {
    dims = d;
    table = fusion_param_table(dims);
    params.assign(dims.total_numel(), 0.0f);
    std::mt19937_64 rng(seed);
    for (const ParamEntry& e : table) {
        float* p = params.data() + e.offset;
        if (e.name == "logit_scale") {
            p[0] = logit_scale_value;
        } else if (e.name == "logit_bias") {
            p[0] = logit_bias_value;
        } else if (e.name.find(".ln") != std::string::npos) {
            std::fill(p, p + e.numel, ends_with(e.name, ".weight") ? 1.0f : 0.0f);
        } else {
            const int64_t fan_in = ends_with(e.name, "fc2.weight") || ends_with(e.name, "fc2.bias") ? 4 * dims.d
                                                                                                      : dims.d;
            const double bound = 1.0 / std::sqrt((double)fan_in);
            for (size_t i = 0; i < e.numel; i++) {
                const double u = (double)(rng() >> 11) * 0x1.0p-53;  // [0, 1)
                p[i] = (float)((2.0 * u - 1.0) * bound);
            }
        }
    }
}

void FusionModel::load(const SafeTensors& st, int heads, const std::string& prefix) {
    const std::string first = prefix + "image_fusion.ln1.weight";
    const TensorInfo& info = st.info(first);
    if (info.shape.size() != 1 || info.shape[0] <= 0)
        fail("%s: tensor %s has shape %s, expected [d]", st.path().c_str(), first.c_str(),
             info.shape_str().c_str());
    FusionDims d;
    d.d = (int)info.shape[0];
    d.heads = heads;
    d.logit_bias = st.has(prefix + "logit_bias");  // trained with the sigmoid loss
    if (d.d % heads != 0)
        fail("%s: width d=%d is not divisible by heads=%d", st.path().c_str(), d.d, heads);
    dims = d;
    table = fusion_param_table(dims);
    params.assign(dims.total_numel(), 0.0f);
    for (const ParamEntry& e : table) {
        const std::string name = prefix + e.name;
        std::vector<float> v;
        if (e.shape.empty()) {  // the scalar: accept shape [] or [1]
            v = st.to_f32(name);
            if (v.size() != 1)
                fail("%s: tensor %s has shape %s, expected a scalar", st.path().c_str(), name.c_str(),
                     st.info(name).shape_str().c_str());
        } else {
            v = st.to_f32(name, e.shape);
        }
        std::copy(v.begin(), v.end(), params.begin() + e.offset);
    }
}

void FusionModel::save(SafeTensorsWriter& w, const std::string& prefix) const {
    for (const ParamEntry& e : table) w.add_f32(prefix + e.name, e.shape, params.data() + e.offset);
}

// ---------------------------------------------------------------------------- reference forward
template <class T>
void fusion_forward_ref(FusionRefCache<T>& c, const FusionDims& dims, const T* module, const T* q,
                        const T* nbr, int B, int k) {
    dims.validate();
    if (B < 0 || k < 0) fail("fusion_forward_ref: invalid batch %d or k %d", B, k);
    const int D = dims.d, NH = dims.heads, Tn = k + 1, N = B * Tn;
    const size_t ND = (size_t)N * D;
    auto w = fusion_tensors(module, D);
    c.B = B;
    c.k = k;
    for (auto* v : {&c.X, &c.ln1, &c.qp, &c.kp, &c.vp, &c.att, &c.proj, &c.H, &c.ln2, &c.F2, &c.Y}) v->resize(ND);
    for (auto* v : {&c.mean1, &c.rstd1, &c.mean2, &c.rstd2}) v->resize(N);
    c.P.resize((size_t)B * NH * Tn * Tn);
    c.F1.resize(4 * ND);
    c.G.resize(4 * ND);
    c.Y0.resize((size_t)B * D);
    c.out.resize((size_t)B * D);
    c.norm.resize(B);

    // X = [q; r_1 … r_k]
    for (int b = 0; b < B; b++) {
        std::copy(q + (size_t)b * D, q + (size_t)(b + 1) * D, c.X.begin() + (size_t)b * Tn * D);
        std::copy(nbr + (size_t)b * k * D, nbr + (size_t)(b + 1) * k * D, c.X.begin() + ((size_t)b * Tn + 1) * D);
    }
    // H = X + out_proj(MHSA(LN1(X)))
    layernorm_forward(c.ln1.data(), c.mean1.data(), c.rstd1.data(), c.X.data(), w.ln1_w, w.ln1_b, N, D);
    linear_forward(c.qp.data(), c.ln1.data(), w.q_w, w.q_b, N, D, D);
    linear_forward(c.kp.data(), c.ln1.data(), w.k_w, w.k_b, N, D, D);
    linear_forward(c.vp.data(), c.ln1.data(), w.v_w, w.v_b, N, D, D);
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * Tn * D;
        attention_forward(c.att.data() + o, c.P.data() + (size_t)b * NH * Tn * Tn, c.qp.data() + o,
                          c.kp.data() + o, c.vp.data() + o, Tn, D, NH);
    }
    linear_forward(c.proj.data(), c.att.data(), w.o_w, w.o_b, N, D, D);
    residual_forward(c.H.data(), c.X.data(), c.proj.data(), ND);
    // Y = H + fc2(GELU(fc1(LN2(H))))
    layernorm_forward(c.ln2.data(), c.mean2.data(), c.rstd2.data(), c.H.data(), w.ln2_w, w.ln2_b, N, D);
    linear_forward(c.F1.data(), c.ln2.data(), w.fc1_w, w.fc1_b, N, D, 4 * D);
    gelu_forward(c.G.data(), c.F1.data(), 4 * ND);
    linear_forward(c.F2.data(), c.G.data(), w.fc2_w, w.fc2_b, N, 4 * D, D);
    residual_forward(c.Y.data(), c.H.data(), c.F2.data(), ND);
    // q̄ = Y[0] / ||Y[0]||
    for (int b = 0; b < B; b++)
        std::copy(c.Y.begin() + (size_t)b * Tn * D, c.Y.begin() + ((size_t)b * Tn + 1) * D,
                  c.Y0.begin() + (size_t)b * D);
    l2norm_forward(c.out.data(), c.norm.data(), c.Y0.data(), B, D);
}

// ---------------------------------------------------------------------------- reference backward
// Inverts fusion_forward_ref op by op, last to first.
template <class T>
void fusion_backward_ref(FusionRefCache<T>& c, const FusionDims& dims, const T* module, T* dmodule,
                         const T* dout, T* dq, T* dnbr) {
    const int D = dims.d, NH = dims.heads, B = c.B, k = c.k, Tn = k + 1, N = B * Tn;
    const size_t ND = (size_t)N * D;
    auto w = fusion_tensors(module, D);
    auto g = fusion_tensors(dmodule, D);
    std::vector<T> dY0((size_t)B * D, T(0)), dY(ND, T(0)), dH(ND, T(0)), dF2(ND, T(0)), dG(4 * ND, T(0)),
        dF1(4 * ND, T(0)), dln2(ND, T(0)), dX(ND, T(0)), dproj(ND, T(0)), datt(ND, T(0)), dqp(ND, T(0)),
        dkp(ND, T(0)), dvp(ND, T(0)), dln1(ND, T(0));

    // q̄ = Y0/||Y0||, Y0 = Y[:,0]  (rows 1..k of Y get no gradient)
    l2norm_backward(dY0.data(), dout, c.out.data(), c.norm.data(), B, D);
    for (int b = 0; b < B; b++)
        std::copy(dY0.begin() + (size_t)b * D, dY0.begin() + (size_t)(b + 1) * D, dY.begin() + (size_t)b * Tn * D);
    // Y = H + F2
    residual_backward(dH.data(), dF2.data(), dY.data(), ND);
    // F2 = fc2(G), G = GELU(F1), F1 = fc1(LN2(H))
    linear_backward(dG.data(), g.fc2_w, g.fc2_b, dF2.data(), c.G.data(), w.fc2_w, N, 4 * D, D);
    gelu_backward(dF1.data(), dG.data(), c.F1.data(), 4 * ND);
    linear_backward(dln2.data(), g.fc1_w, g.fc1_b, dF1.data(), c.ln2.data(), w.fc1_w, N, D, 4 * D);
    layernorm_backward(dH.data(), g.ln2_w, g.ln2_b, dln2.data(), c.H.data(), w.ln2_w, c.mean2.data(),
                       c.rstd2.data(), N, D);
    // H = X + proj, proj = out_proj(att)
    residual_backward(dX.data(), dproj.data(), dH.data(), ND);
    linear_backward(datt.data(), g.o_w, g.o_b, dproj.data(), c.att.data(), w.o_w, N, D, D);
    // att = MHSA(qp, kp, vp) per item
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * Tn * D;
        attention_backward(dqp.data() + o, dkp.data() + o, dvp.data() + o, datt.data() + o,
                           c.P.data() + (size_t)b * NH * Tn * Tn, c.qp.data() + o, c.kp.data() + o,
                           c.vp.data() + o, Tn, D, NH);
    }
    // qp, kp, vp = {q,k,v}_proj(LN1(X))
    linear_backward(dln1.data(), g.q_w, g.q_b, dqp.data(), c.ln1.data(), w.q_w, N, D, D);
    linear_backward(dln1.data(), g.k_w, g.k_b, dkp.data(), c.ln1.data(), w.k_w, N, D, D);
    linear_backward(dln1.data(), g.v_w, g.v_b, dvp.data(), c.ln1.data(), w.v_w, N, D, D);
    layernorm_backward(dX.data(), g.ln1_w, g.ln1_b, dln1.data(), c.X.data(), w.ln1_w, c.mean1.data(),
                       c.rstd1.data(), N, D);
    // X = [q; r_1 … r_k]
    for (int b = 0; b < B; b++) {
        const T* x = dX.data() + (size_t)b * Tn * D;
        if (dq)
            for (int i = 0; i < D; i++) dq[(size_t)b * D + i] += x[i];
        if (dnbr)
            for (size_t i = 0; i < (size_t)k * D; i++) dnbr[(size_t)b * k * D + i] += x[D + i];
    }
}

// ---------------------------------------------------------------------------- inference helper
void fusion_refine(const FusionModel& model, Modality m, const float* q, const float* nbr, int B, int k,
                   float* out) {
    const int D = model.dims.d;
    const int chunk = 512;
    FusionCache<float> c;
    FusionRefCache<float> rc;  // --impl reference: the full-sequence layer
    const bool reference = impl() == Impl::reference;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int n = std::min(chunk, B - b0);
        const float *qb = q + (size_t)b0 * D, *nb = nbr + (size_t)b0 * k * D;
        if (reference) fusion_forward_ref(rc, model.dims, model.module(m), qb, nb, n, k);
        else fusion_forward(c, model.dims, model.module(m), qb, nb, n, k);
        const std::vector<float>& y = reference ? rc.out : c.out;
        std::copy(y.begin(), y.begin() + (size_t)n * D, out + (size_t)b0 * D);
    }
}

template void fusion_forward_ref<float>(FusionRefCache<float>&, const FusionDims&, const float*, const float*,
                                        const float*, int, int);
template void fusion_forward_ref<double>(FusionRefCache<double>&, const FusionDims&, const double*,
                                         const double*, const double*, int, int);
template void fusion_backward_ref<float>(FusionRefCache<float>&, const FusionDims&, const float*, float*,
                                         const float*, float*, float*);
template void fusion_backward_ref<double>(FusionRefCache<double>&, const FusionDims&, const double*, double*,
                                          const double*, double*, double*);

}  // namespace reco
