// emu_cuda.h — a CPU emulation of the slice of CUDA / cuBLAS / wmma that reco's kernels use, for running the
// CUDA tests on a machine without a GPU. Blocks run one after another; the threads of a block are real
// threads (a pool), __syncthreads / __syncwarp are barriers (with a timeout that reports divergence),
// shuffles go through a per-warp exchange buffer, wmma fragments hold the whole tile in every lane (only
// lane 0 stores), device memory is malloc (so ASan reports out-of-bounds accesses), fresh device and shared
// memory is filled with 0xCD bytes (NaN-ish garbage, like uninitialised memory).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include <ucontext.h>

namespace reco {
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t h);
}  // namespace reco

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct emu_uint3 {
    unsigned x = 0, y = 0, z = 0;
};

// ------------------------------------------------------------------ 16-bit types
struct __half {
    uint16_t x;
    __half() = default;
};
struct __nv_bfloat16 {
    uint16_t x;
    __nv_bfloat16() = default;
};
struct float2 {
    float x, y;
};
struct __half2 {
    __half x, y;
};
struct uint4 {
    unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4{a, b, c, d}; }
inline float __half2float(__half h) { return reco::half_to_float(h.x); }
inline __half __float2half_rn(float f) {
    __half h;
    h.x = reco::float_to_half(f);
    return h;
}
inline float __bfloat162float(__nv_bfloat16 h) { return reco::bf16_to_float(h.x); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    __nv_bfloat16 h;
    h.x = reco::float_to_bf16(f);
    return h;
}
inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }

// ------------------------------------------------------------------ math
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
template <class A, class B>
inline auto min(A a, B b) -> decltype(a < b ? a : b) { return b < a ? b : a; }
template <class A, class B>
inline auto max(A a, B b) -> decltype(a < b ? a : b) { return a < b ? b : a; }

// ------------------------------------------------------------------ runtime: errors, memory, streams
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorLaunchFailure = 4, cudaErrorInvalidConfiguration = 9 };
typedef cudaError_t cudaError;
inline cudaError_t& emu_last_error() {
    static cudaError_t e = cudaSuccess;
    return e;
}
inline const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated launch error"; }
inline cudaError_t cudaGetLastError() {
    cudaError_t e = emu_last_error();
    emu_last_error() = cudaSuccess;
    return e;
}
typedef struct emu_stream* cudaStream_t;
typedef struct emu_event* cudaEvent_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
constexpr unsigned cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2;

inline cudaError_t cudaMalloc(void** p, size_t n) {
    *p = malloc(std::max<size_t>(n, 1));
    memset(*p, 0xCD, n);
    return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) { free(p); return cudaSuccess; }
inline cudaError_t cudaMallocHost(void** p, size_t n) { return cudaMalloc(p, n); }
inline cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { if (n) memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t = 0) { return cudaMemcpy(d, s, n, k); }
inline cudaError_t cudaMemcpy2D(void* d, size_t dp, const void* s, size_t sp, size_t w, size_t h, cudaMemcpyKind) {
    if (w > dp || w > sp) return cudaErrorInvalidValue;
    for (size_t r = 0; r < h; r++) memcpy((char*)d + r * dp, (const char*)s + r * sp, w);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy2DAsync(void* d, size_t dp, const void* s, size_t sp, size_t w, size_t h, cudaMemcpyKind k, cudaStream_t = 0) {
    return cudaMemcpy2D(d, dp, s, sp, w, h, k);
}
inline cudaError_t cudaMemset(void* p, int v, size_t n) { memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = 0) { return cudaMemset(p, v, n); }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = (cudaStream_t)new char; return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { delete (char*)s; return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { *e = (cudaEvent_t)new char; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete (char*)e; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = 0) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
inline int emu_env(const char* n, int def) { const char* v = getenv(n); return v ? atoi(v) : def; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
struct cudaDeviceProp {
    char name[256];
    int major, minor;
    size_t totalGlobalMem;
};
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    snprintf(p->name, sizeof p->name, "CPU emulation of a CUDA device");
    p->major = 9, p->minor = 0, p->totalGlobalMem = 16ull << 30;
    return cudaSuccess;
}
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin, cudaDevAttrMultiProcessorCount };
inline int emu_optin() { return emu_env("EMU_SMEM", 232448); }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMultiProcessorCount ? emu_env("EMU_SMS", 6) : emu_optin();
    return cudaSuccess;
}
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
template <class F>
inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int v) { return v > emu_optin() ? cudaErrorInvalidValue : cudaSuccess; }
template <class F>
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, F, int, size_t smem) {
    *n = (int)smem <= emu_optin() ? 1 : 0;
    return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
    *f = (size_t)emu_env("EMU_FREE_MB", 4096) << 20, *t = 16ull << 30;
    return cudaSuccess;
}
enum cudaDataType_t { CUDA_R_16F = 2, CUDA_R_16BF = 14, CUDA_R_32F = 0 };

