// memory.cpp — the embedding / memory file (format in memory.h, SPEC §5): validated reader and
// atomic writer.
#include "memory.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "common.h"

namespace reco {

const char* kEmbeddingFormat = "reco-embeddings-v1";

// ---------------------------------------------------------------------------------------------
// reader

// First row of a [n, d] fp16 array holding a NaN or ±Inf (exponent bits all ones), or -1.
static long long first_nonfinite_row(const uint16_t* x, long long n, int d) {
    long long first = LLONG_MAX;
    #pragma omp parallel for schedule(static) reduction(min : first)
    for (long long i = 0; i < n; i++) {
        const uint16_t* r = x + (size_t)i * d;
        unsigned bad = 0;
        for (int c = 0; c < d; c++) bad |= (r[c] & 0x7C00u) == 0x7C00u;
        if (bad && i < first) first = i;
    }
    return first == LLONG_MAX ? -1 : first;
}

static long long meta_int(const SafeTensors& st, const char* key) {
    std::string v = st.meta(key);
    char* end = nullptr;
    long long x = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end) fail("%s: metadata '%s' is '%s', not an integer", st.path().c_str(), key, v.c_str());
    return x;
}

EmbeddingFile::EmbeddingFile(const std::string& path) : st_(new SafeTensors(path)) {
    const char* p = path.c_str();
    const SafeTensors& st = *st_;
    std::string format = st.meta("format");
    if (!format.empty() && format != kEmbeddingFormat)
        fail("%s: metadata format is '%s', expected '%s'", p, format.c_str(), kEmbeddingFormat);
    for (const char* name : {"image_emb", "text_emb"}) {
        if (!st.has(name))
            fail("%s: missing tensor '%s' (an embedding/memory file needs image_emb and text_emb [N, d] F16)", p, name);
        const TensorInfo& ti = st.info(name);
        if (ti.dtype != DType::F16)
            fail("%s: tensor '%s' has dtype %s, expected F16", p, name, dtype_name(ti.dtype));
        if (ti.shape.size() != 2) fail("%s: tensor '%s' has shape %s, expected [N, d]", p, name, ti.shape_str().c_str());
    }
    const TensorInfo& ii = st.info("image_emb");
    const TensorInfo& ti = st.info("text_emb");
    if (ii.shape != ti.shape)
        fail("%s: image_emb has shape %s but text_emb has shape %s (row i of both must be pair i)", p,
             ii.shape_str().c_str(), ti.shape_str().c_str());
    if (ii.shape[0] < 1) fail("%s: the file holds no pairs (image_emb shape %s)", p, ii.shape_str().c_str());
    if (ii.shape[1] < 1) fail("%s: embedding dimension is 0 (image_emb shape %s)", p, ii.shape_str().c_str());
    if (ii.shape[0] > INT_MAX || ii.shape[1] > 65536)
        fail("%s: image_emb shape %s is too large", p, ii.shape_str().c_str());
    n_ = (int)ii.shape[0];
    d_ = (int)ii.shape[1];
    if (!st.meta("n").empty() && meta_int(st, "n") != n_)
        fail("%s: metadata says n=%s but the tensors hold %d pairs", p, st.meta("n").c_str(), n_);
    if (!st.meta("d").empty() && meta_int(st, "d") != d_)
        fail("%s: metadata says d=%s but the tensors have d=%d", p, st.meta("d").c_str(), d_);

    // fp16 rows are used in place; a (foreign) file with odd offsets gets an aligned copy.
    auto place = [&](const char* name, std::vector<uint16_t>& copy) -> const uint16_t* {
        const uint8_t* raw = st.raw(name);
        if (((uintptr_t)raw & 1) == 0) return (const uint16_t*)raw;
        copy.resize((size_t)n_ * d_);
        memcpy(copy.data(), raw, copy.size() * 2);
        return copy.data();
    };
    image_ = place("image_emb", image_copy_);
    text_ = place("text_emb", text_copy_);
    for (auto& t : {std::make_pair("image_emb", image_), std::make_pair("text_emb", text_)}) {
        long long row = first_nonfinite_row(t.second, n_, d_);
        if (row >= 0) fail("%s: tensor '%s' row %lld contains NaN or Inf", p, t.first, row);
    }

    bool hc = st.has("captions"), ho = st.has("caption_offsets");
    if (hc != ho) fail("%s: '%s' without '%s'", p, hc ? "captions" : "caption_offsets", hc ? "caption_offsets" : "captions");
    if (hc) {
        const TensorInfo& c = st.info("captions");
        const TensorInfo& o = st.info("caption_offsets");
        if (c.dtype != DType::U8 || c.shape.size() != 1)
            fail("%s: tensor 'captions' must be U8 [bytes], found %s %s", p, dtype_name(c.dtype), c.shape_str().c_str());
        if (o.dtype != DType::I64 || o.shape != std::vector<int64_t>{(int64_t)n_ + 1})
            fail("%s: tensor 'caption_offsets' must be I64 [%d], found %s %s", p, n_ + 1, dtype_name(o.dtype),
                 o.shape_str().c_str());
        offsets_.resize((size_t)n_ + 1);
        memcpy(offsets_.data(), st.raw("caption_offsets"), offsets_.size() * 8);
        if (offsets_[0] != 0) fail("%s: caption_offsets[0] is %lld, expected 0", p, (long long)offsets_[0]);
        for (int i = 0; i < n_; i++)
            if (offsets_[i + 1] < offsets_[i])
                fail("%s: caption_offsets decrease at caption %d (%lld < %lld)", p, i, (long long)offsets_[i + 1],
                     (long long)offsets_[i]);
        if (offsets_[n_] != c.shape[0])
            fail("%s: caption_offsets end at %lld but the captions blob has %lld bytes", p, (long long)offsets_[n_],
                 (long long)c.shape[0]);
        blob_ = st.raw("captions");
        has_captions_ = true;
    }
}

