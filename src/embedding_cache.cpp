// embedding_cache.cpp — image embeddings cached beside the data (see embedding_cache.h).
#include "embedding_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <unistd.h>

#include "common.h"
#include "encoder.h"
#include "image.h"
#include "model_config.h"
#include "progress.h"
#include "safetensors.h"
#include "sha256.h"

namespace reco {

static const char* kCacheFormat = "reco-image-cache-v1";

// Size + first and last MiB + 64 evenly spaced 16 KiB blocks of the weights file (see the header).
static void hash_weights_sample(Sha256& h, const std::string& path) {
    size_t size = 0;
    const int fd = open_regular_file(path, &size);
    h.update(strformat("weights bytes=%zu;", size));
    std::vector<char> buf;
    auto take = [&](size_t off, size_t n) {
        if (off >= size) return;
        n = std::min(n, size - off);
        buf.resize(n);
        size_t got = 0;
        while (got < n) {
            ssize_t r = pread(fd, buf.data() + got, n - got, (off_t)(off + got));
            if (r <= 0) {
                close(fd);
                fail("%s: read error while fingerprinting the weights", path.c_str());
            }
            got += (size_t)r;
        }
        h.update(buf.data(), n);
    };
    const size_t MiB = 1 << 20;
    take(0, MiB);
    for (int i = 0; i < 64; i++) take(size / 64 * i, 16 << 10);
    if (size > MiB) take(size - MiB, MiB);
    close(fd);
}

std::string image_model_key(const Encoder& enc) {
    Sha256 h;
    const ImagePreprocess& p = enc.preprocessing();
    h.update(strformat("%s;family=%s;model=%s;d=%d;crop=%d;size=%d;rescale=%.17g;mean=%.17g,%.17g,%.17g;"
                       "std=%.17g,%.17g,%.17g;config=",
                       kCacheFormat, family_name(enc.family()), enc.name().c_str(), enc.dim(), (int)p.crop, p.size,
                       p.rescale, p.mean[0], p.mean[1], p.mean[2], p.std[0], p.std[1], p.std[2]));
    h.update(sha256_hex(read_file(enc.dir() + "/config.json")));
    hash_weights_sample(h, model_weights_path(enc.dir()));
    return h.hex();
}

std::string image_cache_path(const std::string& data, const std::string& model_key) {
    std::string d = absolute_path(data);
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (d.empty() || d == "/") return "";
    return d + ".img-emb-" + model_key.substr(0, 16) + ".safetensors";
}

struct CacheRows {
    std::map<std::string, size_t> row;  // sha256 bytes (32) → row
    std::vector<std::string> keys;
    std::vector<float> emb;              // [rows, d]
};

static std::string payload_hash(const std::vector<std::string>& keys, const std::vector<float>& emb) {
    Sha256 h;
    for (auto& k : keys) h.update(k);
    h.update(emb.data(), emb.size() * sizeof(float));
    return h.hex();
}

// The cache's rows when it can be trusted; false with the reason otherwise.
static bool try_load(const std::string& path, const std::string& model_key, int d, CacheRows& out,
                     std::string& why_not) {
    if (!file_exists(path)) {
        why_not = "no cache yet";
        return false;
    }
    try {
        SafeTensors st(path);
        if (st.meta("format") != kCacheFormat) fail("format '%s', expected %s", st.meta("format").c_str(), kCacheFormat);
        if (st.meta("model_key") != model_key) fail("made with another model or preprocessing");
        const TensorInfo& ki = st.info("sha256");
        const TensorInfo& ei = st.info("emb");
        if (ki.dtype != DType::U8 || ki.shape.size() != 2 || ki.shape[1] != 32) fail("tensor sha256 is not U8 [n, 32]");
        const int64_t m = ki.shape[0];
        if (ei.dtype != DType::F32) fail("tensor emb is not F32");
        st.check_shape("emb", {m, (int64_t)d});
        if (st.meta("n") != std::to_string(m) || st.meta("d") != std::to_string(d)) fail("metadata n/d disagree with the tensors");
        out.keys.resize(m);
        for (int64_t i = 0; i < m; i++) out.keys[i].assign((const char*)st.raw("sha256") + i * 32, 32);
        out.emb.resize((size_t)m * d);
        memcpy(out.emb.data(), st.raw("emb"), out.emb.size() * sizeof(float));
        if (payload_hash(out.keys, out.emb) != st.meta("payload_sha256")) fail("contents do not match payload_sha256 (corrupt)");
        for (int64_t i = 0; i < m; i++) {
            double nn = 0;
            for (int e = 0; e < d; e++) {
                const float v = out.emb[(size_t)i * d + e];
                if (!std::isfinite(v)) fail("row %lld is not finite", (long long)i);
                nn += (double)v * v;
            }
            if (std::fabs(nn - 1.0) > 1e-3) fail("row %lld is not unit-norm (norm² %.6g)", (long long)i, nn);
            out.row.emplace(out.keys[i], (size_t)i);
        }
    } catch (const Error& e) {
        why_not = std::string("ignored: ") + e.what();
        out = CacheRows();
        return false;
    }
    return true;
}

std::vector<float> embed_images_cached(Encoder& enc, const std::vector<std::string>& paths, const std::string& data,
                                       FILE* log, ImageCacheStats* stats, std::vector<char>* bad) {
    const int d = enc.dim(), n = (int)paths.size(), S = enc.image_size();
    const size_t per = (size_t)3 * S * S;
    ImageCacheStats st;
    const std::string key = data.empty() ? "" : image_model_key(enc);
    st.path = data.empty() ? "" : image_cache_path(data, key);
    CacheRows cache;
    if (!st.path.empty()) st.loaded = try_load(st.path, key, d, cache, st.why_not_loaded);
    if (log && !st.path.empty() && !st.loaded && file_exists(st.path))
        fprintf(log, "image embeddings: cache %s %s; embedding again\n", st.path.c_str(), st.why_not_loaded.c_str());

    std::vector<float> out((size_t)n * d);
    const size_t old_rows = cache.keys.size();
    Progress prog("embedding images", n);
    const int batch = 32;
    for (int b0 = 0; b0 < n; b0 += batch) {
        const int nb = std::min(batch, n - b0);
        std::vector<std::string> keys(nb), errors(nb);
        std::vector<float> pix((size_t)nb * per);
        std::vector<char> hit(nb, 0);
        #pragma omp parallel for schedule(dynamic)
        for (int i = 0; i < nb; i++) {
            try {
                const std::string bytes = read_image_file(paths[b0 + i]);
                uint8_t dg[32];
                Sha256 h;
                h.update(bytes);
                h.final(dg);
                keys[i].assign((const char*)dg, 32);
                hit[i] = cache.row.count(keys[i]) > 0;
                if (!hit[i]) {
                    auto p = preprocess_image_bytes(bytes, paths[b0 + i], enc.preprocessing());
                    std::copy(p.begin(), p.end(), pix.begin() + (size_t)i * per);
                }
            } catch (const Error& e) {
                errors[i] = e.what();
            }
        }
        if (bad) bad->resize(n, 0);
        for (int i = 0; i < nb; i++) {
            if (errors[i].empty()) continue;
            if (!bad) fail("%s", errors[i].c_str());
            fprintf(stderr, "\nreco: skipping %s\n", errors[i].c_str());
            (*bad)[b0 + i] = 1;
        }
        std::vector<float> miss_pix;
        std::vector<int> miss;
        for (int i = 0; i < nb; i++) {
            if (!errors[i].empty()) continue;  // skipped (--skip-bad): its row stays zero
            auto it = cache.row.find(keys[i]);
            if (it != cache.row.end()) {
                std::copy_n(cache.emb.begin() + it->second * d, d, out.begin() + (size_t)(b0 + i) * d);
                st.reused++;
            } else {  // (hit[i] is set only for keys in the cache, so every miss has its pixels)
                miss.push_back(i);
                miss_pix.insert(miss_pix.end(), pix.begin() + (size_t)i * per, pix.begin() + (size_t)(i + 1) * per);
            }
        }
        std::vector<float> emb = enc.embed_pixels(miss_pix.data(), (int)miss.size());
        for (size_t j = 0; j < miss.size(); j++) {
            const int i = miss[j];
            std::copy_n(emb.begin() + j * d, d, out.begin() + (size_t)(b0 + i) * d);
            if (cache.row.emplace(keys[i], cache.keys.size()).second) {  // identical files: one row
                cache.keys.push_back(keys[i]);
                cache.emb.insert(cache.emb.end(), emb.begin() + j * d, emb.begin() + (j + 1) * d);
            }
            st.embedded++;
        }
        prog.update(b0 + nb);
    }
    if (!st.path.empty() && cache.keys.size() > old_rows) {
        SafeTensorsWriter w;
        const int64_t m = (int64_t)cache.keys.size();
        std::string kb;
        for (auto& k : cache.keys) kb += k;
        w.add("sha256", DType::U8, {m, 32}, kb.data(), kb.size());
        w.add_f32("emb", {m, (int64_t)d}, cache.emb.data());
        w.set_metadata("format", kCacheFormat);
        w.set_metadata("model_key", key);
        w.set_metadata("model", enc.name());
        w.set_metadata("family", family_name(enc.family()));
        w.set_metadata("d", std::to_string(d));
        w.set_metadata("n", std::to_string(m));
        w.set_metadata("payload_sha256", payload_hash(cache.keys, cache.emb));
        try {
            w.write(st.path);
            st.written = true;
        } catch (const Error& e) {
            if (log) fprintf(log, "image embeddings: not cached (%s)\n", e.what());
        }
    }
    if (log && !st.path.empty())
        fprintf(log, "image embeddings: %d from the cache, %d embedded%s%s\n", st.reused, st.embedded,
                st.written ? ", cached in " : "", st.written ? st.path.c_str() : "");
    if (stats) *stats = st;
    return out;
}

}  // namespace reco
