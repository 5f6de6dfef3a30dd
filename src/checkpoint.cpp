// checkpoint.cpp — write and read the fusion checkpoint (see checkpoint.h).
#include "checkpoint.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "common.h"
#include "safetensors.h"

namespace reco {

const char* kFusionFormat = "reco-fusion-v1";

static const char* kExpAvg = "optim.exp_avg.";
static const char* kExpAvgSq = "optim.exp_avg_sq.";

LrSchedule TrainSettings::lr_schedule() const {
    LrSchedule s;
    if (schedule == "cosine") s.kind = LrSchedule::Kind::cosine;
    else if (schedule == "constant") s.kind = LrSchedule::Kind::constant;
    else fail("unknown learning-rate schedule '%s' (cosine or constant)", schedule.c_str());
    s.base_lr = lr;
    s.warmup_steps = warmup;
    s.total_steps = total_steps;
    return s;
}

LossKind TrainSettings::loss_kind() const { return parse_loss(loss); }

RetrievalMode TrainSettings::mode() const {
    RetrievalMode m;
    m.k = k;
    m.search = search;
    m.fuse = fuse;
    m.memory_fraction = memory_fraction;
    m.memory_seed = memory_seed;
    return m;
}

void TrainSettings::set_mode(const RetrievalMode& m) {
    k = m.k;
    search = m.search;
    fuse = m.fuse;
    memory_fraction = m.memory_fraction;
    memory_seed = m.memory_seed;
}

static std::string real(double x) { return strformat("%.17g", x); }

void save_checkpoint(const std::string& path, const FusionModel& model, const AdamW* opt,
                     const TrainSettings& s, int64_t step) {
    SafeTensorsWriter w;
    model.save(w);
    if (opt) {
        if (opt->m.size() != model.params.size() || opt->v.size() != model.params.size())
            fail("%s: optimiser state has %zu values, the model %zu", path.c_str(), opt->m.size(),
                 model.params.size());
        for (const ParamEntry& e : model.table) {
            w.add_f32(kExpAvg + e.name, e.shape, opt->m.data() + e.offset);
            w.add_f32(kExpAvgSq + e.name, e.shape, opt->v.data() + e.offset);
        }
    }
    const int64_t steps_per_epoch = s.batch > 0 ? s.data_n / s.batch : 0;
    w.set_metadata("format", kFusionFormat);
    w.set_metadata("d", std::to_string(model.dims.d));
    w.set_metadata("heads", std::to_string(model.dims.heads));
    w.set_metadata("k", std::to_string(s.k));
    w.set_metadata("step", std::to_string(step));
    w.set_metadata("epoch", std::to_string(steps_per_epoch > 0 ? step / steps_per_epoch : 0));
    w.set_metadata("epoch_step", std::to_string(steps_per_epoch > 0 ? step % steps_per_epoch : 0));
    w.set_metadata("model", s.model);
    w.set_metadata("data", s.data);
    w.set_metadata("memory", s.memory);
    w.set_metadata("data_n", std::to_string(s.data_n));
    w.set_metadata("batch", std::to_string(s.batch));
    w.set_metadata("total_steps", std::to_string(s.total_steps));
    w.set_metadata("lr", real(s.lr));
    w.set_metadata("weight_decay", real(s.weight_decay));
    w.set_metadata("warmup", std::to_string(s.warmup));
    w.set_metadata("schedule", s.schedule);
    if ((s.loss_kind() == LossKind::sigmoid) != model.dims.logit_bias)
        fail("%s: the run's loss is %s but the model %s a logit_bias", path.c_str(), s.loss.c_str(),
             model.dims.logit_bias ? "has" : "lacks");
    w.set_metadata("loss", s.loss);
    w.set_metadata("shuffle", s.shuffle ? "1" : "0");
    w.set_metadata("seed", std::to_string(s.seed));
    w.set_metadata("optimizer", opt ? "adamw" : "none");
    std::map<std::string, std::string> mode_meta;
    mode_to_metadata(s.mode(), mode_meta);
    for (auto& kv : mode_meta) w.set_metadata(kv.first, kv.second);
    if (opt) {
        w.set_metadata("optim_step", std::to_string(opt->t));
        w.set_metadata("adam_beta1", real(opt->cfg.beta1));
        w.set_metadata("adam_beta2", real(opt->cfg.beta2));
        w.set_metadata("adam_eps", real(opt->cfg.eps));
    }
    w.write(path);
}

// ------------------------------------------------------------------------------------ reading
namespace {

struct Meta {
    const SafeTensors& st;
    bool has(const std::string& key) const { return st.metadata().count(key) > 0; }
    std::string str(const std::string& key, const std::string& def) const { return st.meta(key, def); }
    int64_t i64(const std::string& key, int64_t def) const {
        if (!has(key)) return def;
        const std::string v = st.meta(key);
        errno = 0;
        char* end = nullptr;
        long long x = strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end || errno)
            fail("%s: metadata %s = '%s' is not an integer", st.path().c_str(), key.c_str(), v.c_str());
        return x;
    }
    uint64_t u64(const std::string& key, uint64_t def) const {
        if (!has(key)) return def;
        const std::string v = st.meta(key);
        errno = 0;
        char* end = nullptr;
        unsigned long long x = strtoull(v.c_str(), &end, 10);
        if (v.empty() || v[0] == '-' || *end || errno)
            fail("%s: metadata %s = '%s' is not an unsigned integer", st.path().c_str(), key.c_str(), v.c_str());
        return x;
    }
    double real(const std::string& key, double def) const {
        if (!has(key)) return def;
        const std::string v = st.meta(key);
        char* end = nullptr;
        double x = strtod(v.c_str(), &end);
        if (v.empty() || *end || !std::isfinite(x))
            fail("%s: metadata %s = '%s' is not a number", st.path().c_str(), key.c_str(), v.c_str());
        return x;
    }
};

void check_finite(const SafeTensors& st, const std::string& name, const float* p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!std::isfinite(p[i]))
            fail("%s: tensor %s holds a non-finite value (%g at element %zu)", st.path().c_str(), name.c_str(),
                 (double)p[i], i);
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string t = "[";
    for (size_t i = 0; i < shape.size(); i++) t += (i ? ", " : "") + std::to_string(shape[i]);
    return t + "]";
}

