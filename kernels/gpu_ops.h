// gpu_ops.h — host-pointer entry points to the single kernels of the CUDA backend, one per CPU
// reference op, so that tests/test_cuda_ops.cpp can hold each kernel against its CPU twin (llm.c's
// dev/cuda pattern). Each call copies its fp32 inputs to the device, rounds them to the kernel's
// 16-bit activation type where the kernel reads one, runs the kernel, and returns fp32 results,
// synchronously. Not for production paths (every call allocates and copies).
//
// Only exists in CUDA builds: include it under #if RECO_CUDA.
#pragma once
#if RECO_CUDA
#include <cstddef>

#include "ops.h"  // Activation

namespace reco {
namespace gpu_ops {

enum class Act { F16, BF16 };  // the towers' activation / weight type

// tower_kernels.cuh im2col_kernel: pixels [B,3,S,S] → cols [B·G², 3·P·P] (rounded to act).
void im2col(float* cols, const float* pixels, int B, int S, int P, Act act);
// vision_embed_kernel: x [B,T,C] = [class; patches] + pos, patches [B·(T-1), C].
void vision_embed(float* x, const float* patches, const float* class_emb, const float* pos, int B, int T, int C);
// text_embed_kernel: x [B,T,C] = tok_emb[ids] + pos; ids [B,T], tok_emb [V,C] (ids must be < V).
void text_embed(float* x, const int* ids, const float* tok_emb, int V, const float* pos, int B, int T, int C);
// layernorm_kernel with fp32 output: out [N,C] = LN(inp[rows ? rows[n] : n]); n_in = rows of inp.
void layernorm(float* out, const float* inp, int n_in, const int* rows, const float* w, const float* b, int N,
               int C, float eps);
// residual_layernorm_kernel: x += y + bias (y rounded to act); ln_out = LN(x) rounded to act
// (ln_out may be null: residual only).
void residual_layernorm(float* x, float* ln_out, const float* y, const float* bias, const float* w, const float* b,
                        int N, int C, float eps, Act act);
// bias_act_kernel: h = act(h + bias) over [N,M], h rounded to act before and after.
void bias_act(float* h, const float* bias, int N, int M, bool quick_gelu, Act act);
void bias_act(float* h, const float* bias, int N, int M, Activation a, Act act);  // any of the three
// map_attention_kernel (SigLIP's MAP head): out [B,C] from the probe's query q [C] (fp32, bias included)
// and kv [B·T, 2C] (rows k | v, rounded to act) + kv_b [2C].
void map_attention(float* out, const float* q, const float* kv, const float* kv_b, int B, int T, int C, int NH,
                   Act act);
// attention_*_kernel: out [B·T, C] from qkv [B·T, 3C] (rounded to act) + qkv_b [3C].
// path 0 = automatic, 1 = the tensor-core kernel (throws if it cannot run), 2 = the scalar kernel.
void attention_qkv(float* out, const float* qkv, const float* qkv_b, int B, int T, int C, int NH, bool causal,
                   Act act, int path);
// l2_normalize_kernel, in place over x [N,C].
void l2_normalize_rows(float* x, int N, int C);
// gemm_linear: out [N,OC] = inp·Wᵀ with inp and W rounded to act, fp32 accumulation and output.
void linear(float* out, const float* inp, const float* W, int N, int C, int OC, Act act);

// Round-trip a buffer through act (what the device sees after the upload rounding).
void round_to_act(float* x, size_t n, Act act);

}  // namespace gpu_ops
}  // namespace reco
#endif
