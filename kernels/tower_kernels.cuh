// tower_kernels.cuh — the hand-written kernels of CLIP's two towers (everything but the GEMMs).
//
// What runs where in one encoder layer (x = fp32 residual stream [B·T, C], act_t = fp16 or bf16):
//   ln   = LN1(x)                               layernorm_kernel            (fused into the previous step)
//   qkv  = ln·Wqkvᵀ                             cuBLAS, act_t out, no bias
//   att  = softmax(q·kᵀ·hd^-½ [+causal]) v      attention_*_kernel           (adds the q/k/v biases on load)
//   y    = att·Woᵀ                              cuBLAS
//   x   += y + b_o ; ln = LN2(x)                residual_layernorm_kernel
//   h    = ln·W1ᵀ                               cuBLAS
//   h    = act(h + b_1)                         bias_act_kernel              (quick_gelu or exact GELU)
//   y    = h·W2ᵀ                                cuBLAS
//   x   += y + b_2 ; ln = LN1 of the next layer residual_layernorm_kernel
// Biases are added by the kernel that reads the GEMM output anyway, so no cuBLASLt epilogue is
// needed: cuBLASLt's fused activations are ReLU and the tanh-approximated GELU, neither of which is
// CLIP's quick_gelu or nn.GELU's exact erf, and a bias-only epilogue would save no memory traffic
// over adding the bias here.
//
// Every kernel names the CPU reference it mirrors (ops.h, clip_vision.cpp, clip_text.cpp) and the
// CLIP step it implements (research/anchors.md A.3). Reductions (LayerNorm statistics, softmax,
// norms) are always fp32.
#pragma once
#include <mma.h>

#include "cuda_util.cuh"
#include "ops.h"  // Activation

namespace reco {
namespace tower {

// ------------------------------------------------------------------------------- patch embedding
// CLIP A.3 "conv stride=kernel=patch, no bias": im2col so that the conv is one GEMM.
// Mirrors im2col_patches (clip_vision.cpp): row (b, gy·G+gx), column (c·P + py)·P + px, i.e. the
// conv weight [C,3,P,P] flattened. pixels fp32 [B,3,S,S] → cols act_t [B·G², 3·P·P].
template <class T>
static __global__ void im2col_kernel(T* cols, const float* pixels, int B, int S, int P) {
    const int G = S / P, K = 3 * P * P;
    const size_t total = (size_t)B * G * G * K;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int col = (int)(idx % K);
        const size_t row = idx / K;
        const int b = (int)(row / (G * G)), g = (int)(row % (G * G));
        const int gy = g / G, gx = g % G;
        const int c = col / (P * P), py = (col / P) % P, px = col % P;
        cols[idx] = from_float<T>(pixels[(((size_t)b * 3 + c) * S + gy * P + py) * S + gx * P + px]);
    }
}

// CLIP A.3 "prepend class_embedding, add position_embedding" (before pre_layrnorm); SigLIP
// (hf SiglipVisionEmbeddings): no class token (class_emb = null), the conv's bias added here (patch_b).
// Mirrors the [CLS; patches] + positions loop of clip_encode_images_debug and, without the class token,
// siglip_encode_images_debug's (patch + bias) + position.
// patches fp32 [B·G², C] (the patch GEMM, no bias), x fp32 [B, T, C] with T = G² + 1 (CLIP) or G² (SigLIP).
static __global__ void vision_embed_kernel(float* x, const float* patches, const float* class_emb, const float* pos,
                                    int B, int T, int C, const float* patch_b = nullptr) {
    const int ncls = class_emb ? 1 : 0;
    const size_t total = (size_t)B * T * C;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(idx % C);
        const size_t bt = idx / C;
        const int t = (int)(bt % T), b = (int)(bt / T);
        float src;
        if (t < ncls) {
            src = class_emb[i];
        } else {
            src = patches[((size_t)b * (T - ncls) + t - ncls) * C + i];
            if (patch_b) src += patch_b[i];
        }
        x[idx] = src + pos[(size_t)t * C + i];
    }
}