// ------------------------------------------------------------------ block execution (cooperative fibers)
// The threads of a block are ucontext fibers run round-robin in the calling thread; a barrier arrival
// yields until every fiber of the barrier (block or warp) has arrived. A round in which no fiber can run
// while some are unfinished is a divergent barrier: reported, then abort.
struct EmuFiber {
    ucontext_t ctx;
    emu_uint3 tidx;
    int state = 0;  // 0 runnable, 1 waiting, 2 done
    const long* wait_gen = nullptr;
    long wait_val = 0;
};
struct EmuBarrierF {
    int n = 0, count = 0;
    long gen = 0;
};
struct EmuBlock {
    int nthreads = 0;
    EmuBarrierF bar;
    std::vector<EmuBarrierF> warp_bar;
    std::vector<std::vector<uint64_t>> xchg;
    unsigned char* dyn = nullptr;
    std::map<int, std::shared_ptr<void>> shared;
    std::vector<EmuFiber> fibers;
    int cur = 0;
    ucontext_t sched;
    std::function<void()>* body = nullptr;
};
inline EmuBlock* emu_block = nullptr;
inline emu_uint3 emu_bidx;
inline dim3 emu_bdim, emu_gdim;
#define threadIdx (emu_block->fibers[emu_block->cur].tidx)
#define blockIdx emu_bidx
#define blockDim emu_bdim
#define gridDim emu_gdim

inline void emu_barrier_wait(EmuBarrierF& b) {
    EmuFiber& f = emu_block->fibers[emu_block->cur];
    if (++b.count == b.n) {
        b.count = 0, b.gen++;
        return;  // last to arrive: continue at once (the others become runnable)
    }
    f.state = 1, f.wait_gen = &b.gen, f.wait_val = b.gen;
    swapcontext(&f.ctx, &emu_block->sched);
}
inline void __syncthreads() { emu_barrier_wait(emu_block->bar); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu_barrier_wait(emu_block->warp_bar[threadIdx.x / 32]); }
template <class T>
inline T __shfl_xor_sync(unsigned, T v, int o) {
    const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    emu_block->xchg[w][lane] = bits;
    __syncwarp();
    uint64_t r = emu_block->xchg[w][lane ^ o];
    __syncwarp();
    T out;
    memcpy(&out, &r, sizeof(T));
    return out;
}
inline unsigned char* emu_dyn_smem() { return emu_block->dyn; }
template <class T>
inline T& emu_shared(int key) {
    auto& p = emu_block->shared[key];
    if (!p) {
        void* m = aligned_alloc(128, (sizeof(T) + 127) / 128 * 128);
        memset(m, 0xCD, sizeof(T));
        p = std::shared_ptr<void>(m, free);
    }
    return *(T*)p.get();
}

inline int atomicAdd(int* p, int v) { int o = *p; *p += v; return o; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { unsigned o = *p; *p += v; return o; }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { auto o = *p; *p += v; return o; }
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) { auto o = *p; if (v > o) *p = v; return o; }

inline void __pipeline_memcpy_async(void* d, const void* s, size_t n) {
    if (((uintptr_t)d | (uintptr_t)s) % n) { fprintf(stderr, "emu: misaligned cp.async\n"); abort(); }
    memcpy(d, s, n);
}
inline void __pipeline_commit() {}
inline void __pipeline_wait_prior(int) {}

