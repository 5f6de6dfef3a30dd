// topk_exact.cuh — exact re-scoring on CUDA cores: the reference fmaf chain of SPEC §5 (paper §3,
// KNN(v, M)) for a block of (query, row) pairs. Part of the GPU top-k (kernels/topk.cu).
// Used for the exact path, for the pre-pass that seeds the fused scan's threshold, and (inline, from
// shared memory) by the fused scan itself (topk_filter.cuh).
#pragma once
#include <cuda_fp16.h>

#include "topk_params.cuh"

namespace reco {
namespace topk {

// S[q][j] = the reference chain of query q and row j:  acc = fmaf(x[c], m[c], acc), c = 0..d-1.
// Block: 64 rows × 16 queries, 256 threads, each thread one row × 4 queries; the rows and queries
// pass through shared memory in chunks of 32 components, consumed in increasing c, so each
// output is exactly one in-order chain (topk.cpp's micro-kernels do the same on the CPU).
// rows: row j at rows + j·row_stride (fp16 bits); x [Q][d] fp32.
__global__ void __launch_bounds__(kThreads) exact_scores_kernel(float* S, long long ldS, const float* x, int Q,
                                                                const __half* rows, long long row_stride, int n,
                                                                int d) {
    __shared__ float ms[64][33];
    __shared__ float xs[16][33];
    const int r = threadIdx.x % 64, qgrp = threadIdx.x / 64;
    const long long row0 = (long long)blockIdx.x * 64;
    const int q0 = blockIdx.y * 16;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c0 = 0; c0 < d; c0 += 32) {
        for (int e = threadIdx.x; e < 64 * 32; e += kThreads) {
            const int rr = e / 32, cc = e % 32;
            const long long j = row0 + rr;
            ms[rr][cc] = (j < n && c0 + cc < d) ? __half2float(rows[j * row_stride + c0 + cc]) : 0.0f;
        }
        for (int e = threadIdx.x; e < 16 * 32; e += kThreads) {
            const int qq = e / 32, cc = e % 32;
            xs[qq][cc] = (q0 + qq < Q && c0 + cc < d) ? x[(size_t)(q0 + qq) * d + c0 + cc] : 0.0f;
        }
        __syncthreads();
        const int cn = min(32, d - c0);  // never a padded term: the chain has exactly d steps
        for (int cc = 0; cc < cn; cc++) {
            const float m = ms[r][cc];
#pragma unroll
            for (int t = 0; t < 4; t++) acc[t] = __fmaf_rn(xs[qgrp * 4 + t][cc], m, acc[t]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int t = 0; t < 4; t++) {
        const int q = q0 + qgrp * 4 + t;
        const long long j = row0 + r;
        if (q < Q && j < n) S[(size_t)q * ldS + j] = acc[t];
    }
}

}  // namespace topk
}  // namespace reco