// CLIP text embeddings: token_embedding[id] + position_embedding[t] (hf CLIPTextEmbeddings).
// Mirrors the embedding loop of clip_encode_texts_debug. ids [B, ld_ids] (ld_ids = 77), only the
// first T positions are used (the batch is cut after its last EOT, see clip_text.cpp).
static __global__ void text_embed_kernel(float* x, const int* ids, int ld_ids, const float* tok_emb, const float* pos,
                                  int B, int T, int C) {
    const size_t total = (size_t)B * T * C;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(idx % C);
        const size_t bt = idx / C;
        const int t = (int)(bt % T), b = (int)(bt / T);
        const int id = ids[(size_t)b * ld_ids + t];
        x[idx] = tok_emb[(size_t)id * C + i] + pos[(size_t)t * C + i];
    }
}

// ------------------------------------------------------------------------------- LayerNorm
// One warp per row, fp32 statistics, two passes (mean, then biased variance of x - mean):
//   out = (x - mean)·rstd·w + b,  rstd = 1/sqrt(var + eps)          mirrors ops.cpp layernorm_forward
// (the CPU accumulates in double; fp32 over ≤ 1024 values differs by ~1e-7 relative).
// rows (nullable): output row n reads input row rows[n] — CLS / EOT pooling gathers with it.
// out may alias inp (each element is read, then written, by the same lane, after the statistics).
template <class OutT>
static __global__ void layernorm_kernel(OutT* out, const float* inp, const int* rows, const float* w, const float* b,
                                 int N, int C, float eps) {
    const int warps = blockDim.x / 32;
    const int n = blockIdx.x * warps + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float* x = inp + (size_t)(rows ? rows[n] : n) * C;
    float s = 0;
    for (int i = lane; i < C; i += 32) s += x[i];
    const float mean = warp_sum(s) / C;
    float v = 0;
    for (int i = lane; i < C; i += 32) {
        const float d = x[i] - mean;
        v += d * d;
    }
    const float rstd = 1.0f / sqrtf(warp_sum(v) / C + eps);
    OutT* y = out + (size_t)n * C;
    for (int i = lane; i < C; i += 32) y[i] = from_float<OutT>((x[i] - mean) * rstd * w[i] + b[i]);
}

// The residual connection of a pre-LN block followed by the next LayerNorm, in one pass:
//   x += y + bias            (ops.cpp residual_add of matmul_forward's output, bias included there)
//   ln_out = LN(x; w, b)     (ops.cpp layernorm_forward) — skipped when ln_out is null (last layer)
// y is the raw GEMM output (act_t, no bias); x stays fp32 across the whole tower.
template <class T, class OutT>
static __global__ void residual_layernorm_kernel(float* x, const T* y, const float* bias, OutT* ln_out, const float* w,
                                          const float* b, int N, int C, float eps) {
    const int warps = blockDim.x / 32;
    const int n = blockIdx.x * warps + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    float* xr = x + (size_t)n * C;
    const T* yr = y + (size_t)n * C;
    float s = 0;
    for (int i = lane; i < C; i += 32) {
        const float v = xr[i] + (to_float(yr[i]) + bias[i]);
        xr[i] = v;
        s += v;
    }
    if (!ln_out) return;
    const float mean = warp_sum(s) / C;  // each lane re-reads only the values it wrote itself
    float var = 0;
    for (int i = lane; i < C; i += 32) {
        const float d = xr[i] - mean;
        var += d * d;
    }
    const float rstd = 1.0f / sqrtf(warp_sum(var) / C + eps);
    OutT* o = ln_out + (size_t)n * C;
    for (int i = lane; i < C; i += 32) o[i] = from_float<OutT>((xr[i] - mean) * rstd * w[i] + b[i]);
}

// ------------------------------------------------------------------------------- MLP activation
// h = act(h + bias), in place, h [N, M]: the fc1 bias of matmul_forward, then (ops.cpp activation_inplace)
//   quick_gelu: v·sigmoid(1.702v) = v / (1 + exp(-1.702v))     quick_gelu_inplace (OpenAI CLIP)
//   gelu:       ½v(1 + erf(v/√2))                               gelu_inplace (exact erf, nn.GELU)
//   gelu_tanh:  ½v(1 + tanh(√(2/π)(v + 0.044715v³)))            gelu_tanh_inplace (gelu_pytorch_tanh, SigLIP)
template <class T>
static __global__ void bias_act_kernel(T* h, const float* bias, size_t N, int M, Activation act) {
    const size_t total = N * (size_t)M;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const float v = to_float(h[idx]) + bias[idx % M];
        float a;
        if (act == Activation::quick_gelu) a = v / (1.0f + expf(-1.702f * v));
        else if (act == Activation::gelu) a = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        else a = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        h[idx] = from_float<T>(a);
    }
}

