// test_cuda_device.cpp — the --device flag (device.h) and the host-side math of the GPU top-k filter.
// Both run on every machine: resolve_device must behave without a driver, and topk_prepare_queries is
// host code (it only needs a CUDA build, not a device).
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "device.h"
#include "safetensors.h"
#include "test_util.h"
#if RECO_CUDA
#include "topk_gpu.h"
#endif

using namespace reco;

static std::string error_of(const std::string& flag) {
    try {
        resolve_device(flag);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("cuda device: --device auto|cpu|cuda resolves, and never crashes without a driver") {
    const int n = cuda_device_count();
    MESSAGE("CUDA devices: " << n << (n ? " (" + cuda_device_name() + ")" : " — " + cuda_unavailable_reason()));
    CHECK(n >= 0);
    CHECK(resolve_device("cpu") == Device::CPU);
    CHECK(std::string(device_name(Device::CPU)) == "cpu");
    CHECK(std::string(device_name(Device::CUDA)) == "cuda");
    CHECK(error_of("gpu").find("--device must be auto, cpu or cuda (got 'gpu')") != std::string::npos);
    CHECK(error_of("CUDA").find("--device must be auto, cpu or cuda") != std::string::npos);
    if (n == 0) {
        CHECK(resolve_device("auto") == Device::CPU);
        CHECK(resolve_device("") == Device::CPU);
        const std::string e = error_of("cuda");
        CHECK(e.find("--device cuda: no CUDA device available (") != std::string::npos);
        CHECK(e.find(cuda_unavailable_reason()) != std::string::npos);
        CHECK(!cuda_unavailable_reason().empty());
        CHECK(cuda_device_name().empty());
#if !RECO_CUDA
        CHECK(cuda_unavailable_reason().find("built without CUDA") != std::string::npos);
#endif
    } else {
        CHECK(resolve_device("auto") == Device::CUDA);
        CHECK(resolve_device("cuda") == Device::CUDA);
        CHECK(cuda_unavailable_reason().empty());
        CHECK(!cuda_device_name().empty());
    }
}

TEST_CASE("cuda device: a command-line --device cuda fails cleanly without a device") {
    if (cuda_device_count() > 0) {
        testutil::skip("a CUDA device is present");
        return;
    }
    REQUIRE_SHARED_DATA();  // a loadable model dir = a tiny fixture model + the real tokenizer files
    char tmpl[] = "/tmp/reco_dev_XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    const std::string cwd = getenv("PWD") ? getenv("PWD") : ".";
    const std::string tok = testutil::shared_data() + "/clip/hf_tokenizer/";
    const std::string abs_tok = tok[0] == '/' ? tok : cwd + "/" + tok;
    const std::string fx = cwd + "/tests/fixtures/tiny_clip_quickgelu_f32/";
    REQUIRE(system(("ln -s " + fx + "config.json " + fx + "model.safetensors " + abs_tok + "vocab.json " + abs_tok +
                    "merges.txt " + dir + "/").c_str()) == 0);
    std::string out;
    int rc = run_cmd(testutil::reco_bin() + "embed --model " + dir + " --text hello --device cuda", &out);
    CHECK(rc == 1);
    CHECK(out.find("--device cuda: no CUDA device available") != std::string::npos);
    rc = run_cmd(testutil::reco_bin() + "embed --model " + dir + " --text hello --device auto", &out);
    CHECK(rc == 0);
    CHECK(out.find("reco: no CUDA device found; running on the CPU") != std::string::npos);
    rc = run_cmd(testutil::reco_bin() + "embed --model " + dir + " --text hello --device gpu", &out);
    CHECK(rc == 1);
    CHECK(out.find("--device must be auto, cpu or cuda (got 'gpu')") != std::string::npos);
    REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}

#if RECO_CUDA
// The exact chain of topk.h, in the test (independent of both implementations).
static float chain(const float* x, const uint16_t* m, int d) {
    float acc = 0.0f;
    for (int c = 0; c < d; c++) acc = std::fma(x[c], half_to_float(m[c]), acc);
    return acc;
}
#endif

TEST_CASE("cuda top-k filter bound: chain(q,m)·2^σ ≤ Σ m·h + ||m||·E for random and adversarial rows") {
#if !RECO_CUDA
    testutil::skip("built without CUDA");
#else
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0, 1);
    std::uniform_real_distribution<float> ud(-1, 1);
    for (int d : {1, 7, 64, 100, 512, 768}) {
        const int dp = (d + 15) / 16 * 16, Q = 6;
        std::vector<float> x((size_t)Q * d);
        for (int q = 0; q < Q; q++) {
            // magnitudes from tiny to large, and one query with a few huge and many tiny components
            const float scale = std::ldexp(1.0f, -40 + 16 * q);
            for (int c = 0; c < d; c++) x[(size_t)q * d + c] = nd(rng) * scale * (q == 5 && c % 3 ? 1e-6f : 1.0f);
        }
        std::vector<uint16_t> h;
        std::vector<int> sigma;
        std::vector<float> E;
        REQUIRE(topk_prepare_queries(x.data(), Q, d, dp, h, sigma, E));
        REQUIRE(h.size() == (size_t)Q * dp);
        for (int q = 0; q < Q; q++) {
            const float* xq = x.data() + (size_t)q * d;
            float mx = 0;
            for (int c = 0; c < d; c++) mx = std::max(mx, std::fabs(xq[c]));
            const double mxs = std::ldexp((double)mx, sigma[q]);
            CHECK(mxs >= 16384.0);  // max |x|·2^σ in [2^14, 2^15)
            CHECK(mxs < 32768.0);
            for (int c = d; c < dp; c++) CHECK(h[(size_t)q * dp + c] == 0);  // zero padding
            double hn = 0;
            for (int c = 0; c < d; c++) hn += std::pow((double)half_to_float(h[(size_t)q * dp + c]), 2);
            hn = std::sqrt(hn);
            // the bound is useful: E is a tiny fraction of ||h|| (≈ d·2^-20 + 2^-16 + 2^-11-ish split error)
            CHECK(E[q] <= (d * std::ldexp(1.0, -20) + 1e-3) * hn);
            // rows: random, aligned with the rounding error of h (the worst case for the split), and
            // fp16 extremes
            for (int trial = 0; trial < 200; trial++) {
                std::vector<uint16_t> m(d);
                for (int c = 0; c < d; c++) {
                    const double hv = std::ldexp((double)half_to_float(h[(size_t)q * dp + c]), -sigma[q]);
                    const double delta = (double)xq[c] - hv;
                    float v = trial % 3 == 0   ? ud(rng)
                              : trial % 3 == 1 ? (delta >= 0 ? 1.0f : -1.0f) * std::fabs(ud(rng))
                                               : (xq[c] >= 0 ? 60000.0f : -60000.0f);
                    m[c] = float_to_half(v);
                }
                const double s = (double)chain(xq, m.data(), d);
                double tc = 0, mn = 0;  // exact Σ m·h (double holds fp16·fp16 products exactly) and ||m||
                for (int c = 0; c < d; c++) {
                    tc += (double)half_to_float(m[c]) * half_to_float(h[(size_t)q * dp + c]);
                    mn += std::pow((double)half_to_float(m[c]), 2);
                }
                const double lhs = std::ldexp(s, sigma[q]), rhs = tc + std::sqrt(mn) * E[q];
                INFO("d=" << d << " q=" << q << " trial=" << trial << " lhs=" << lhs << " rhs=" << rhs);
                CHECK(lhs <= rhs);
            }
        }
    }
    // outside [2^-90, 2^90] the filter is refused (the search then takes the exact path)
    std::vector<float> big(4, 1e30f), tiny(4, 1e-30f), zero(4, 0.0f);
    std::vector<uint16_t> h;
    std::vector<int> sg;
    std::vector<float> E;
    CHECK(!topk_prepare_queries(big.data(), 1, 4, 16, h, sg, E));
    CHECK(!topk_prepare_queries(tiny.data(), 1, 4, 16, h, sg, E));
    CHECK(topk_prepare_queries(zero.data(), 1, 4, 16, h, sg, E));
    CHECK(E[0] == 0.0f);
#endif
}
