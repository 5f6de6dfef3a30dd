// test_util.h — helpers shared by the tests: where the data is, visible skips, comparisons.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>
#include <sys/stat.h>

#include "common.h"
#include "device.h"

namespace testutil {

// x (rows of d) ← standard normal values, then every row scaled to unit L2 norm (in double).
inline void unit_rows(std::vector<float>& x, int d, std::mt19937_64& rng) {
    std::normal_distribution<float> g;
    for (auto& v : x) v = g(rng);
    for (size_t r = 0; r < x.size() / d; r++) {
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)x[r * d + c] * x[r * d + c];
        for (int c = 0; c < d; c++) x[r * d + c] = (float)(x[r * d + c] / std::sqrt(s));
    }
}

// ../shared/data (the real test data) relative to the repository root, where tests run.
inline std::string shared_data() {
    const char* env = getenv("RECO_SHARED_DATA");
    return env ? env : "../shared/data";
}
inline bool exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}
inline bool have_shared() { return exists(shared_data() + "/clip/hf_tokenizer/vocab.json"); }

// The message of the reco::Error that f() throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const reco::Error& e) {
        return e.what();
    }
    return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The reco binary the command-line tests run: $RECO_BIN (set by `make test` / `make sanitize`), else ./reco.
inline std::string reco_bin() {
    const char* env = getenv("RECO_BIN");
    return std::string(env && *env ? env : "./reco") + " ";
}

// Marks the running test case as skipped (test_main.cpp counts it apart from the passed ones)
// and prints the visible SKIPPED line.
void skip(const char* why);

}  // namespace testutil

// Skip the rest of a test case, loudly, when ../shared/data is absent.
#define REQUIRE_SHARED_DATA()                                                                   \
    do {                                                                                        \
        if (!testutil::have_shared()) {                                                         \
            testutil::skip("../shared/data not found; set RECO_SHARED_DATA");                 \
            return;                                                                             \
        }                                                                                       \
    } while (0)

// Run a shell command, return its exit status (for command-line tests of ./reco).
inline int run_cmd(const std::string& cmd, std::string* out = nullptr) {
    std::string full = cmd + " 2>&1";
    FILE* p = popen(full.c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    std::string s;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) s.append(buf, n);
    int st = pclose(p);
    if (out) *out = s;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Skip the rest of a CUDA test case, loudly, when no device is present (or CUDA is not built in).
#if RECO_CUDA
#define REQUIRE_CUDA_DEVICE()                                                                                    \
    do {                                                                                                         \
        if (cuda_device_count() == 0) {                                                                          \
            testutil::skip(("no CUDA device (" + cuda_unavailable_reason() + ")").c_str());                      \
            return;                                                                                              \
        }                                                                                                        \
    } while (0)
#else
#define REQUIRE_CUDA_DEVICE()                                         \
    do {                                                              \
        testutil::skip("no CUDA device (built without CUDA)");       \
        return;                                                       \
    } while (0)
#endif