// out[n, :] += bias, fp32 [N, E]: the bias of a Linear whose GEMM wrote fp32 (SigLIP's text head).
static __global__ void add_bias_kernel(float* out, const float* bias, int N, int E) {
    const size_t total = (size_t)N * E;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x)
        out[idx] += bias[idx % E];
}

// ------------------------------------------------------------------------------- L2 normalise
// Each row of x [N, C] scaled to unit L2 norm; zero rows stay zero. Mirrors ops.cpp
// l2_normalize_rows (which sums in double; fp32 here). One warp per row.
static __global__ void l2_normalize_kernel(float* x, int N, int C) {
    const int warps = blockDim.x / 32;
    const int n = blockIdx.x * warps + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    float* r = x + (size_t)n * C;
    float s = 0;
    for (int i = lane; i < C; i += 32) s += r[i] * r[i];
    s = warp_sum(s);
    if (s > 0) {
        const float inv = 1.0f / sqrtf(s);
        for (int i = lane; i < C; i += 32) r[i] *= inv;
    }
}

// ------------------------------------------------------------------------------- attention
// Multi-head self-attention core of hf CLIPAttention (eager_attention_forward): for head h of item b,
//   S = q·kᵀ·hd^-½ (+ causal mask: keys j > i get -inf, text tower), P = softmax_j(S) in fp32,
//   out = P·v.
// Input is the raw fused projection qkv [B·T, 3C] (act_t, rows q | k | v, no bias) plus its bias
// qkv_b [3C] fp32, added here on load. Output att [B·T, C] act_t. Mirrors ops.cpp
// attention_forward_qkv after matmul_forward's bias.

// The fused tensor-core version for CLIP's short sequences (T ≤ 320, hd ∈ {32, 64, 128}; CLIP's
// towers all have hd = 64):
// one block per (b, h); K and V of the head (padded to Tp = ⌈T/16⌉·16 rows, zero rows) live in
// shared memory; each warp owns 16 query rows at a time:
//   1. stage its Q tile (+bias) and keep it in registers as hd/16 wmma fragments,
//   2. S tile by tile (16 keys) on tensor cores (fp32 accumulate) into its shared scratch [16][Tp],
//      skipping key tiles that the causal mask hides entirely,
//   3. softmax row by row in fp32 (32 lanes over the keys, warp shuffles), P written as act_t over
//      the first half of each S row (all lanes have read the row before anyone writes it),
//   4. O = P·V on tensor cores, through the scratch to global memory.
constexpr int kAttnMaxTp = 320;  // 10 scores per lane in the softmax

// Shared-memory bytes of attention_wmma_kernel for nwarps warps.
inline size_t attention_wmma_smem(int Tp, int hd, int nwarps, size_t elem) {
    return 2 * (size_t)Tp * hd * elem + (size_t)nwarps * 16 * std::max(Tp, hd) * sizeof(float);
}

