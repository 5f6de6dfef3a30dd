// bench_gpu.cpp — reco's CUDA paths, timed on one GPU, for tools/gpu_check.sh (which puts them beside
// PyTorch eager fp16 from tools/bench_gpu_torch.py). Every figure is printed as one line
//     RESULT <key> <value>
// that the script greps. Random weights and data (the shapes are what matter):
//   towers  ViT-B/32- and ViT-L/14-shaped CLIPs (fp16): images/s (pixels already on the device)
//           and texts/s (12-token prompts; host ids, as the encoder receives them)
//   top-k   1M and 10M × 512 fp16 memories, 1 / 64 / 1024 queries, k = 10: queries/s and effective
//           GB/s (memory bytes / time per search call); 10M also streamed from host memory
//   fusion  RECO training steps/s at d = 512, k = 10, batch 256 (inputs on the device)
// usage: build/bench_gpu [seconds per figure = 2] [sections = towers,topk,fusion]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <omp.h>

#include "adamw.h"
#include "clip_gpu.h"
#include "clip_model.h"
#include "common.h"
#include "device.h"
#include "fusion.h"
#include "fusion_gpu.h"
#include "safetensors.h"
#include "topk_gpu.h"

using namespace reco;

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Calls fn (which must synchronise) until `secs` have passed (at least twice, after one warm-up);
// returns seconds per call.
static double time_per_call(const std::function<void()>& fn, double secs) {
    fn();
    int n = 0;
    const double t0 = now();
    double el = 0;
    do {
        fn();
        n++;
        el = now() - t0;
    } while (el < secs || n < 2);
    return el / n;
}

// Fast parallel pseudo-random fill (a per-element hash; the values only need to look random).
static inline float hash_normalish(uint64_t i, uint64_t seed) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 29, x *= 0x94D049BB133111EBull, x ^= x >> 32;
    // sum of 4 uniform bytes pairs ≈ normal-ish, mean 0, sd ≈ 1
    float s = 0;
    for (int k = 0; k < 4; k++) s += (float)((x >> (16 * k)) & 0xFFFF) / 65535.0f;
    return (s - 2.0f) * 1.7320508f;
}
static void fill(std::vector<float>& v, size_t n, uint64_t seed, float scale, float offset = 0) {
    v.resize(n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) v[i] = offset + scale * hash_normalish(i, seed);
}

static void random_layer(ClipLayer& L, int C, int M, uint64_t seed) {
    fill(L.ln1_w, C, seed + 1, 0.02f, 1), fill(L.ln1_b, C, seed + 2, 0.02f);
    fill(L.qkv_w, (size_t)3 * C * C, seed + 3, 0.02f), fill(L.qkv_b, 3 * C, seed + 4, 0.02f);
    fill(L.out_w, (size_t)C * C, seed + 5, 0.02f), fill(L.out_b, C, seed + 6, 0.02f);
    fill(L.ln2_w, C, seed + 7, 0.02f, 1), fill(L.ln2_b, C, seed + 8, 0.02f);
    fill(L.fc1_w, (size_t)M * C, seed + 9, 0.02f), fill(L.fc1_b, M, seed + 10, 0.02f);
    fill(L.fc2_w, (size_t)C * M, seed + 11, 0.02f), fill(L.fc2_b, C, seed + 12, 0.02f);
}

