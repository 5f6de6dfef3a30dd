// ops.h — the CPU reference operators of the CLIP towers (fp32, row-major).
//
// These are the plain, readable definitions every CUDA kernel in kernels/ is
// checked against. Shapes follow llm.c: B = batch, T = tokens, C = channels,
// NH = heads. Linear weights are PyTorch's [out, in] layout, so y = x·Wᵀ + b.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace reco {

// out[N,OC] = inp[N,C] · weight[OC,C]ᵀ + bias[OC]   (bias may be null).
// The hot loop of the whole CPU engine: cache-blocked, OpenMP-parallel (gemm.cpp).
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                    int N, int C, int OC);

// GEMM precision of the towers: fp32 (default, the parity path) or bf16 weights and activations with
// fp32 accumulation (avx512_bf16 vdpbf16ps; falls back to fp32 where the CPU lacks it).
enum class Precision { fp32, bf16 };
Precision parse_precision(const std::string& s);  // "fp32" | "bf16", else reco::Error naming the choices
const char* precision_name(Precision p);

// W[OC,C] repacked once into the GEMM's panel layout (gemm.cpp), for weights used many times.
struct PackedWeight {
    int OC = 0, C = 0, panels = 0;
    std::vector<float> data;      // fp32: [panels][C][NR]
    const float* weight = nullptr;  // the unpacked W [OC,C] it came from (its owner keeps it; --impl reference)
    std::vector<uint32_t> bf16;   // bf16 (when packed so): [panels][⌈C/2⌉][NR] pairs (W[o][2p], W[o][2p+1])
};
// precision bf16 packs the bf16 pairs instead of fp32 when isa_active() has avx512_bf16.
void pack_weight(PackedWeight& pw, const float* weight, int OC, int C, Precision precision = Precision::fp32);
void matmul_forward_packed(float* out, const float* inp, const PackedWeight& pw, const float* bias, int N);
const char* gemm_kernel_name();  // the micro-kernel matmul_forward runs on this CPU (run-time dispatch)
const char* attention_kernel_name();  // the towers' attention on this CPU (run-time dispatch)

// Unoptimised triple loop with the same contract, used to test matmul_forward.
void matmul_forward_naive(float* out, const float* inp, const float* weight, const float* bias,
                          int N, int C, int OC);

// LayerNorm over the last dim: out = (x - mean) / sqrt(var + eps) * w + b, biased variance.
void layernorm_forward(float* out, const float* inp, const float* w, const float* b,
                       int N, int C, float eps);

// Multi-head self-attention core (after the q/k/v projections, before out_proj).
// q,k,v,out: [B,T,C] with C = NH·hd; scores = q·kᵀ · hd^-0.5, softmax in fp32,
// causal=true masks keys j > i (CLIP text tower). scratch: T floats per thread.
void attention_forward(float* out, const float* q, const float* k, const float* v,
                       int B, int T, int C, int NH, bool causal);

// Same, reading q, k and v from one packed buffer qkv [B,T,3C] (rows: q | k | v), the
// output of the fused q/k/v projection. This is what the towers call.
void attention_forward_qkv(float* out, const float* qkv, int B, int T, int C, int NH, bool causal);

// Activations, in place over n values.
void quick_gelu_inplace(float* x, size_t n);  // x·sigmoid(1.702x)   (OpenAI CLIP), vectorised exp
float exp_approx_for_test(float x);           // the vectorisable e^x quick_gelu uses (within 2 ulp of expf; NaN → NaN)
void gelu_inplace(float* x, size_t n);        // exact erf GELU       (nn.GELU)
void gelu_tanh_inplace(float* x, size_t n);   // tanh-approximated GELU (gelu_pytorch_tanh: SigLIP)

// The MLP activation of a transformer tower (config.json hidden_act).
enum class Activation { quick_gelu, gelu, gelu_tanh };
const char* activation_name(Activation a);  // the hidden_act string
void activation_inplace(Activation a, float* x, size_t n);

// x += y over n values (residual connection).
void residual_add(float* x, const float* y, size_t n);

// Scale each row of x[N,C] to unit L2 norm (rows of zeros stay zero).
void l2_normalize_rows(float* x, int N, int C);

}  // namespace reco