template <class T, int HD>
static __global__ void attention_wmma_kernel(T* out, const T* qkv, const float* qkv_b, int Tn, int C, int NH, int Tp,
                                      bool causal, float scale) {
    using namespace nvcuda;
    constexpr int hd = HD, nhd = HD / 16;
    extern __shared__ __align__(128) unsigned char smem[];
    T* Ks = (T*)smem;                // [Tp][hd]
    T* Vs = Ks + (size_t)Tp * hd;    // [Tp][hd]
    float* scratch_all = (float*)(Vs + (size_t)Tp * hd);
    const int ld_scratch = max(Tp, hd);
    const int b = blockIdx.x / NH, h = blockIdx.x % NH;
    const size_t row0 = (size_t)b * Tn;
    const int C3 = 3 * C;

    // K, V of head h with their biases; rows Tn..Tp-1 are zero.
    for (int idx = threadIdx.x; idx < Tp * hd; idx += blockDim.x) {
        const int j = idx / hd, c = idx % hd;
        float kv = 0.0f, vv = 0.0f;
        if (j < Tn) {
            const T* r = qkv + (row0 + j) * C3 + h * hd + c;
            kv = to_float(r[C]) + qkv_b[C + h * hd + c];
            vv = to_float(r[2 * C]) + qkv_b[2 * C + h * hd + c];
        }
        Ks[idx] = from_float<T>(kv);
        Vs[idx] = from_float<T>(vv);
    }
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    float* S = scratch_all + (size_t)warp * 16 * ld_scratch;  // [16][Tp] scores (ld Tp)
    T* Qs = (T*)S;                                            // [16][hd] staging of the Q tile
    T* P = (T*)S;                                             // [16][2·Tp] probabilities (ld 2·Tp)

    for (int qt = warp; qt < Tp / 16; qt += nwarps) {
        const int q0 = qt * 16;
        // 1. Q tile + bias (zero rows past Tn), then into fragments
        for (int idx = lane; idx < 16 * hd; idx += 32) {
            const int r = idx / hd, c = idx % hd, i = q0 + r;
            const float qv = i < Tn ? to_float(qkv[(row0 + i) * C3 + h * hd + c]) + qkv_b[h * hd + c] : 0.0f;
            Qs[idx] = from_float<T>(qv);
        }
        __syncwarp();
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[nhd];
#pragma unroll
        for (int kk = 0; kk < nhd; kk++) wmma::load_matrix_sync(qf[kk], Qs + kk * 16, hd);
        __syncwarp();  // the staging area becomes the score tile

        // 2. scores for the key tiles this query tile can see
        const int jmax = causal ? min(Tn, q0 + 16) : Tn;
        const int nkt = (jmax + 15) / 16;
        for (int kt = 0; kt < nkt; kt++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < nhd; kk++) {
                // Kᵀ tile: element (c, j) = K[kt·16 + j][kk·16 + c] → col-major with ld hd
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
                wmma::load_matrix_sync(kf, Ks + (size_t)kt * 16 * hd + kk * 16, hd);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(S + kt * 16, acc, Tp, wmma::mem_row_major);
        }
        __syncwarp();

        // 3. softmax of each row over its visible keys j < jend, in fp32
        for (int r = 0; r < 16; r++) {
            const int i = q0 + r;
            const int jend = causal ? min(i + 1, Tn) : Tn;
            float v[kAttnMaxTp / 32];
            float mx = -INFINITY;
#pragma unroll
            for (int t = 0; t < kAttnMaxTp / 32; t++) {
                const int j = lane + 32 * t;
                v[t] = j < jend ? S[r * Tp + j] * scale : -INFINITY;
                mx = fmaxf(mx, v[t]);
            }
            mx = warp_max(mx);
            float sum = 0.0f;
#pragma unroll
            for (int t = 0; t < kAttnMaxTp / 32; t++) {
                const int j = lane + 32 * t;
                v[t] = j < jend ? expf(v[t] - mx) : 0.0f;
                sum += v[t];
            }
            const float inv = 1.0f / warp_sum(sum);
            __syncwarp();  // row r of S fully read by every lane before P row r (same bytes) is written
#pragma unroll
            for (int t = 0; t < kAttnMaxTp / 32; t++) {
                const int j = lane + 32 * t;
                if (j < nkt * 16) P[(size_t)r * 2 * Tp + j] = from_float<T>(v[t] * inv);
            }
        }
        __syncwarp();

        // 4. O = P·V over the same key tiles
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> of[nhd];
#pragma unroll
        for (int dt = 0; dt < nhd; dt++) wmma::fill_fragment(of[dt], 0.0f);
        for (int kt = 0; kt < nkt; kt++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
            wmma::load_matrix_sync(pf, P + kt * 16, 2 * Tp);
#pragma unroll
            for (int dt = 0; dt < nhd; dt++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
                wmma::load_matrix_sync(vf, Vs + (size_t)kt * 16 * hd + dt * 16, hd);
                wmma::mma_sync(of[dt], pf, vf, of[dt]);
            }
        }
        __syncwarp();  // P no longer needed: the scratch receives O [16][hd]
#pragma unroll
        for (int dt = 0; dt < nhd; dt++) wmma::store_matrix_sync(S + dt * 16, of[dt], hd, wmma::mem_row_major);
        __syncwarp();
        for (int idx = lane; idx < 16 * hd; idx += 32) {
            const int r = idx / hd, c = idx % hd, i = q0 + r;
            if (i < Tn) out[(row0 + i) * C + h * hd + c] = from_float<T>(S[idx]);
        }
        __syncwarp();  // before the next tile overwrites the scratch with its Q
    }
}

