// bench_gemm.cpp — reco's CPU GEMM (gemm.cpp) on the ViT-B/32 tower shapes, fp32 and --precision bf16,
// best of REPEATS short runs (like bench_limits, so the two are comparable on a shared machine):
//   M = 50·batch tokens; qkv K=768 N=2304, out K=768 N=768, fc1 K=768 N=3072, fc2 K=3072 N=768.
// Prints "gemm fp32 GFLOP/s X" / "gemm bf16 GFLOP/s Y" (FLOP-weighted over the four shapes, i.e. one
// layer's GEMMs) and each shape's figure. Threads: OMP_NUM_THREADS.
//   build/bench_gemm [batch=16] [repeats=7]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu_features.h"
#include "ops.h"

using namespace reco;

int main(int argc, char** argv) {
    const int batch = argc > 1 ? atoi(argv[1]) : 16, repeats = argc > 2 ? atoi(argv[2]) : 7;
    const int M = 50 * batch;
    const int shapes[4][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
    const char* names[4] = {"qkv", "out", "fc1", "fc2"};
    std::mt19937 rng(0);
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> x((size_t)M * 3072), y((size_t)M * 3072);
    for (auto& v : x) v = nd(rng);
    for (Precision p : {Precision::fp32, Precision::bf16}) {
        if (p == Precision::bf16 && isa_active() < Isa::avx512_bf16) continue;
        double total_flop = 0, total_sec = 0;
        for (int s = 0; s < 4; s++) {
            const int K = shapes[s][0], N = shapes[s][1];
            std::vector<float> w((size_t)N * K), b(N);
            for (auto& v : w) v = 0.02f * nd(rng);
            PackedWeight pw;
            pack_weight(pw, w.data(), N, K, p);
            double best = 1e30;
            for (int r = 0; r < repeats; r++) {
                auto t0 = std::chrono::steady_clock::now();
                matmul_forward_packed(y.data(), x.data(), pw, b.data(), M);
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            const double flop = 2.0 * M * K * N;
            printf("gemm %s %s M=%d K=%d N=%d: %.1f GFLOP/s\n", precision_name(p), names[s], M, K, N, flop / best / 1e9);
            total_flop += flop, total_sec += best;
        }
        printf("gemm %s GFLOP/s %.1f (one layer's four GEMMs, best of %d each)\n", precision_name(p),
               total_flop / total_sec / 1e9, repeats);
    }
    return 0;
}
