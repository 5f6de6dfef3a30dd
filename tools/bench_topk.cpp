// bench_topk.cpp — micro benchmark of reco::topk_search (exact, fp16 memory, fp32 accumulation).
//
// Same shape as tools/bench_topk_faiss.py (faiss IndexFlatIP, fp32 memory): random memory of
// N rows × d, Q queries, k neighbours, all rows L2-normalised. Prints queries/s.
//
// build: g++ -O3 -march=native -fopenmp -std=c++17 -Isrc tools/bench_topk.cpp
//            src/topk.cpp src/safetensors.cpp src/json.cpp src/common.cpp -o build/bench_topk
// run:   OMP_NUM_THREADS=2 build/bench_topk [N=1000000] [d=512] [Q=1024] [k=10] [repeats=1]
//        (RECO_ISA=avx512 etc. caps the kernel level: src/cpu_features.h)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <immintrin.h>
#include <omp.h>

#include "safetensors.h"
#include "cpu_features.h"
#include "topk.h"

// Deterministic per-index pseudo-random value in [-1, 1) (splitmix64), so generation parallelises.
static float rnd(uint64_t i) {
    uint64_t z = i + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)((z >> 40) * (1.0 / (1ULL << 23)) - 1.0);
}

static void random_unit_rows(std::vector<float>& x, long long n, int d, uint64_t seed) {
    #pragma omp parallel for schedule(static)
    for (long long i = 0; i < n; i++) {
        double ss = 0;
        for (int c = 0; c < d; c++) {
            float v = rnd(seed + (uint64_t)i * d + c);
            x[(size_t)i * d + c] = v;
            ss += (double)v * v;
        }
        float inv = (float)(1.0 / std::sqrt(ss));
        for (int c = 0; c < d; c++) x[(size_t)i * d + c] *= inv;
    }
}

static volatile double sink = 0;

// Σ of all values' bits as integers (a cheap op per load), every thread over a contiguous share.
__attribute__((target("avx512f,avx512bw"))) static double read_all_avx512(const uint16_t* p, size_t n) {
    double total = 0;
    #pragma omp parallel reduction(+ : total)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const size_t lo = n / T * t / 32 * 32, hi = t == T - 1 ? n : n / T * (t + 1) / 32 * 32;
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
        size_t i = lo;
        for (; i + 128 <= hi; i += 128) {
            s0 = _mm512_add_epi16(s0, _mm512_loadu_si512(p + i));
            s1 = _mm512_add_epi16(s1, _mm512_loadu_si512(p + i + 32));
            s2 = _mm512_add_epi16(s2, _mm512_loadu_si512(p + i + 64));
            s3 = _mm512_add_epi16(s3, _mm512_loadu_si512(p + i + 96));
        }
        uint16_t lanes[32];
        _mm512_storeu_si512(lanes, _mm512_add_epi16(_mm512_add_epi16(s0, s1), _mm512_add_epi16(s2, s3)));
        for (int j = 0; j < 32; j++) total += lanes[j];
        for (; i < hi; i++) total += p[i];
    }
    return total;
}
static double read_all(const uint16_t* p, size_t n) {
    if (reco::cpu_features().avx512f) return read_all_avx512(p, n);
    double total = 0;
    #pragma omp parallel for reduction(+ : total)
    for (size_t i = 0; i < n; i += 32) total += p[i];  // one value per cache line
    return total;
}

int main(int argc, char** argv) {
    long long N = argc > 1 ? atoll(argv[1]) : 1000000;
    int d = argc > 2 ? atoi(argv[2]) : 512;
    int Q = argc > 3 ? atoi(argv[3]) : 1024;
    int k = argc > 4 ? atoi(argv[4]) : 10;
    const int repeats = argc > 5 ? atoi(argv[5]) : 1;  // best of (for small, latency-bound batches)
    const int T = omp_get_max_threads();

    // Memory, generated in slabs of fp32 and stored as fp16 (1 GB at 1M × 512).
    std::vector<uint16_t> mem((size_t)N * d);
    const long long slab = 65536;
    std::vector<float> buf((size_t)slab * d);
    for (long long i0 = 0; i0 < N; i0 += slab) {
        long long n = std::min(slab, N - i0);
        random_unit_rows(buf, n, d, 1000003ULL * (uint64_t)i0 * d);
        #pragma omp parallel for schedule(static)
        for (long long j = 0; j < n * d; j++) mem[(size_t)i0 * d + j] = reco::float_to_half(buf[j]);
    }
    std::vector<float> queries((size_t)Q * d);
    random_unit_rows(queries, Q, d, 0xABCDEF12345ULL);

    std::vector<int> idx((size_t)Q * k);
    std::vector<float> score((size_t)Q * k);
    // Each repeat: one plain read of the whole fp16 memory (every thread sums its contiguous share with
    // 512-bit loads where the CPU has them), then one search. The read is this buffer's DRAM limit at
    // that moment, so a small batch's fraction of it is not skewed by the VM's bandwidth drifting
    // between bench_limits (the start of make bench) and this run.
    double sec = 1e30, read_sec = 1e30;
    for (int r = 0; r < std::max(1, repeats); r++) {
        auto t0 = std::chrono::steady_clock::now();
        const double v = read_all(mem.data(), mem.size());
        read_sec = std::min(read_sec, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        sink += v;
        t0 = std::chrono::steady_clock::now();
        reco::topk_search(queries.data(), mem.data(), Q, (int)N, d, k, idx.data(), score.data());
        sec = std::min(sec, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }

    // Sanity: the first two queries against the plain reference definition (bit-identical).
    std::vector<int> ridx((size_t)2 * k);
    std::vector<float> rscore((size_t)2 * k);
    int nq = std::min(Q, 2);
    reco::topk_search_reference(queries.data(), mem.data(), nq, (int)N, d, k, ridx.data(), rscore.data());
    bool same = true;
    for (int j = 0; j < nq * k; j++) same = same && ridx[j] == idx[j] && rscore[j] == score[j];

    double gflops = 2.0 * Q * (double)N * d / sec / 1e9;
    printf("reco topk_search [%s] N=%lld d=%d Q=%d k=%d threads=%d: %.4f s per batch (best of %d), %.1f queries/s "
           "(%.1f GFLOP/s, fp16 memory read at %.1f GB/s)%s\n",
           reco::isa_name(reco::isa_active()), N, d, Q, k, T, sec, std::max(1, repeats), Q / sec, gflops,
           2.0 * N * d / sec / 1e9, same ? "" : "  MISMATCH vs reference!");
    printf("plain read of the same fp16 memory, interleaved with the searches: %.1f GB/s (best of %d)\n",
           2.0 * N * d / read_sec / 1e9, std::max(1, repeats));
    return same ? 0 : 1;
}
