// retrieval_mode.cpp — the ablation switches: names, metadata, the memory subset, the search (see retrieval_mode.h).
#include "retrieval_mode.h"
#include "dist/sharded_search.h"
#include "safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "cli.h"
#include "common.h"
#include "topk.h"

namespace reco {

const char* kMetaSearch = "search";
const char* kMetaFuse = "fuse";
const char* kMetaMemoryFraction = "memory_fraction";
const char* kMetaMemorySeed = "memory_seed";
const std::vector<std::string> kRetrievalModeOptions = {"search", "fuse", "memory-fraction", "memory-seed"};

SearchMode parse_search_mode(const std::string& s) {
    if (s == "uni") return SearchMode::uni;
    if (s == "cross") return SearchMode::cross;
    fail("unknown search mode '%s' (uni: image→images and text→texts, the paper's; cross: image→texts and "
         "text→images)",
         s.c_str());
}

FuseMode parse_fuse_mode(const std::string& s) {
    if (s == "cross") return FuseMode::cross;
    if (s == "uni") return FuseMode::uni;
    fail("unknown fuse mode '%s' (cross: fuse the other modality of the retrieved pairs, the paper's; uni: the "
         "query's own modality)",
         s.c_str());
}

const char* search_mode_name(SearchMode m) { return m == SearchMode::uni ? "uni" : "cross"; }
const char* fuse_mode_name(FuseMode m) { return m == FuseMode::cross ? "cross" : "uni"; }

bool RetrievalMode::operator==(const RetrievalMode& o) const {
    return search == o.search && fuse == o.fuse && k == o.k && memory_fraction == o.memory_fraction &&
           memory_seed == o.memory_seed;
}

std::string RetrievalMode::describe() const {
    if (k == 0) return "k 0 (no retrieval: the query alone)";
    std::string s = strformat("search %s, fuse %s, k %d", search_mode_name(search), fuse_mode_name(fuse), k);
    if (memory_fraction < 1) s += strformat(", memory %.3g%% (seed %llu)", 100 * memory_fraction,
                                            (unsigned long long)memory_seed);
    return s;
}

void RetrievalMode::validate() const {
    if (k < 0) fail("--k must be at least 0 (0 = the no-retrieval control; got %d)", k);
    if (!(memory_fraction > 0 && memory_fraction <= 1))
        fail("--memory-fraction must be in (0, 1] (got %g)", memory_fraction);
}

static std::string real(double x) { return strformat("%.17g", x); }

void mode_to_metadata(const RetrievalMode& m, std::map<std::string, std::string>& meta) {
    meta[kMetaSearch] = search_mode_name(m.search);
    meta[kMetaFuse] = fuse_mode_name(m.fuse);
    meta[kMetaMemoryFraction] = real(m.memory_fraction);
    meta[kMetaMemorySeed] = std::to_string(m.memory_seed);
}

RetrievalMode mode_from_metadata(const std::map<std::string, std::string>& meta, int k, const std::string& path) {
    RetrievalMode m;
    m.k = k;
    auto get = [&](const char* key) -> const std::string* {
        auto it = meta.find(key);
        return it == meta.end() ? nullptr : &it->second;
    };
    try {
        if (auto v = get(kMetaSearch)) m.search = parse_search_mode(*v);
        if (auto v = get(kMetaFuse)) m.fuse = parse_fuse_mode(*v);
    } catch (const Error& e) {
        fail("%s: metadata: %s", path.c_str(), e.what());
    }
    if (auto v = get(kMetaMemoryFraction)) {
        char* end = nullptr;
        m.memory_fraction = strtod(v->c_str(), &end);
        if (v->empty() || *end || !(m.memory_fraction > 0 && m.memory_fraction <= 1))
            fail("%s: metadata %s = '%s' is not a fraction in (0, 1]", path.c_str(), kMetaMemoryFraction, v->c_str());
    }
    if (auto v = get(kMetaMemorySeed)) {
        errno = 0;
        char* end = nullptr;
        m.memory_seed = strtoull(v->c_str(), &end, 10);
        if (v->empty() || (*v)[0] == '-' || *end || errno)
            fail("%s: metadata %s = '%s' is not an unsigned integer", path.c_str(), kMetaMemorySeed, v->c_str());
    }
    if (m.k < 0) fail("%s: metadata k = %d is negative", path.c_str(), m.k);
    return m;
}

static uint64_t parse_seed(const Args& a, const char* opt) {
    const long long s = a.get_i64(opt, 0);
    if (s < 0) fail("--%s must be non-negative", opt);
    return (uint64_t)s;
}

RetrievalMode mode_from_args(const Args& a, int default_k) {
    RetrievalMode m;
    m.k = a.get_int("k", default_k);
    if (a.has("search")) m.search = parse_search_mode(a.get("search"));
    if (a.has("fuse")) m.fuse = parse_fuse_mode(a.get("fuse"));
    if (a.has("memory-fraction")) m.memory_fraction = a.get_double("memory-fraction", 1.0);
    if (a.has("memory-seed")) m.memory_seed = parse_seed(a, "memory-seed");
    m.validate();
    return m;
}

static std::string flags(const RetrievalMode& m) {
    return strformat("--search %s --fuse %s%s", search_mode_name(m.search), fuse_mode_name(m.fuse),
                     m.k == 0 ? " --k 0" : "");
}

void check_same_mode(const RetrievalMode& trained, const RetrievalMode& requested, const std::string& ckpt_path) {
    const bool differ = (trained.k == 0) != (requested.k == 0) ||
                        (trained.k > 0 && (trained.search != requested.search || trained.fuse != requested.fuse));
    if (differ)
        fail("%s: trained with %s; asked for %s (a fusion module only works with the retrieval it was trained "
             "with: train another with those switches)",
             ckpt_path.c_str(), flags(trained).c_str(), flags(requested).c_str());
}

RetrievalMode eval_mode(const RetrievalMode& trained, const std::string& ckpt_path, const Args& a) {
    RetrievalMode r = trained;
    if (a.has("k")) r.k = a.get_int("k", trained.k);
    if (a.has("search")) r.search = parse_search_mode(a.get("search"));
    if (a.has("fuse")) r.fuse = parse_fuse_mode(a.get("fuse"));
    if (a.has("memory-fraction")) r.memory_fraction = a.get_double("memory-fraction", 1.0);
    if (a.has("memory-seed")) r.memory_seed = parse_seed(a, "memory-seed");
    r.validate();
    check_same_mode(trained, r, ckpt_path);
    return r;
}

std::vector<int> memory_subset_rows(int N, double fraction, uint64_t seed) {
    if (N < 1) fail("memory_subset_rows: empty memory");
    if (!(fraction > 0 && fraction <= 1)) fail("--memory-fraction must be in (0, 1] (got %g)", fraction);
    const int m = std::max(1, (int)std::min<double>(N, std::llround(fraction * N)));
    std::vector<int> p(N);
    for (int i = 0; i < N; i++) p[i] = i;
    if (m < N) {
        std::mt19937_64 rng(splitmix64(seed ^ 0x6d656d6f7279ULL));  // "memory"
        for (int i = 0; i < m; i++) {
            // uniform j in [i, N) by rejection: no modulo bias
            const uint64_t range = (uint64_t)(N - i), limit = UINT64_MAX - UINT64_MAX % range;
            uint64_t r;
            do r = rng();
            while (r >= limit);
            std::swap(p[i], p[i + (int)(r % range)]);
        }
        p.resize(m);
        std::sort(p.begin(), p.end());
    }
    return p;
}

ModeMemory::ModeMemory(const ShardedMemory& mem, const RetrievalMode& mode) : mem_(mem), mode_(mode) {
    mode_.validate();
    n_ = mem.n();
    if (mode.memory_fraction < 1) {
        rows_ = memory_subset_rows(mem.n(), mode.memory_fraction, mode.memory_seed);
        n_ = (int)rows_.size();
        const size_t d = mem.d();
        local_.assign(mem.n(), -1);
        img_sub_.resize(rows_.size() * d);
        txt_sub_.resize(rows_.size() * d);
        std::vector<float> row(d);
        for (size_t j = 0; j < rows_.size(); j++) {  // fp16 → fp32 → fp16 is exact
            local_[rows_[j]] = (int)j;
            mem.image_row(rows_[j], row.data());
            for (size_t c = 0; c < d; c++) img_sub_[j * d + c] = float_to_half(row[c]);
            mem.text_row(rows_[j], row.data());
            for (size_t c = 0; c < d; c++) txt_sub_[j * d + c] = float_to_half(row[c]);
        }
    }
}

void ModeMemory::search(Modality m, const float* queries, int Q, int* idx, float* score, const int* exclude) const {
    const int k = mode_.k;
    if (k == 0 || Q == 0) return;
    const bool images = mode_.searches_images(m);
    if (rows_.empty()) {  // the whole memory: streamed over its shards (and the MPI ranks)
        sharded_topk(mem_, images, queries, Q, k, idx, score, exclude);
        return;
    }
    if (k > n_ - (exclude ? 1 : 0))
        fail("%s: k=%d is larger than the searched part of the memory (%d of %d rows, --memory-fraction %g%s)",
             mem_.path().c_str(), k, n_, mem_.n(), mode_.memory_fraction, exclude ? ", minus the query's own pair" : "");
    std::vector<int> ex;
    if (exclude) {
        ex.resize(Q);
        for (int q = 0; q < Q; q++) ex[q] = exclude[q] >= 0 && exclude[q] < mem_.n() ? local_[exclude[q]] : -1;
    }
    topk_search(queries, images ? img_sub_.data() : txt_sub_.data(), Q, n_, mem_.d(), k, idx, score,
                exclude ? ex.data() : nullptr);
    for (size_t i = 0; i < (size_t)Q * k; i++) idx[i] = rows_[idx[i]];  // subset order = global order
}

void ModeMemory::fused_row(Modality m, int row, float* out) const {
    if (mode_.fuses_images(m)) mem_.image_row(row, out);
    else mem_.text_row(row, out);
}

}  // namespace reco
