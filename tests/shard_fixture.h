// shard_fixture.h — a small memory with many exact ties, split into shards, and the plain
// reference top-k over the unsplit rows (topk_search_reference), for test_shards.cpp / test_mpi_search.cpp.
#pragma once
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "dist/memory_split.h"
#include "dist/sharded_memory.h"
#include "memory.h"
#include "safetensors.h"
#include "topk.h"

namespace shardtest {

inline std::string make_tmp_dir(const char* tag) {
    std::string t = std::string("/tmp/reco-") + tag + "-XXXXXX";
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back(0);
    if (!mkdtemp(buf.data())) reco::fail("mkdtemp %s failed", t.c_str());
    return buf.data();
}

// N rows of width d; rows i and i + N/4 are the same pair for i < N/8 (so equal scores happen, and
// across shard boundaries), row 5 is repeated at the end. Random otherwise.
struct TieMemory {
    int n, d;
    std::vector<float> img, txt;
};

inline TieMemory tie_memory(int n, int d, uint64_t seed) {
    TieMemory m{n, d, std::vector<float>((size_t)n * d), std::vector<float>((size_t)n * d)};
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd;
    for (auto& x : m.img) x = nd(rng);
    for (auto& x : m.txt) x = nd(rng);
    for (int i = 0; i < n / 8; i++) {
        memcpy(&m.img[(size_t)(i + n / 4) * d], &m.img[(size_t)i * d], (size_t)d * 4);
        memcpy(&m.txt[(size_t)(i + n / 4) * d], &m.txt[(size_t)i * d], (size_t)d * 4);
    }
    memcpy(&m.img[(size_t)(n - 1) * d], &m.img[(size_t)5 * d], (size_t)d * 4);
    memcpy(&m.txt[(size_t)(n - 1) * d], &m.txt[(size_t)5 * d], (size_t)d * 4);
    return m;
}

// Queries: memory rows (their duplicates tie), a zero query (every score ties), random ones.
inline std::vector<float> tie_queries(const TieMemory& m, int Q, uint64_t seed, bool images) {
    std::vector<float> q((size_t)Q * m.d);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd;
    const std::vector<float>& src = images ? m.img : m.txt;
    for (int i = 0; i < Q; i++) {
        float* r = &q[(size_t)i * m.d];
        if (i % 3 == 0) memcpy(r, &src[(size_t)((i * 7) % (m.n / 8)) * m.d], (size_t)m.d * 4);
        else if (i == 1) memset(r, 0, (size_t)m.d * 4);
        else for (int c = 0; c < m.d; c++) r[c] = nd(rng);
    }
    return q;
}

// The memory written as one file (with captions "cap i").
inline std::string write_memory(const TieMemory& m, const std::string& path) {
    std::vector<std::string> caps;
    for (int i = 0; i < m.n; i++) caps.push_back("cap " + std::to_string(i));
    reco::write_embedding_file(path, m.img.data(), m.txt.data(), m.n, m.d, caps, "clip-test");
    return path;
}

// The plain reference over the unsplit file.
inline void reference(const std::string& file, bool images, const std::vector<float>& q, int k,
                      std::vector<int>& idx, std::vector<float>& score, const int* exclude = nullptr) {
    reco::EmbeddingFile f(file);
    const int Q = (int)(q.size() / f.d());
    idx.assign((size_t)Q * k, -1);
    score.assign((size_t)Q * k, 0.f);
    reco::topk_search_reference(q.data(), images ? f.image_emb_f16() : f.text_emb_f16(), Q, f.n(), f.d(), k, idx.data(),
                                score.data(), exclude);
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// A .npy file (format 1.0) of a float32 or float16 [rows, cols] array.
inline void write_npy(const std::string& path, const std::vector<float>& x, int rows, int cols, bool f16 = false) {
    std::string header = std::string("{'descr': '") + (f16 ? "<f2" : "<f4") + "', 'fortran_order': False, 'shape': (" +
                         std::to_string(rows) + ", " + std::to_string(cols) + "), }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out += (char)(header.size() & 0xff);
    out += (char)(header.size() >> 8);
    out += header;
    if (f16) {
        for (float v : x) {
            uint16_t h = reco::float_to_half(v);
            out.append((const char*)&h, 2);
        }
    } else {
        out.append((const char*)x.data(), x.size() * 4);
    }
    reco::write_file_atomic(path, out.data(), out.size());
}

}  // namespace shardtest

namespace shardtest {

// indices (I64 → int) and scores of a `reco search --query-npy ... --out R` result file.
inline void read_result(const std::string& path, std::vector<int>& idx, std::vector<float>& score) {
    reco::SafeTensors st(path);
    const reco::TensorInfo& ti = st.info("indices");
    const int64_t* p = (const int64_t*)st.raw("indices");
    idx.assign((size_t)ti.numel(), 0);
    for (size_t i = 0; i < idx.size(); i++) idx[i] = (int)p[i];
    score = st.to_f32("scores", ti.shape);
}

}  // namespace shardtest
