// bench_mpi_data.cpp — the inputs of tools/bench_mpi.sh: a random memory of N pairs × d written as S
// shards (OUT/memory/shard_NN.safetensors, one logical memory, SPEC §9), Q random queries as
// OUT/queries.npy (fp32), and T training pairs as OUT/train.safetensors. Rows are L2-normalised.
//
// run: build/bench_mpi_data OUT [N=200000] [d=512] [S=4] [Q=1024] [T=4096]
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "memory.h"

using namespace reco;

static void random_rows(std::vector<float>& x, size_t n, int d, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g;
    x.resize(n * d);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < d; c++) {
            x[i * d + c] = g(rng);
            s += (double)x[i * d + c] * x[i * d + c];
        }
        for (int c = 0; c < d; c++) x[i * d + c] = (float)(x[i * d + c] / std::sqrt(s));
    }
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT [N] [d] [S] [Q] [T]\n", argv[0]);
        return 2;
    }
    const std::string out = argv[1];
    const long N = argc > 2 ? atol(argv[2]) : 200000;
    const int d = argc > 3 ? atoi(argv[3]) : 512, S = argc > 4 ? atoi(argv[4]) : 4;
    const long Q = argc > 5 ? atol(argv[5]) : 1024, T = argc > 6 ? atol(argv[6]) : 4096;
    try {
        mkdir(out.c_str(), 0755);
        mkdir((out + "/memory").c_str(), 0755);
        std::vector<float> img, txt;
        for (int s = 0; s < S; s++) {
            const long n = N / S + (s < N % S ? 1 : 0);
            random_rows(img, n, d, 2 * s + 1);
            random_rows(txt, n, d, 2 * s + 2);
            write_embedding_file(strformat("%s/memory/shard_%02d.safetensors", out.c_str(), s), img.data(), txt.data(),
                                 (int)n, d, {}, "bench-clip");
        }
        random_rows(img, T, d, 1001);
        random_rows(txt, T, d, 1002);
        write_embedding_file(out + "/train.safetensors", img.data(), txt.data(), (int)T, d, {}, "bench-clip");
        random_rows(img, Q, d, 1003);
        // .npy v1.0: magic, version, header length, a dict padded with spaces to a multiple of 64, '\n'
        std::string h = strformat("{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %d), }", Q, d);
        while ((10 + h.size() + 1) % 64) h += ' ';
        h += '\n';
        FILE* f = fopen((out + "/queries.npy").c_str(), "wb");
        if (!f) fail("%s/queries.npy: cannot write", out.c_str());
        const unsigned short hl = (unsigned short)h.size();
        fwrite("\x93NUMPY\x01\x00", 1, 8, f);
        fwrite(&hl, 2, 1, f);
        fwrite(h.data(), 1, h.size(), f);
        fwrite(img.data(), 4, img.size(), f);
        if (fclose(f) != 0) fail("%s/queries.npy: write failed", out.c_str());
    } catch (const Error& e) {
        fprintf(stderr, "bench_mpi_data: %s\n", e.what());
        return 1;
    }
    printf("wrote %s: memory %ld x %d in %d shards, %ld queries, %ld training pairs\n", out.c_str(), N, d, S, Q, T);
    return 0;
}
