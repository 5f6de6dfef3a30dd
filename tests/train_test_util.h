// train_test_util.h — what tests/test_train.cpp and tests/test_train_cli.cpp share: temporary folders,
// random embedding files, a brute-force neighbour search (the topk.h definition written out), a
// command's stdout lines, an error's message, and a checkpoint rewritten through an edit.
#pragma once
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "common.h"
#include "fusion_train.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "safetensors.h"
#include "sigmoid_loss.h"
#include "test_util.h"
#include "trainer.h"

using namespace reco;

namespace traintest {

using namespace reco;


// Temporary folders (flat), removed when the test program exits.
struct TmpDirs {
    std::vector<std::string> dirs;
    ~TmpDirs() {
        for (const std::string& d : dirs) {
            if (DIR* h = opendir(d.c_str())) {
                while (dirent* e = readdir(h))
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink((d + "/" + e->d_name).c_str());
                closedir(h);
            }
            rmdir(d.c_str());
        }
    }
};
inline TmpDirs g_tmp_dirs;

inline std::string make_tmp_dir() {
    char t[] = "/tmp/reco_train_XXXXXX";
    const char* d = mkdtemp(t);
    REQUIRE(d != nullptr);
    g_tmp_dirs.dirs.push_back(d);
    return d;
}

// Random L2-normalised pairs (seeded), written as an embedding file with captions.
inline void write_random(const std::string& path, int n, int d, uint64_t seed, const std::string& model = "test-clip") {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> img((size_t)n * d), txt((size_t)n * d);
    for (auto& x : img) x = g(rng);
    for (auto& x : txt) x = g(rng);
    std::vector<std::string> caps;
    for (int i = 0; i < n; i++) caps.push_back("caption " + std::to_string(i % 7));
    write_embedding_file(path, img.data(), txt.data(), n, d, caps, model);
}

// An embedding file written by hand (to hold what write_embedding_file refuses).
inline void write_raw_embeddings(const std::string& path, int n, int d, float poison_value, int poison_at) {
    std::vector<uint16_t> img((size_t)n * d, float_to_half(0.25f)), txt((size_t)n * d, float_to_half(0.25f));
    if (poison_at >= 0) img[poison_at] = float_to_half(poison_value);
    SafeTensorsWriter w;
    w.add("image_emb", DType::F16, {n, d}, img.data(), img.size() * 2);
    w.add("text_emb", DType::F16, {n, d}, txt.data(), txt.size() * 2);
    w.set_metadata("format", "reco-embeddings-v1");
    w.set_metadata("model", "test-clip");
    w.write(path);
}

inline std::string slurp(const std::string& p) { return read_file(p); }

// The topk.h reference definition written out: score = one fmaf chain over c; order by score
// descending, ties → lower index; the item `skip` (its own pair) excluded.
inline std::vector<int> brute_knn(const float* q, const EmbeddingFile& mem, bool images, int k, int skip) {
    const int n = mem.n(), d = mem.d();
    std::vector<std::pair<float, int>> s;
    std::vector<float> row(d);
    for (int j = 0; j < n; j++) {
        if (j == skip) continue;
        images ? mem.image_row(j, row.data()) : mem.text_row(j, row.data());
        float acc = 0.0f;
        for (int c = 0; c < d; c++) acc = std::fmaf(q[c], row[c], acc);
        s.push_back({acc, j});
    }
    std::sort(s.begin(), s.end(), [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    std::vector<int> out;
    for (int i = 0; i < k; i++) out.push_back(s[i].second);
    return out;
}

// stdout lines of a command (stderr to a file), exit status in *rc.
inline std::vector<std::string> stdout_lines(const std::string& cmd, int* rc, const std::string& err_file) {
    std::string out;
    *rc = run_cmd("(" + cmd + " 2>" + err_file + ")", &out);  // run_cmd's own 2>&1 then sees nothing
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

inline bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

inline std::string error_of(std::function<void()> f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}


// Rewrite a checkpoint through `edit` (tensors by name, metadata map) into `out`.
inline void rewrite_checkpoint(const std::string& in, const std::string& out,
                        const std::function<void(std::map<std::string, std::vector<float>>&,
                                                 std::map<std::string, std::string>&)>& edit) {
    SafeTensors st(in);
    std::map<std::string, std::vector<float>> t;
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const TensorInfo& ti : st.tensors()) t[ti.name] = st.to_f32(ti.name), shapes[ti.name] = ti.shape;
    std::map<std::string, std::string> meta = st.metadata();
    edit(t, meta);
    SafeTensorsWriter w;
    for (auto& kv : t) w.add_f32(kv.first, shapes.count(kv.first) ? shapes[kv.first] : std::vector<int64_t>{}, kv.second.data());
    for (auto& kv : meta) w.set_metadata(kv.first, kv.second);
    w.write(out);
}

}  // namespace traintest
