// topk_select.cuh — k-selection building blocks of the GPU top-k (kernels/topk.cu).
//
// Ranking keys. topk.h ranks (score, index) pairs by score descending, then index ascending. We
// pack a pair into one 64-bit unsigned key whose natural order IS that ranking:
//     key = (monotone_bits(score) << 32) | ~index
// monotone_bits maps a float to a uint32 that grows with the float (sign bit flipped for positives,
// all bits flipped for negatives; -0.0 is first turned into +0.0 because topk.h treats them as
// equal), and ~index makes the LOWER index the LARGER key. Distinct indices give distinct keys, so
// "the k best pairs" is exactly "the k largest keys", and every selection below only ever compares
// integers: no tie-breaking code anywhere. Key 0 (a NaN score, impossible for finite inputs) is the
// padding sentinel: it ranks below every real pair and decodes to index -1.
//
// block_select_topk: the k largest of n keys, by one block, with a most-significant-digit radix
// select (8 bits a pass, at most 8 passes, usually 2–3): histogram the current digit of the keys
// that still match the prefix, walk the bins from the top until k keys are covered, fix that digit,
// repeat. Keys strictly above the final prefix are all in; keys equal to it fill the rest. No sort,
// no data movement between passes, shared memory = one 256-bin histogram.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda_util.cuh"

namespace reco {
namespace topk {

__host__ __device__ __forceinline__ uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}
__host__ __device__ __forceinline__ float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

__host__ __device__ __forceinline__ uint64_t make_key(float score, uint32_t index) {
    if (score == 0.0f) score = 0.0f;  // -0.0 → +0.0
    uint32_t u = float_bits(score);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((uint64_t)u << 32) | (uint32_t)~index;
}
__host__ __device__ __forceinline__ float key_score(uint64_t key) {
    uint32_t u = (uint32_t)(key >> 32);
    u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    return bits_float(u);
}
__host__ __device__ __forceinline__ int key_index(uint64_t key) { return (int)~(uint32_t)key; }

// Shared state of one block_select_topk call (declare it __shared__ in the calling kernel).
struct SelectShared {
    unsigned int hist[256];
    unsigned long long prefix;
    int need, done, n_above, n_eq;
};

// The k largest of the keys get(0..n-1) into out[0..k), in no particular order, padded with 0 when
// n < k. Every thread of the block calls it with the same n, k, out. Keys must be distinct apart
// from 0. out may be shared or global memory; get may read either. Ends with __syncthreads().
template <class Get>
__device__ void block_select_topk(Get get, int n, int k, uint64_t* out, SelectShared& sh) {
    const int tid = threadIdx.x, nt = blockDim.x;
    if (n <= k) {
        for (int i = tid; i < k; i += nt) out[i] = i < n ? get(i) : 0ull;
        __syncthreads();
        return;
    }
    uint64_t prefix = 0, mask = 0;
    int need = k;  // keys still to take among those matching prefix under mask (always ≥ 1)
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += nt) sh.hist[i] = 0;
        __syncthreads();
        for (int i = tid; i < n; i += nt) {
            const uint64_t key = get(i);
            if ((key & mask) == prefix) atomicAdd(&sh.hist[(unsigned)(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            // highest bin b such that the keys in bins above b number < need ≤ those in bins ≥ b
            int cum = 0, b = 255;
            while (b > 0 && cum + (int)sh.hist[b] < need) cum += (int)sh.hist[b--];
            sh.need = need - cum;
            sh.prefix = prefix | ((uint64_t)b << shift);
            sh.done = (int)sh.hist[b] == need - cum;  // every key of bin b is taken: stop early
        }
        __syncthreads();
        need = sh.need;
        prefix = sh.prefix;
        mask |= 0xFFull << shift;
        if (sh.done) break;  // same value for every thread (read after the barrier)
    }
    // Keys above the prefix (k - need of them) are all selected; `need` of those equal to it follow.
    // After all 8 passes, several keys can equal the prefix only if they are 0 (padding): any will do.
    if (tid == 0) sh.n_above = 0, sh.n_eq = 0;
    __syncthreads();
    const int above = k - need;
    for (int i = tid; i < n; i += nt) {
        const uint64_t key = get(i), m = key & mask;
        if (m > prefix) {
            out[atomicAdd(&sh.n_above, 1)] = key;
        } else if (m == prefix) {
            const int r = atomicAdd(&sh.n_eq, 1);
            if (r < need) out[above + r] = key;
        }
    }
    __syncthreads();
}

// keys[0..k) (shared memory) → out[0..k) sorted descending, by rank: the rank of key i is the number
// of keys above it plus the number of equal keys (padding zeros) before it. O(k²), k ≤ 1024.
__device__ inline void block_rank_sort_desc(const uint64_t* keys, int k, uint64_t* out) {
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const uint64_t ki = keys[i];
        int rank = 0;
        for (int j = 0; j < k; j++) {
            const uint64_t kj = keys[j];
            rank += (kj > ki) || (kj == ki && j < i);
        }
        out[rank] = ki;
    }
    __syncthreads();
}

}  // namespace topk
}  // namespace reco
