// cuda_util.cuh — what every .cu file of the CUDA backend shares: error checks that become
// reco::Error (never abort), a device buffer that frees itself, fp16/bf16 <-> float helpers,
// warp reductions, and the one GEMM shape the towers use (PyTorch Linear: out = inp·Wᵀ).
//
// Only included by kernels/*.cu (nvcc). C++ code sees the C++-only headers (clip_gpu.h,
// topk_gpu.h, fusion_gpu.h, gpu_ops.h), which hide every CUDA type behind a pimpl.
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "common.h"

namespace reco {

// ------------------------------------------------------------------------------- error checks
inline void cuda_check(cudaError_t e, const char* what, const char* file, int line) {
    if (e != cudaSuccess)
        fail("CUDA error %s (%s) in %s at %s:%d", cudaGetErrorName(e), cudaGetErrorString(e), what, file, line);
}
inline void cublas_check(cublasStatus_t s, const char* what, const char* file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        fail("cuBLAS error %s (%d) in %s at %s:%d", cublasGetStatusString(s), (int)s, what, file, line);
}
#define CUDA_CHECK(expr) ::reco::cuda_check((expr), #expr, __FILE__, __LINE__)
#define CUBLAS_CHECK(expr) ::reco::cublas_check((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here, execution errors at the next sync.
#define KERNEL_CHECK() ::reco::cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

inline int ceil_div(long long a, long long b) { return (int)((a + b - 1) / b); }

// ------------------------------------------------------------------------------- device buffer
// Owns n elements of device memory. reserve() only reallocates when growing (workspaces).
template <class T>
class DevBuf {
public:
    DevBuf() = default;
    explicit DevBuf(size_t n) { reserve(n); }
    ~DevBuf() { release(); }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    DevBuf(DevBuf&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
    DevBuf& operator=(DevBuf&& o) noexcept {
        if (this != &o) { release(); p_ = o.p_, n_ = o.n_; o.p_ = nullptr, o.n_ = 0; }
        return *this;
    }
    void reserve(size_t n) {
        if (n <= n_) return;
        release();
        CUDA_CHECK(cudaMalloc((void**)&p_, std::max<size_t>(n, 1) * sizeof(T)));
        n_ = n;
    }
    void release() {
        if (p_) cudaFree(p_);  // never throws from a destructor path
        p_ = nullptr, n_ = 0;
    }
    // Upload n host elements (synchronous with respect to the host buffer when stream is 0).
    void upload(const T* host, size_t n, cudaStream_t s = 0) {
        reserve(n);
        CUDA_CHECK(cudaMemcpyAsync(p_, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
        if (!s) CUDA_CHECK(cudaStreamSynchronize(0));
    }
    void download(T* host, size_t n, cudaStream_t s = 0) const {
        CUDA_CHECK(cudaMemcpyAsync(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost, s));
        CUDA_CHECK(cudaStreamSynchronize(s));
    }
    T* get() const { return p_; }
    size_t size() const { return n_; }

private:
    T* p_ = nullptr;
    size_t n_ = 0;
};

// Pinned host memory (page-locked: async copies really overlap, DMA at full PCIe/NVLink speed).
template <class T>
class PinnedBuf {
public:
    PinnedBuf() = default;
    ~PinnedBuf() { release(); }
    PinnedBuf(const PinnedBuf&) = delete;
    PinnedBuf& operator=(const PinnedBuf&) = delete;
    void reserve(size_t n) {
        if (n <= n_) return;
        release();
        CUDA_CHECK(cudaMallocHost((void**)&p_, std::max<size_t>(n, 1) * sizeof(T)));
        n_ = n;
    }
    void release() {
        if (p_) cudaFreeHost(p_);
        p_ = nullptr, n_ = 0;
    }
    T* get() const { return p_; }

private:
    T* p_ = nullptr;
    size_t n_ = 0;
};

// ------------------------------------------------------------------------------- 16-bit types
// Activations and GEMM weights of the towers are "act_t" = __half (default) or __nv_bfloat16.
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <class T>
struct CudaDataType;
template <>
struct CudaDataType<float> { static constexpr cudaDataType_t value = CUDA_R_32F; };
template <>
struct CudaDataType<__half> { static constexpr cudaDataType_t value = CUDA_R_16F; };
template <>
struct CudaDataType<__nv_bfloat16> { static constexpr cudaDataType_t value = CUDA_R_16BF; };

// ------------------------------------------------------------------------------- reductions
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// ------------------------------------------------------------------------------- GEMM
// out[N,OC] = alpha·inp[N,C]·W[OC,C]ᵀ + beta·out   (row-major, W in PyTorch's [out,in] layout),
// the CPU's matmul_forward without the bias (ops.h). cuBLAS is column-major, so we compute
// outᵀ[OC,N] = W·inpᵀ: A = W viewed as col-major [C,OC] (lda C), transposed; B = inp viewed as
// col-major [C,N] (ldb C); C = out viewed as col-major [OC,N] (ldc OC).
// fp16/bf16 inputs with CUBLAS_COMPUTE_32F accumulate in fp32 on tensor cores; the output type
// (fp32 or 16-bit) is OutT. fp32 inputs use CUBLAS_COMPUTE_32F too — pure fp32, no TF32 — which the
// fusion training relies on to match the CPU.
template <class InT, class OutT>
inline void gemm_linear(cublasHandle_t h, OutT* out, const InT* inp, const InT* W, int N, int C, int OC,
                        float alpha = 1.0f, float beta = 0.0f) {
    // fp32 inputs: PEDANTIC forbids TF32 and other reduced-precision shortcuts whatever the handle's
    // math mode or NVIDIA_TF32_OVERRIDE say.
    const cublasComputeType_t ct = sizeof(InT) == 4 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &alpha, W, CudaDataType<InT>::value, C, inp,
                              CudaDataType<InT>::value, C, &beta, out, CudaDataType<OutT>::value, OC, ct,
                              CUBLAS_GEMM_DEFAULT));
}

}  // namespace reco
