// neighbour_cache.cpp — exact neighbours of the training items, cached beside the data (see neighbour_cache.h).
#include "neighbour_cache.h"

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <map>

#include "common.h"
#include "progress.h"
#include "safetensors.h"
#include "dist/comm.h"
#include "dist/sharded_search.h"

namespace reco {

static const char* kKnnFormat = "reco-knn-v1";

static std::string real_path(const std::string& p) {
    char buf[PATH_MAX];
    if (!realpath(p.c_str(), buf)) fail("%s: cannot resolve the path", p.c_str());
    return buf;
}

bool same_file(const std::string& a, const std::string& b) { return real_path(a) == real_path(b); }

static uint32_t fnv1a32(const std::string& s) {
    uint32_t h = 2166136261u;
    for (unsigned char c : s) {
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

std::string neighbour_cache_path(const std::string& data_path, const std::string& memory_path, int k) {
    return strformat("%s.knn-%d-%08x.safetensors", data_path.c_str(), k, fnv1a32(real_path(memory_path)));
}

// The part of a mode that changes which rows are found ("" for the paper's default).
static std::string search_key(const RetrievalMode& m) {
    if (m.search == SearchMode::uni && m.memory_fraction >= 1) return "";
    return strformat("|search=%s|fraction=%.17g|seed=%llu", search_mode_name(m.search), m.memory_fraction,
                     (unsigned long long)m.memory_seed);
}

std::string neighbour_cache_path(const std::string& data_path, const std::string& memory_path,
                                 const RetrievalMode& mode) {
    return strformat("%s.knn-%d-%08x.safetensors", data_path.c_str(), mode.k,
                     fnv1a32(real_path(memory_path) + search_key(mode)));
}

NeighbourIndex compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem, int k, bool exclude_self,
                                  bool show_progress) {
    RetrievalMode mode;
    mode.k = k;
    return compute_neighbours(data, mem, mode, exclude_self, show_progress);
}

NeighbourIndex compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem, const RetrievalMode& mode,
                                  bool exclude_self, bool show_progress) {
    const int k = mode.k;
    if (data.d() != mem.d())
        fail("%s (d=%d) and memory %s (d=%d): embedding dimensions differ", data.path().c_str(), data.d(),
             mem.path().c_str(), mem.d());
    if (k < 0) fail("k must be at least 0 (got %d)", k);
    if (exclude_self && data.n() != mem.n())
        fail("%s: self-exclusion needs the data to be the memory (%d vs %d items)", data.path().c_str(), data.n(),
             mem.n());
    const int limit = exclude_self ? mem.n() - 1 : mem.n();
    if (k > limit)
        fail("%s: k=%d is larger than the memory (%d items%s)", mem.path().c_str(), k, mem.n(),
             exclude_self ? ", minus each item's own pair since the data is the memory" : "");
    NeighbourIndex nb;
    nb.n = data.n();
    nb.k = k;
    nb.self_excluded = exclude_self;
    if (k == 0) return nb;  // the no-retrieval control
    nb.img.resize((size_t)nb.n * k);
    nb.txt.resize((size_t)nb.n * k);
    const ModeMemory searched(mem, mode);
    const int d = data.d(), chunk = 4096;
    std::vector<float> q((size_t)chunk * d), score((size_t)chunk * k);
    std::vector<int> idx((size_t)chunk * k), excl(chunk);
    Progress progress("neighbours", 2LL * nb.n);
    long long done = 0;
    for (int modality = 0; modality < 2; modality++) {
        std::vector<int32_t>& out = modality == 0 ? nb.img : nb.txt;
        for (int i0 = 0; i0 < nb.n; i0 += chunk) {
            const int Q = std::min(chunk, nb.n - i0);
            for (int j = 0; j < Q; j++) {
                if (modality == 0) data.image_row(i0 + j, q.data() + (size_t)j * d);
                else data.text_row(i0 + j, q.data() + (size_t)j * d);
                excl[j] = i0 + j;
            }
            searched.search(modality == 0 ? Modality::image : Modality::text, q.data(), Q, idx.data(), score.data(),
                            exclude_self ? excl.data() : nullptr);
            std::copy(idx.begin(), idx.begin() + (size_t)Q * k, out.begin() + (size_t)i0 * k);
            done += Q;
            if (show_progress) progress.update(done);
        }
    }
    return nb;
}

// ------------------------------------------------------------------------------------ the cache
static std::map<std::string, std::string> cache_key(const EmbeddingFile& data, const ShardedMemory& mem,
                                                    const RetrievalMode& mode, bool exclude_self) {
    const int k = mode.k;
    auto file_id = [](const std::string& p, const std::string& prefix, std::map<std::string, std::string>& m) {
        struct stat s;
        if (stat(p.c_str(), &s) != 0) fail("%s: cannot stat", p.c_str());
        m[prefix] = real_path(p);
        m[prefix + "_size"] = std::to_string((long long)s.st_size);
        m[prefix + "_inode"] = std::to_string((unsigned long long)s.st_ino);  // an atomic rewrite → new inode
        m[prefix + "_mtime_ns"] =
            std::to_string((long long)s.st_mtim.tv_sec * 1000000000LL + (long long)s.st_mtim.tv_nsec);
    };
    std::map<std::string, std::string> m;
    m["format"] = kKnnFormat;
    file_id(data.path(), "data", m);
    file_id(mem.path(), "memory", m);
    m["k"] = std::to_string(k);
    m["n"] = std::to_string(data.n());
    m["memory_n"] = std::to_string(mem.n());
    if (mem.is_directory()) {  // a sharded memory: its files too, not only the directory entry
        m["memory_shards"] = std::to_string(mem.shards().size());
        m["memory_bytes"] = std::to_string((unsigned long long)mem.bytes());
    }
    m["self_excluded"] = exclude_self ? "1" : "0";
    m["search"] = mode.search == SearchMode::uni ? "uni-modal" : "cross-modal";
    if (mode.memory_fraction < 1) {
        m["memory_fraction"] = strformat("%.17g", mode.memory_fraction);
        m["memory_seed"] = std::to_string(mode.memory_seed);
    }
    return m;
}

// The cached indices when the file matches `key` and is sound; empty reason = reused.
static bool try_load(const std::string& path, const std::map<std::string, std::string>& key, NeighbourIndex& nb,
                     std::string& why_not) {
    if (!file_exists(path)) {
        why_not = "no cache yet";
        return false;
    }
    try {
        SafeTensors st(path);
        for (auto& kv : key)
            if (st.meta(kv.first) != kv.second) {
                why_not = kv.first + " changed";
                return false;
            }
        const int64_t n = nb.n, k = nb.k;
        for (int modality = 0; modality < 2; modality++) {
            const std::string name = modality == 0 ? "img_idx" : "txt_idx";
            const TensorInfo& info = st.info(name);
            if (info.dtype != DType::I32) fail("%s: tensor %s is not I32", path.c_str(), name.c_str());
            st.check_shape(name, {n, k});
            std::vector<int32_t>& out = modality == 0 ? nb.img : nb.txt;
            out.resize((size_t)n * k);
            memcpy(out.data(), st.raw(name), out.size() * sizeof(int32_t));
            const int64_t mem_n = std::stoll(key.at("memory_n"));
            for (size_t i = 0; i < out.size(); i++)
                if (out[i] < 0 || out[i] >= mem_n || (nb.self_excluded && out[i] == (int32_t)(i / k)))
                    fail("%s: tensor %s holds an invalid index %d", path.c_str(), name.c_str(), out[i]);
        }
    } catch (const Error& e) {
        why_not = std::string("unreadable (") + e.what() + ")";
        return false;
    }
    return true;
}

NeighbourIndex load_or_compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem, int k, FILE* log) {
    RetrievalMode mode;
    mode.k = k;
    return load_or_compute_neighbours(data, mem, mode, log);
}