static void f16_row(const uint16_t* src, int d, float* out) {
    for (int c = 0; c < d; c++) out[c] = half_to_float(src[c]);
}

void EmbeddingFile::image_row(int i, float* out) const {
    if (i < 0 || i >= n_) fail("%s: row %d out of range (%d pairs)", path().c_str(), i, n_);
    f16_row(image_ + (size_t)i * d_, d_, out);
}

void EmbeddingFile::text_row(int i, float* out) const {
    if (i < 0 || i >= n_) fail("%s: row %d out of range (%d pairs)", path().c_str(), i, n_);
    f16_row(text_ + (size_t)i * d_, d_, out);
}

std::string EmbeddingFile::caption(int i) const {
    if (i < 0 || i >= n_) fail("%s: caption %d out of range (%d pairs)", path().c_str(), i, n_);
    if (!has_captions_) return "";
    return std::string((const char*)blob_ + offsets_[i], (size_t)(offsets_[i + 1] - offsets_[i]));
}

// ---------------------------------------------------------------------------------------------
// writer

// One row to fp16: out = fp16(fp32(x / ||x||)), the norm in double; NaN/Inf and zero rows are errors.
static void normalise_to_f16(const float* x, int d, uint16_t* out, const std::string& what, int64_t row) {
    double ss = 0;
    for (int c = 0; c < d; c++) {
        if (!std::isfinite(x[c]))
            fail("%s: row %lld has a non-finite value (%g) at position %d", what.c_str(), (long long)row, x[c], c);
        ss += (double)x[c] * x[c];
    }
    if (ss == 0) fail("%s: row %lld is all zeros and cannot be L2-normalised", what.c_str(), (long long)row);
    double inv = 1.0 / std::sqrt(ss);
    for (int c = 0; c < d; c++) out[c] = float_to_half((float)(x[c] * inv));
}