// Every parameter tensor present with its shape, checked before the model is allocated: the width d
// is read from one tensor, and a forged one ([60000] in a file of a few bytes) must be an error, not
// an allocation of 12·d² floats.
void check_param_shapes(const SafeTensors& st, int heads) {
    const std::string first = "image_fusion.ln1.weight";
    const TensorInfo& info = st.info(first);
    if (info.shape.size() != 1 || info.shape[0] < 1 || info.shape[0] > 65536)
        fail("%s: tensor %s has shape %s, expected [d] with 1 <= d <= 65536", st.path().c_str(), first.c_str(),
             info.shape_str().c_str());
    FusionDims dims;
    dims.d = (int)info.shape[0];
    dims.heads = heads;
    dims.logit_bias = st.has("logit_bias");
    if (dims.d % heads != 0)
        fail("%s: width d=%d is not divisible by heads=%d (metadata heads)", st.path().c_str(), dims.d, heads);
    for (const ParamEntry& e : fusion_param_table(dims)) {
        if (!st.has(e.name)) fail("%s: not a complete fusion checkpoint: missing tensor %s", st.path().c_str(), e.name.c_str());
        const std::vector<int64_t>& got = st.info(e.name).shape;
        const bool scalar_ok = e.shape.empty() && (got.empty() || got == std::vector<int64_t>{1});
        if (!scalar_ok && got != e.shape)
            fail("%s: tensor %s has shape %s, expected %s (d=%d)", st.path().c_str(), e.name.c_str(),
                 st.info(e.name).shape_str().c_str(), e.shape.empty() ? "a scalar" : shape_text(e.shape).c_str(),
                 dims.d);
    }
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
    SafeTensors st(path);
    Meta meta{st};
    const std::string format = meta.str("format", "");
    if (!format.empty() && format != kFusionFormat)
        fail("%s: not a fusion checkpoint (metadata format '%s', expected '%s')", path.c_str(), format.c_str(),
             kFusionFormat);
    if (!st.has("image_fusion.ln1.weight"))
        fail("%s: not a fusion checkpoint: missing tensor image_fusion.ln1.weight", path.c_str());

    Checkpoint ck;
    ck.path = path;
    ck.metadata = st.metadata();
    const int64_t heads = meta.i64("heads", 8);
    if (heads < 1 || heads > 1 << 20) fail("%s: metadata heads = %lld is invalid", path.c_str(), (long long)heads);
    check_param_shapes(st, (int)heads);
    ck.model.load(st, (int)heads);
    const int d = ck.model.dims.d;
    if (meta.has("d") && meta.i64("d", d) != d)
        fail("%s: metadata d = %s but tensor image_fusion.ln1.weight has width %d", path.c_str(),
             meta.str("d", "").c_str(), d);
    for (const ParamEntry& e : ck.model.table)
        check_finite(st, e.name, ck.model.params.data() + e.offset, e.numel);

    // optimiser moments: all or none
    size_t n_optim = 0;
    for (const TensorInfo& t : st.tensors()) {
        const bool is_optim = t.name.rfind("optim.", 0) == 0;
        if (is_optim) n_optim++;
        bool known = false;
        for (const ParamEntry& e : ck.model.table)
            if (t.name == e.name || t.name == kExpAvg + e.name || t.name == kExpAvgSq + e.name) known = true;
        if (!known) fail("%s: unexpected tensor %s (not a fusion parameter or AdamW moment)", path.c_str(), t.name.c_str());
    }
    ck.has_optimizer = n_optim > 0;
    if (ck.has_optimizer) {
        AdamWConfig cfg;
        cfg.beta1 = meta.real("adam_beta1", cfg.beta1);
        cfg.beta2 = meta.real("adam_beta2", cfg.beta2);
        cfg.eps = meta.real("adam_eps", cfg.eps);
        cfg.weight_decay = meta.real("weight_decay", cfg.weight_decay);
        ck.opt = AdamW(ck.model.table, ck.model.params.size(), cfg);
        for (const ParamEntry& e : ck.model.table) {
            for (int which = 0; which < 2; which++) {
                const std::string name = (which == 0 ? kExpAvg : kExpAvgSq) + e.name;
                if (!st.has(name))
                    fail("%s: missing tensor %s (the checkpoint has some AdamW moments but not all)", path.c_str(),
                         name.c_str());
                std::vector<float> v = st.to_f32(name, e.shape.empty() ? std::vector<int64_t>{} : e.shape);
                if (v.size() != e.numel)
                    fail("%s: tensor %s has shape %s, expected %s", path.c_str(), name.c_str(),
                         st.info(name).shape_str().c_str(), e.shape.empty() ? "a scalar" : "the parameter's shape");
                check_finite(st, name, v.data(), v.size());
                if (which == 1)
                    for (size_t i = 0; i < v.size(); i++)
                        if (v[i] < 0) fail("%s: tensor %s holds a negative second moment", path.c_str(), name.c_str());
                std::copy(v.begin(), v.end(), (which == 0 ? ck.opt.m : ck.opt.v).begin() + e.offset);
            }
        }
        ck.opt.t = meta.i64("optim_step", meta.i64("step", 0));
        if (ck.opt.t < 0) fail("%s: metadata optim_step is negative", path.c_str());
    }

    TrainSettings& s = ck.settings;
    s.heads = (int)heads;
    // int fields read as int64 and range-checked before narrowing (k = 2^32+1 must not become 1)
    const int64_t k = meta.i64("k", s.k), batch = meta.i64("batch", s.batch);
    if (k < 0 || k > INT_MAX) fail("%s: metadata k = %lld is invalid", path.c_str(), (long long)k);
    if (batch < 1 || batch > INT_MAX) fail("%s: metadata batch = %lld is invalid", path.c_str(), (long long)batch);
    s.k = (int)k;
    s.batch = (int)batch;
    s.set_mode(mode_from_metadata(ck.metadata, s.k, path));
    s.total_steps = meta.i64("total_steps", 0);
    s.lr = meta.real("lr", s.lr);
    s.weight_decay = meta.real("weight_decay", s.weight_decay);
    s.warmup = meta.i64("warmup", 0);
    s.schedule = meta.str("schedule", s.schedule);
    s.loss = meta.str("loss", "nce");  // older checkpoints: the paper's loss
    try {
        (void)s.loss_kind();
    } catch (const Error& e) {
        fail("%s: metadata loss: %s", path.c_str(), e.what());
    }
    if ((s.loss_kind() == LossKind::sigmoid) != ck.model.dims.logit_bias)
        fail("%s: metadata loss = %s but the checkpoint %s a logit_bias tensor (the sigmoid loss has one, nce none)",
             path.c_str(), s.loss.c_str(), ck.model.dims.logit_bias ? "holds" : "lacks");
    s.shuffle = meta.str("shuffle", "1") != "0";
    s.seed = meta.u64("seed", 0);
    s.data = meta.str("data", "");
    s.memory = meta.str("memory", "");
    s.model = meta.str("model", "");
    s.data_n = meta.i64("data_n", 0);
    ck.step = meta.i64("step", 0);
    if (ck.step < 0) fail("%s: metadata step is negative", path.c_str());
    if (s.total_steps < 0 || s.warmup < 0 || s.data_n < 0)
        fail("%s: metadata total_steps, warmup and data_n must be non-negative", path.c_str());
    return ck;
}

}  // namespace reco
