// topk_select_kernels.cuh — the selection kernels of the GPU top-k (kernels/topk.cu): scores → keys →
// the k best per list, lists → their k best, and the final sort. Built on the block primitives of
// topk_select.cuh (ranking keys, block radix select).
#pragma once
#include <cmath>
#include <cstdint>

#include "topk_params.cuh"
#include "topk_select.cuh"

namespace reco {
namespace topk {

// Chunk c of query q's scores S[q][0..n): keys (index = idx_base + j·idx_stride; the excluded
// index gets the padding key 0) → its k best into cand[(q·lists_per_q + list0 + c)·k ...].
// Grid (Q, chunks).
__global__ void __launch_bounds__(kThreads) select_scores_kernel(uint64_t* cand, int lists_per_q, int list0,
                                                                 const float* S, long long ldS, int n,
                                                                 long long idx_base, long long idx_stride,
                                                                 const int* exclude, int k) {
    extern __shared__ __align__(128) unsigned char smem[];
    __shared__ SelectShared sh;
    uint64_t* keys = (uint64_t*)smem;
    const int q = blockIdx.x, c = blockIdx.y;
    const int j0 = c * kScoreChunk, cnt = min(kScoreChunk, n - j0);
    const long long ex = exclude ? exclude[q] : -1;
    for (int i = threadIdx.x; i < cnt; i += kThreads) {
        const long long idx = idx_base + (long long)(j0 + i) * idx_stride;
        keys[i] = idx == ex ? 0ull : make_key(S[(size_t)q * ldS + j0 + i], (uint32_t)idx);
    }
    __syncthreads();
    block_select_topk([&](int i) { return keys[i]; }, cnt, k, cand + ((size_t)q * lists_per_q + list0 + c) * k, sh);
}

// List L = in[L·in_stride .. + n) → its k best into out[L·k ..). out must not overlap in.
__global__ void __launch_bounds__(kThreads) select_lists_kernel(uint64_t* out, const uint64_t* in,
                                                                long long in_stride, int n, int k) {
    __shared__ SelectShared sh;
    const uint64_t* list = in + (size_t)blockIdx.x * in_stride;
    block_select_topk([&](int i) { return list[i]; }, n, k, out + (size_t)blockIdx.x * k, sh);
}

// best [Q][k] keys → out_idx / out_score [Q][k], sorted best first. Grid Q, smem 2·k keys.
__global__ void __launch_bounds__(kThreads) finalize_kernel(int* out_idx, float* out_score, const uint64_t* best,
                                                            int k) {
    extern __shared__ __align__(128) unsigned char smem[];
    uint64_t* keys = (uint64_t*)smem;
    uint64_t* sorted = keys + k;
    const int q = blockIdx.x;
    for (int i = threadIdx.x; i < k; i += kThreads) keys[i] = best[(size_t)q * k + i];
    __syncthreads();
    block_rank_sort_desc(keys, k, sorted);
    for (int i = threadIdx.x; i < k; i += kThreads) {
        const uint64_t key = sorted[i];
        out_idx[(size_t)q * k + i] = key ? key_index(key) : -1;
        out_score[(size_t)q * k + i] = key ? key_score(key) : -INFINITY;
    }
}

}  // namespace topk
}  // namespace reco
