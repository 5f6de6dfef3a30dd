// topk_gpu.h — exact top-k inner-product search over an fp16 memory on a CUDA device (SPEC §5).
//
// Same contract as topk_search (src/topk.h): every score is the reference fmaf chain
//     s = fmaf(q[d-1], m[d-1], … fmaf(q[1], m[1], fmaf(q[0], m[0], +0.0f)))
// in fp32, in increasing c, so scores are BIT-IDENTICAL to the CPU's and so are the indices
// (ties → lower index), whatever the GPU or the path. How that is done at tensor-core speed is in
// kernels/topk.cu and its parts (and docs/cuda.md): tensor cores only FILTER (a rigorous error bound decides which
// rows could still make a query's top k), and every row that passes is re-scored with the exact
// chain on CUDA cores.
//
// The memory is uploaded once when it fits in the device budget; otherwise it stays in host memory
// and is streamed tile by tile (pinned staging buffers, a copy stream overlapping the compute
// stream), and the search is still exact.
//
// Only exists in CUDA builds: include it under #if RECO_CUDA.
#pragma once
#if RECO_CUDA
#include <cstdint>
#include <memory>
#include <vector>

namespace reco {

struct TopkGpuOptions {
    size_t device_budget = 0;      // bytes the resident memory may take; 0 = 75% of the free device memory
    long long stream_tile_rows = 0;  // rows per streamed tile; 0 = about 256 MiB per tile
    bool force_stream = false;     // stream from host memory even when the memory would fit (tests, bench)
    int force_path = 0;            // 0 automatic, 1 fused scan (tensor-core filter), 2 exact GEMV path
};

class TopkGpu {
public:
    // mem_f16 [N, d] IEEE binary16 bits in host memory (e.g. a memory file's mmap). When streaming,
    // it is read at every search: keep it alive and unchanged as long as this object.
    TopkGpu(const uint16_t* mem_f16, int N, int d, const TopkGpuOptions& opt = TopkGpuOptions());
    ~TopkGpu();
    TopkGpu(const TopkGpu&) = delete;
    TopkGpu& operator=(const TopkGpu&) = delete;

    // topk_search's contract (topk.h): queries [Q,d] fp32 host, out_idx/out_score [Q,k] host,
    // exclude optional [Q] (-1 = none). Same argument checks and error messages. k ≤ 1024.
    void search(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude = nullptr);

    bool streaming() const;
    int rows() const;
    int dim() const;
    // Which path the last search took: "fused" (tensor-core filter + exact rescoring) or "exact"
    // (exact scores for every row + radix select), and how many rows it re-scored exactly.
    const char* last_path() const;
    long long last_rescored() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// One-shot convenience with topk_search's signature: uploads (or streams) and searches.
void topk_search_cuda(const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k, int* out_idx,
                      float* out_score, const int* exclude = nullptr, const TopkGpuOptions& opt = TopkGpuOptions());

// ---- exposed for tests/test_cuda_topk.cpp (host code, runs without a GPU) ----
// The per-query preparation of the tensor-core filter: sigma[q] (power-of-two scale), h [Q][dp]
// (fp16 bits of q·2^sigma, zero-padded to dp columns) and E[q] such that for every fp16 row m,
//     chain_score(q, m)·2^sigma  ≤  tc(m, h) + ||m||₂·E[q]
// for any fp32-accumulated tensor-core evaluation tc(m, h) of Σ m_c·h_c (see topk_bound.cu).
// Returns false when a query's magnitude is outside the range where the bound is proven
// (max |q_c| > 2^90, or 0 < max |q_c| < 2^-90): the search then uses the exact path.
bool topk_prepare_queries(const float* queries, int Q, int d, int dp, std::vector<uint16_t>& h,
                          std::vector<int>& sigma, std::vector<float>& E);

}  // namespace reco
#endif