NeighbourIndex load_or_compute_neighbours(const EmbeddingFile& data, const ShardedMemory& mem,
                                          const RetrievalMode& mode, FILE* log) {
    const int k = mode.k;
    const bool exclude_self = same_file(data.path(), mem.path());
    if (data.d() != mem.d())
        fail("%s (d=%d) and memory %s (d=%d): embedding dimensions differ", data.path().c_str(), data.d(),
             mem.path().c_str(), mem.d());
    const int limit = exclude_self ? mem.n() - 1 : mem.n();
    if (k < 0) fail("k must be at least 0 (got %d)", k);
    if (k > limit)
        fail("%s: k=%d is larger than the memory (%d items%s)", mem.path().c_str(), k, mem.n(),
             exclude_self ? ", minus each item's own pair since the data is the memory" : "");
    if (k == 0) {
        if (log) fprintf(log, "neighbours: none (k = 0, the no-retrieval control)\n");
        return compute_neighbours(data, mem, mode, exclude_self, false);
    }
    const std::string path = neighbour_cache_path(data.path(), mem.path(), mode);
    const auto key = cache_key(data, mem, mode, exclude_self);
    NeighbourIndex nb;
    nb.n = data.n();
    nb.k = k;
    nb.self_excluded = exclude_self;
    std::string why_not;
    // Under mpirun (SPEC §9) rank 0 alone reads and writes the cache, and every rank takes its branch:
    // the index is broadcast when rank 0 found it cached, else every rank joins the split search below.
    int loaded = dist::is_root() ? (int)try_load(path, key, nb, why_not) : 0;
    if (dist::size() > 1) {
        dist::broadcast(&loaded, sizeof loaded, 0);
        if (loaded) {
            nb.img.resize((size_t)nb.n * k);
            nb.txt.resize((size_t)nb.n * k);
            dist::broadcast(nb.img.data(), nb.img.size() * sizeof(int32_t), 0);
            dist::broadcast(nb.txt.data(), nb.txt.size() * sizeof(int32_t), 0);
        }
    }
    if (loaded) {
        nb.from_cache = true;
        nb.cache_path = path;
        if (log) fprintf(log, "neighbours: reusing %s\n", path.c_str());
        return nb;
    }
    if (log)
        fprintf(log, "neighbours: exact top-%d for %d items in %d memory pairs%s%s (%s)\n", k, data.n(), mem.n(),
                exclude_self ? ", own pair excluded" : "",
                search_key(mode).empty() ? "" : (", " + mode.describe()).c_str(), why_not.c_str());
    nb = compute_neighbours(data, mem, mode, exclude_self, log != nullptr);
    nb.cache_path = path;
    SafeTensorsWriter w;
    w.add("img_idx", DType::I32, {(int64_t)nb.n, (int64_t)k}, nb.img.data(), nb.img.size() * sizeof(int32_t));
    w.add("txt_idx", DType::I32, {(int64_t)nb.n, (int64_t)k}, nb.txt.data(), nb.txt.size() * sizeof(int32_t));
    for (auto& kv : key) w.set_metadata(kv.first, kv.second);
    if (dist::is_root()) try {
        w.write(path);
        if (log) fprintf(log, "neighbours: cached in %s\n", path.c_str());
    } catch (const Error& e) {
        if (log) fprintf(log, "neighbours: not cached (%s)\n", e.what());
    }
    return nb;
}

}  // namespace reco