// A CLIP with the shapes of openai/clip-vit-base-patch32 (large = false) or -large-patch14.
static ClipModel random_clip(bool large) {
    ClipModel m;
    ClipConfig& c = m.cfg;
    c.vision =
        large ? ClipTowerConfig{1024, 24, 16, 4096, 1e-5f, Activation::quick_gelu} : ClipTowerConfig{768, 12, 12, 3072, 1e-5f, Activation::quick_gelu};
    c.text = large ? ClipTowerConfig{768, 12, 12, 3072, 1e-5f, Activation::quick_gelu} : ClipTowerConfig{512, 12, 8, 2048, 1e-5f, Activation::quick_gelu};
    c.patch = large ? 14 : 32, c.image_size = 224, c.projection_dim = large ? 768 : 512;
    const int Cv = c.vision.hidden, Ct = c.text.hidden, E = c.projection_dim, P = c.patch, T = c.vision_tokens();
    fill(m.vision.patch_w, (size_t)Cv * 3 * P * P, 1, 0.02f);
    fill(m.vision.class_emb, Cv, 2, 0.02f);
    fill(m.vision.pos_emb, (size_t)T * Cv, 3, 0.02f);
    fill(m.vision.pre_ln_w, Cv, 4, 0.02f, 1), fill(m.vision.pre_ln_b, Cv, 5, 0.02f);
    m.vision.layers.resize(c.vision.layers);
    for (size_t l = 0; l < m.vision.layers.size(); l++)
        random_layer(m.vision.layers[l], Cv, c.vision.mlp, 100 + 20 * l);
    fill(m.vision.post_ln_w, Cv, 6, 0.02f, 1), fill(m.vision.post_ln_b, Cv, 7, 0.02f);
    fill(m.vision.proj, (size_t)E * Cv, 8, 0.02f);
    fill(m.text.tok_emb, (size_t)c.vocab_size * Ct, 9, 0.02f);
    fill(m.text.pos_emb, (size_t)77 * Ct, 10, 0.02f);
    m.text.layers.resize(c.text.layers);
    for (size_t l = 0; l < m.text.layers.size(); l++) random_layer(m.text.layers[l], Ct, c.text.mlp, 900 + 20 * l);
    fill(m.text.final_ln_w, Ct, 11, 0.02f, 1), fill(m.text.final_ln_b, Ct, 12, 0.02f);
    fill(m.text.proj, (size_t)E * Ct, 13, 0.02f);
    return m;
}

static void bench_towers(double secs) {
    for (bool large : {false, true}) {
        const char* name = large ? "L14" : "B32";
        const double t0 = now();
        ClipModel m = random_clip(large);
        ClipGpu g(m, /*bf16=*/false);  // passes of 256 images / 1024 texts
        printf("# towers %s: model built and uploaded in %.1f s (%.0f MB of weights)\n", name, now() - t0,
               g.weight_bytes() / 1e6);
        const int S = m.cfg.image_size, E = m.cfg.projection_dim;
        const int nimg = 256;
        std::vector<float> pix;
        fill(pix, (size_t)nimg * 3 * S * S, 77, 1.0f);
        float *dpix = nullptr, *dout = nullptr;
        if (cudaMalloc((void**)&dpix, pix.size() * 4) != cudaSuccess ||
            cudaMalloc((void**)&dout, (size_t)nimg * E * 4) != cudaSuccess)
            fail("cudaMalloc failed");
        cudaMemcpy(dpix, pix.data(), pix.size() * 4, cudaMemcpyHostToDevice);
        const double ti = time_per_call([&] { g.encode_images_device(dpix, nimg, dout); }, secs);
        printf("RESULT %s_images_per_s %.1f\n", name, nimg / ti);
        // texts: 1024 prompts of 12 tokens (SOT + 10 words + EOT, zero padded): the batch is cut at 12
        const int ntxt = 1024;
        std::vector<int> ids((size_t)ntxt * 77, 0);
        for (int b = 0; b < ntxt; b++) {
            ids[(size_t)b * 77] = 49406;
            for (int t = 1; t <= 10; t++) ids[(size_t)b * 77 + t] = 1000 + (b * 31 + t * 7) % 40000;
            ids[(size_t)b * 77 + 11] = 49407;
        }
        std::vector<float> out((size_t)ntxt * E);
        const double tt = time_per_call([&] { g.encode_texts(ids.data(), ntxt, out.data()); }, secs);
        printf("RESULT %s_texts_per_s %.1f\n", name, ntxt / tt);
        cudaFree(dpix);
        cudaFree(dout);
        fflush(stdout);
    }
}