inline void emu_fiber_entry() {
    (*emu_block->body)();
    emu_block->fibers[emu_block->cur].state = 2;
    swapcontext(&emu_block->fibers[emu_block->cur].ctx, &emu_block->sched);
}
inline std::vector<std::vector<char>>& emu_stacks() {
    static std::vector<std::vector<char>> s;
    return s;
}

template <class F>
inline void emu_launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, F fn) {
    const int n = block.x * block.y * block.z;
    if (n < 1 || n > 1024 || (int)smem > emu_optin() || grid.x == 0 || grid.y == 0 || grid.x > 2147483647u || grid.y > 65535) {
        fprintf(stderr, "emu: bad launch configuration grid (%u,%u) block %d smem %zu\n", grid.x, grid.y, n, smem);
        emu_last_error() = cudaErrorInvalidConfiguration;
        return;
    }
    const size_t stack = 256 * 1024;
    auto& stacks = emu_stacks();
    while ((int)stacks.size() < n) stacks.emplace_back(stack);
    std::function<void()> body = [&] { fn(); };
    EmuBlock* saved = emu_block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                EmuBlock b;
                b.nthreads = n;
                b.bar.n = n;
                b.warp_bar.resize((n + 31) / 32);
                for (int w = 0; w < (n + 31) / 32; w++) b.warp_bar[w].n = std::min(32, n - 32 * w);
                b.xchg.assign((n + 31) / 32, std::vector<uint64_t>(32));
                b.dyn = nullptr;
                if (smem) {
                    b.dyn = (unsigned char*)aligned_alloc(128, (smem + 127) / 128 * 128);
                    memset(b.dyn, 0xCD, smem);
                }
                b.body = &body;
                b.fibers.resize(n);
                emu_block = &b;
                emu_bidx.x = x, emu_bidx.y = y, emu_bidx.z = z;
                emu_bdim = block, emu_gdim = grid;
                for (int t = 0; t < n; t++) {
                    EmuFiber& f = b.fibers[t];
                    f.tidx.x = t % block.x, f.tidx.y = (t / block.x) % block.y, f.tidx.z = t / (block.x * block.y);
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stacks[t].data();
                    f.ctx.uc_stack.ss_size = stack;
                    f.ctx.uc_link = nullptr;
                    makecontext(&f.ctx, emu_fiber_entry, 0);
                }
                int done = 0;
                while (done < n) {
                    bool progressed = false;
                    for (int t = 0; t < n; t++) {
                        EmuFiber& f = b.fibers[t];
                        if (f.state == 2) continue;
                        if (f.state == 1) {
                            if (*f.wait_gen == f.wait_val) continue;
                            f.state = 0;
                        }
                        b.cur = t;
                        swapcontext(&b.sched, &f.ctx);
                        progressed = true;
                        if (f.state == 2) done++;
                    }
                    if (!progressed) {
                        fprintf(stderr, "emu: deadlock in block (%u,%u): a barrier not reached by every thread\n", x, y);
                        abort();
                    }
                }
                free(b.dyn);
            }
    emu_block = saved;
}