void write_embedding_file(const std::string& path, int n, int d, const RowSource& image, const RowSource& text,
                          const std::vector<std::string>& captions, const std::string& model,
                          const std::map<std::string, std::string>& extra_metadata) {
    if (n < 1) fail("%s: refusing to write an embedding file with no pairs (n=%d)", path.c_str(), n);
    if (d < 1) fail("%s: embedding dimension must be positive (d=%d)", path.c_str(), d);
    if (!captions.empty() && (int64_t)captions.size() != n)
        fail("%s: %zu captions for %d pairs", path.c_str(), captions.size(), n);

    SafeTensorsWriter w;
    // Tensor order keeps every array aligned: I64 offsets first, then the two F16 arrays, then bytes.
    std::string blob;
    if (!captions.empty()) {
        std::vector<int64_t> off((size_t)n + 1, 0);
        for (int i = 0; i < n; i++) {
            blob += captions[i];
            off[i + 1] = (int64_t)blob.size();
        }
        w.add("caption_offsets", DType::I64, {(int64_t)n + 1}, off.data(), off.size() * 8);
    }
    for (const RowSource* src : {&image, &text}) {
        std::vector<uint16_t> h((size_t)n * d);
        std::vector<float> row((size_t)d);
        for (int64_t i = 0; i < n; i++) {
            src->get(i, row.data());
            normalise_to_f16(row.data(), d, h.data() + (size_t)i * d, src->what, i);
        }
        w.add(src == &image ? "image_emb" : "text_emb", DType::F16, {(int64_t)n, (int64_t)d}, h.data(), h.size() * 2);
    }
    if (!captions.empty()) w.add("captions", DType::U8, {(int64_t)blob.size()}, blob.data(), blob.size());
    for (auto& kv : extra_metadata) w.set_metadata(kv.first, kv.second);
    w.set_metadata("format", kEmbeddingFormat);
    w.set_metadata("model", model);
    w.set_metadata("n", std::to_string(n));
    w.set_metadata("d", std::to_string(d));
    w.write(path);
}

void write_embedding_file(const std::string& path, const float* image_emb, const float* text_emb, int n, int d,
                          const std::vector<std::string>& captions, const std::string& model,
                          const std::map<std::string, std::string>& extra_metadata) {
    RowSource img{"image embeddings", [&](int64_t i, float* out) { memcpy(out, image_emb + (size_t)i * d, (size_t)d * 4); }};
    RowSource txt{"text embeddings", [&](int64_t i, float* out) { memcpy(out, text_emb + (size_t)i * d, (size_t)d * 4); }};
    write_embedding_file(path, n, d, img, txt, captions, model, extra_metadata);
}

// ---------------------------------------------------------------------------------------------
// compatibility

// "openai/clip-vit-base-patch32/" → "clip-vit-base-patch32"
static std::string model_key(std::string m) {
    while (!m.empty() && m.back() == '/') m.pop_back();
    size_t slash = m.rfind('/');
    return slash == std::string::npos ? m : m.substr(slash + 1);
}

void check_compatible(const std::string& what_a, int d_a, const std::string& model_a,
                      const std::string& what_b, int d_b, const std::string& model_b) {
    auto named = [](const std::string& m) { return m.empty() ? std::string("unknown model") : "model " + m; };
    if (d_a != d_b)
        fail("%s (%s, d=%d) and %s (%s, d=%d) come from different CLIP models: embedding dimensions differ",
             what_a.c_str(), named(model_a).c_str(), d_a, what_b.c_str(), named(model_b).c_str(), d_b);
    if (!model_key(model_a).empty() && !model_key(model_b).empty() && model_key(model_a) != model_key(model_b))
        fail("%s was embedded with %s but %s with %s: embeddings of different CLIP models cannot be compared",
             what_a.c_str(), named(model_a).c_str(), what_b.c_str(), named(model_b).c_str());
}

void check_family(const std::string& what_a, const std::string& family_a, const std::string& what_b,
                  const std::string& family_b) {
    if (!family_a.empty() && !family_b.empty() && family_a != family_b)
        fail("%s comes from a %s model but %s is a %s model: their embeddings cannot be compared", what_a.c_str(),
             family_a.c_str(), what_b.c_str(), family_b.c_str());
}

void check_compatible(const EmbeddingFile& a, const EmbeddingFile& b) {
    check_compatible(a.path(), a.d(), a.model(), b.path(), b.d(), b.model());
}

}  // namespace reco