// The general version (any T, any hd): one block per (b, h), each warp one query row at a time;
// lanes split the keys for the scores and the channels for the output. K and V are read from
// global memory (L1/L2), fp32 arithmetic throughout. Shared memory per warp: T scores + hd q values.
constexpr int kAttnScalarWarps = 4;
inline size_t attention_scalar_smem(int Tn, int hd) { return (size_t)kAttnScalarWarps * (Tn + hd) * sizeof(float); }

template <class T>
static __global__ void attention_scalar_kernel(T* out, const T* qkv, const float* qkv_b, int Tn, int C, int NH, int hd,
                                        bool causal, float scale) {
    extern __shared__ __align__(128) unsigned char smem[];  // every kernel declares it alike
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float* att = (float*)smem + (size_t)warp * (Tn + hd);
    float* qv = att + Tn;
    const int b = blockIdx.x / NH, h = blockIdx.x % NH;
    const size_t row0 = (size_t)b * Tn;
    const int C3 = 3 * C;
    const float* bq = qkv_b + h * hd;
    const float* bk = qkv_b + C + h * hd;
    const float* bv = qkv_b + 2 * C + h * hd;
    for (int i = warp; i < Tn; i += kAttnScalarWarps) {
        for (int c = lane; c < hd; c += 32) qv[c] = to_float(qkv[(row0 + i) * C3 + h * hd + c]) + bq[c];
        __syncwarp();
        const int jend = causal ? i + 1 : Tn;
        float mx = -INFINITY;
        for (int j = lane; j < jend; j += 32) {
            const T* kr = qkv + (row0 + j) * C3 + C + h * hd;
            float s = 0.0f;
            for (int c = 0; c < hd; c++) s += qv[c] * (to_float(kr[c]) + bk[c]);
            s *= scale;
            att[j] = s;
            mx = fmaxf(mx, s);
        }
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int j = lane; j < jend; j += 32) {
            const float e = expf(att[j] - mx);
            att[j] = e;
            sum += e;
        }
        const float inv = 1.0f / warp_sum(sum);
        __syncwarp();  // every att[j] written before any lane reads all of them
        for (int c = lane; c < hd; c += 32) {
            float o = 0.0f;
            for (int j = 0; j < jend; j++)
                o += att[j] * inv * (to_float(qkv[(row0 + j) * C3 + 2 * C + h * hd + c]) + bv[c]);
            out[(row0 + i) * C + h * hd + c] = from_float<T>(o);
        }
        __syncwarp();  // before the next row overwrites att and qv
    }
}

// Which attention kernel runs, and how many warps the wmma one gets.
enum class AttnPath { automatic, wmma, scalar };