// ------------------------------------------------------------------ wmma
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
    float v[16][16];
};
inline float emu_f(float x) { return x; }
inline float emu_f(__half x) { return __half2float(x); }
inline float emu_f(__nv_bfloat16 x) { return __bfloat162float(x); }
inline void emu_check(const void* p, unsigned ldm, size_t elem) {
    if ((uintptr_t)p % 32) { fprintf(stderr, "emu: wmma pointer not 32-byte aligned\n"); abort(); }
    if ((ldm * elem) % 16) { fprintf(stderr, "emu: wmma ldm %u not a multiple of 16 bytes\n", ldm); abort(); }
}
template <class T>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
    emu_check(p, ldm, sizeof(T));
    if (threadIdx.x % 32 != 0) return;  // lane 0 of the warp carries the whole tile
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) f.v[i][j] = emu_f(p[(size_t)i * ldm + j]);
}
template <class T>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
    emu_check(p, ldm, sizeof(T));
    if (threadIdx.x % 32 != 0) return;
    for (int k = 0; k < 16; k++)
        for (int n = 0; n < 16; n++) f.v[k][n] = emu_f(p[(size_t)k * ldm + n]);
}
template <class T>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, col_major>& f, const T* p, unsigned ldm) {
    emu_check(p, ldm, sizeof(T));
    if (threadIdx.x % 32 != 0) return;
    for (int k = 0; k < 16; k++)
        for (int n = 0; n < 16; n++) f.v[k][n] = emu_f(p[(size_t)n * ldm + k]);
}
template <class A, class B>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const A& a, const B& b,
                     const fragment<accumulator, 16, 16, 16, float>& c) {
    if (threadIdx.x % 32 != 0) return;
    float r[16][16];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float s = c.v[i][j];
            for (int k = 0; k < 16; k++) s += a.v[i][k] * b.v[k][j];
            r[i][j] = s;
        }
    memcpy(d.v, r, sizeof r);
}
inline void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, float x) {
    for (auto& row : f.v)
        for (auto& e : row) e = x;
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l) {
    emu_check(p, ldm, 4);
    if (threadIdx.x % 32 != 0) return;  // one lane writes the tile (the others would write the same values)
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) (l == mem_row_major ? p[(size_t)i * ldm + j] : p[(size_t)j * ldm + i]) = f.v[i][j];
}
}  // namespace wmma
}  // namespace nvcuda

// ------------------------------------------------------------------ cuBLAS (naive, column-major)
enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 };
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_PEDANTIC = 69 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT = -1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2 };
typedef struct emu_cublas* cublasHandle_t;
inline const char* cublasGetStatusString(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "success" : "emulated cuBLAS error"; }
inline cublasStatus_t cublasCreate(cublasHandle_t* h) { *h = (cublasHandle_t)new char; return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasDestroy(cublasHandle_t h) { delete (char*)h; return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
inline float emu_ld(const void* p, cudaDataType_t t, size_t i) {
    if (t == CUDA_R_32F) return ((const float*)p)[i];
    if (t == CUDA_R_16F) return reco::half_to_float(((const uint16_t*)p)[i]);
    return reco::bf16_to_float(((const uint16_t*)p)[i]);
}
inline void emu_st(void* p, cudaDataType_t t, size_t i, float v) {
    if (t == CUDA_R_32F) ((float*)p)[i] = v;
    else if (t == CUDA_R_16F) ((uint16_t*)p)[i] = reco::float_to_half(v);
    else ((uint16_t*)p)[i] = reco::float_to_bf16(v);
}
inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                                 const void* alpha, const void* A, cudaDataType_t at, int lda, long long sa,
                                                 const void* B, cudaDataType_t bt, int ldb, long long sb, const void* beta, void* C,
                                                 cudaDataType_t ct, int ldc, long long sc, int batch, cublasComputeType_t,
                                                 cublasGemmAlgo_t) {
    const float al = *(const float*)alpha, be = *(const float*)beta;
    if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k) || ldb < std::max(1, tb == CUBLAS_OP_N ? k : n) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    const size_t ea = at == CUDA_R_32F ? 4 : 2, eb = bt == CUDA_R_32F ? 4 : 2, ec = ct == CUDA_R_32F ? 4 : 2;
    for (int bi = 0; bi < batch; bi++) {
        const char* Ab = (const char*)A + sa * bi * ea;
        const char* Bb = (const char*)B + sb * bi * eb;
        char* Cb = (char*)C + sc * bi * ec;
#pragma omp parallel for
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    const float a = emu_ld(Ab, at, ta == CUBLAS_OP_N ? (size_t)p * lda + i : (size_t)i * lda + p);
                    const float b = emu_ld(Bb, bt, tb == CUBLAS_OP_N ? (size_t)j * ldb + p : (size_t)p * ldb + j);
                    s += (double)a * b;
                }
                const size_t ci = (size_t)j * ldc + i;
                const float old = be != 0.0f ? emu_ld(Cb, ct, ci) : 0.0f;
                emu_st(Cb, ct, ci, (float)(al * s + be * old));
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* alpha,
                                   const void* A, cudaDataType_t at, int lda, const void* B, cudaDataType_t bt, int ldb,
                                   const void* beta, void* C, cudaDataType_t ct, int ldc, cublasComputeType_t c, cublasGemmAlgo_t g) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1, c, g);
}