static void bench_topk(double secs) {
    const int d = 512, k = 10;
    for (long long N : {1000000LL, 10000000LL}) {
        const double t0 = now();
        std::vector<uint16_t> mem((size_t)N * d);
#pragma omp parallel for schedule(static)
        for (long long i = 0; i < N; i++) {  // random unit rows in fp16
            float row[512];
            double s = 0;
            for (int c = 0; c < d; c++) {
                row[c] = hash_normalish((uint64_t)i * d + c, 5);
                s += (double)row[c] * row[c];
            }
            const float inv = (float)(1.0 / std::sqrt(s));
            for (int c = 0; c < d; c++) mem[(size_t)i * d + c] = float_to_half(row[c] * inv);
        }
        const std::string tag = N == 1000000 ? "1M" : "10M";
        for (bool stream : {false, true}) {
            if (stream && N != 10000000) continue;
            TopkGpuOptions opt;
            opt.force_stream = stream;
            TopkGpu g(mem.data(), (int)N, d, opt);
            printf("# topk %s%s: memory made and %s in %.1f s\n", tag.c_str(), stream ? " streamed" : "",
                   stream ? "kept on the host" : "uploaded", now() - t0);
            for (int Q : {1, 64, 1024}) {
                if (stream && Q != 64) continue;
                std::vector<float> q;
                fill(q, (size_t)Q * d, 1000 + Q, 1.0f / std::sqrt((float)d));
                std::vector<int> idx((size_t)Q * k);
                std::vector<float> sc((size_t)Q * k);
                const double t = time_per_call([&] { g.search(q.data(), Q, k, idx.data(), sc.data()); }, secs);
                const std::string key = tag + (stream ? "_stream" : "") + "_q" + std::to_string(Q);
                printf("RESULT topk_%s_queries_per_s %.1f\n", key.c_str(), Q / t);
                printf("RESULT topk_%s_GBps %.1f\n", key.c_str(), (double)N * d * 2 / t / 1e9);
                printf("# topk %s: path %s, %lld rows re-scored exactly per search\n", key.c_str(), g.last_path(),
                       g.last_rescored());
                fflush(stdout);
            }
        }
    }
}

static void bench_fusion(double secs) {
    FusionDims dims;
    dims.d = 512, dims.heads = 8;
    FusionModel model;
    model.init(dims, (float)std::log(1 / 0.07), 1);
    const int B = 256, k = 10, d = dims.d;
    std::vector<float> V, T, a, b;
    fill(V, (size_t)B * d, 1, 0.044f), fill(T, (size_t)B * d, 2, 0.044f);
    fill(a, (size_t)B * k * d, 3, 0.044f), fill(b, (size_t)B * k * d, 4, 0.044f);
    float *dV, *dT, *da, *db;
    cudaMalloc((void**)&dV, V.size() * 4), cudaMalloc((void**)&dT, T.size() * 4);
    cudaMalloc((void**)&da, a.size() * 4), cudaMalloc((void**)&db, b.size() * 4);
    cudaMemcpy(dV, V.data(), V.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dT, T.data(), T.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(da, a.data(), a.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice);
    FusionGpu g(model);
    float loss = 0;
    const double t = time_per_call([&] { loss = g.train_step_device(dV, dT, da, db, B, k, 1e-3); }, secs);
    printf("# fusion d=%d k=%d batch=%d: last loss %.4f\n", d, k, B, loss);
    printf("RESULT fusion_steps_per_s %.2f\n", 1.0 / t);
    cudaFree(dV), cudaFree(dT), cudaFree(da), cudaFree(db);
}

int main(int argc, char** argv) {
    const double secs = argc > 1 ? atof(argv[1]) : 2.0;
    const std::string sections = argc > 2 ? argv[2] : "towers,topk,fusion";
    if (cuda_device_count() == 0) {
        fprintf(stderr, "bench_gpu: no CUDA device (%s)\n", cuda_unavailable_reason().c_str());
        return 1;
    }
    printf("# device: %s\n", cuda_device_name().c_str());
    {  // the memory bandwidth the top-k figures are judged against: a 4 GB device-to-device copy
        const size_t bytes = 4ull << 30;
        void *a = nullptr, *b = nullptr;
        if (cudaMalloc(&a, bytes) == cudaSuccess && cudaMalloc(&b, bytes) == cudaSuccess) {
            cudaMemset(a, 1, bytes);
            const double t = time_per_call(
                [&] {
                    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
                    cudaDeviceSynchronize();
                },
                1.0);
            printf("RESULT device_copy_GBps %.1f\n", 2.0 * bytes / t / 1e9);  // bytes read + written
        }
        cudaFree(a), cudaFree(b);
    }
    int rc = 0;
    auto run = [&](const char* name, void (*fn)(double)) {
        if (sections.find(name) == std::string::npos) return;
        try {
            fn(secs);
        } catch (const std::exception& e) {
            printf("# %s failed: %s\n", name, e.what());
            rc = 1;
        }
        fflush(stdout);
    };
    run("towers", bench_towers);
    run("topk", bench_topk);
    run("fusion", bench_fusion);
    return rc;
}