// Launch one attention over qkv [B·Tn, 3C] → out [B·Tn, C]. path = automatic picks the wmma kernel
// when its constraints hold and its shared memory fits, else the scalar one; forcing wmma where it
// cannot run throws.
template <class T>
inline void attention_forward(T* out, const T* qkv, const float* qkv_b, int B, int Tn, int C, int NH, bool causal,
                              cudaStream_t stream, AttnPath path = AttnPath::automatic) {
    const int hd = C / NH;
    const float scale = 1.0f / sqrtf((float)hd);
    const int Tp = (Tn + 15) / 16 * 16;
    int dev = 0, optin = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    int nwarps = 0;
    const bool shape_ok = (hd == 32 || hd == 64 || hd == 128) && Tp <= kAttnMaxTp;
    if (shape_ok && path != AttnPath::scalar)
        for (nwarps = 8; nwarps > 0; nwarps--)
            if (attention_wmma_smem(Tp, hd, nwarps, sizeof(T)) <= (size_t)optin) break;
    if (path == AttnPath::wmma && nwarps == 0)
        fail("attention: the tensor-core kernel cannot run T=%d hd=%d here (needs hd 32, 64 or 128, "
             "T <= %d and enough shared memory)", Tn, hd, kAttnMaxTp);
    if (nwarps > 0) {
        const size_t smem = attention_wmma_smem(Tp, hd, nwarps, sizeof(T));
        auto kernel = hd == 32 ? attention_wmma_kernel<T, 32>
                    : hd == 64 ? attention_wmma_kernel<T, 64> : attention_wmma_kernel<T, 128>;
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        kernel<<<B * NH, nwarps * 32, smem, stream>>>(out, qkv, qkv_b, Tn, C, NH, Tp, causal, scale);
    } else {
        const size_t smem = attention_scalar_smem(Tn, hd);
        if (smem > (size_t)optin) fail("attention: T=%d, hd=%d needs %zu bytes of shared memory", Tn, hd, smem);
        CUDA_CHECK(cudaFuncSetAttribute(attention_scalar_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
        attention_scalar_kernel<T><<<B * NH, kAttnScalarWarps * 32, smem, stream>>>(out, qkv, qkv_b, Tn, C, NH, hd,
                                                                                    causal, scale);
    }
    KERNEL_CHECK();
}

// ------------------------------------------------------------------------------- MAP head attention
// SigLIP's attention-pooling head (hf SiglipMultiheadAttentionPoolingHead: nn.MultiheadAttention with
// one learned query, the probe). For item b and head h:
//   s_t = (q_h · (k_t,h + bk_h))·hd^-½ over the T tokens, p = softmax_t(s) in fp32,
//   out_h = Σ_t p_t·(v_t,h + bv_h).
// q [C] fp32 = probe·Wqᵀ + bq (the same for every image: computed once at load); kv [B·T, 2C] act_t =
// h·W_{k|v}ᵀ (rows k | v, no bias); kv_b [2C] fp32, added on load; out [B, C] act_t.
// Mirrors map_head in siglip_towers.cpp: each score, the softmax and each weighted sum in its order.
// One warp per (b, h): lanes split the tokens for the scores and the channels for the output;
// shared memory: T scores.
template <class T>
static __global__ void map_attention_kernel(T* out, const float* q, const T* kv, const float* kv_b, int Tn, int C,
                                            int NH) {
    extern __shared__ __align__(128) unsigned char smem[];  // every kernel declares it alike
    float* s = (float*)smem;                                // [Tn]
    const int b = blockIdx.x / NH, h = blockIdx.x % NH, lane = threadIdx.x % 32;
    const int hd = C / NH, C2 = 2 * C;
    const float scale = 1.0f / sqrtf((float)hd);
    const float* qh = q + h * hd;
    const float* bk = kv_b + h * hd;
    const float* bv = kv_b + C + h * hd;
    const T* kvb = kv + (size_t)b * Tn * C2;
    float mx = -INFINITY;
    for (int t = lane; t < Tn; t += 32) {
        const T* kr = kvb + (size_t)t * C2 + h * hd;
        float d = 0.0f;
        for (int i = 0; i < hd; i++) d += qh[i] * (to_float(kr[i]) + bk[i]);
        s[t] = d * scale;
        mx = fmaxf(mx, s[t]);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int t = lane; t < Tn; t += 32) {
        const float e = expf(s[t] - mx);
        s[t] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    __syncwarp();  // every s[t] written before any lane reads all of them
    for (int c = lane; c < hd; c += 32) {
        float o = 0.0f;
        for (int t = 0; t < Tn; t++) o += s[t] / sum * (to_float(kvb[(size_t)t * C2 + C + h * hd + c]) + bv[c]);
        out[(size_t)b * C + h * hd + c] = from_float<T>(o);
    }
}

template <class T>
inline void map_attention(T* out, const float* q, const T* kv, const float* kv_b, int B, int Tn, int C, int NH,
                          cudaStream_t stream) {
    const size_t smem = (size_t)Tn * sizeof(float);
    int dev = 0, optin = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > (size_t)optin) fail("MAP head: %d tokens need %zu bytes of shared memory", Tn, smem);
    CUDA_CHECK(cudaFuncSetAttribute(map_attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    map_attention_kernel<T><<<B * NH, 32, smem, stream>>>(out, q, kv, kv_b, Tn, C, NH);
    KERNEL_CHECK();
}

// ------------------------------------------------------------------------------- launch helpers
inline int grid_for(size_t total, int threads = 256) {
    const size_t g = (total + threads - 1) / threads;
    return (int)std::min<size_t>(std::max<size_t>(g, 1), 65535u * 16);
}
inline int rows_grid(int N, int warps_per_block = 8) {
    return std::max(1, (N + warps_per_block - 1) / warps_per_block);
}

}  // namespace tower
}  // namespace reco
