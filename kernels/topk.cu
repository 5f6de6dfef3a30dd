// topk.cu — exact top-k inner-product search over an fp16 memory on the GPU (see topk_gpu.h).
//
// THE CONTRACT (src/topk.h): score(q, i) is ONE sequential fp32 fmaf chain over c = 0..d-1, ties go
// to the lower index, and the GPU must return exactly the CPU's indices and scores. Tensor cores
// (and cuBLAS, split-k, tree reductions) sum in other orders, so a GEMM cannot produce those scores.
// Converting the memory to fp32 and running an SGEMM-like loop on CUDA cores can (each output is
// its own in-order chain), but then 64 queries × 1M × 512 is 33 GFMA of fp32 work — far from the
// bandwidth-bound ~0.25 ms that reading a 1 GB memory takes on an H200.
//
// So the tensor cores FILTER and the CUDA cores DECIDE:
//   1. approximate scores tc = m·h on tensor cores (fp16 in, fp32 accumulate), where h is the query
//      scaled by 2^σ and rounded to fp16;
//   2. a rigorous bound (topk_prepare_queries):  exact(q, m)·2^σ ≤ tc + ||m||·E_q;
//   3. a row can only enter query q's top k if its bound reaches the current threshold θ_q (the
//      k-th best exact key seen so far by anyone — a k-th best of a subset never exceeds the true
//      k-th best); the few rows that pass are re-scored with the exact chain, and only exact keys
//      are ever ranked. The answer is therefore the reference answer, bit for bit.
//
// Two paths, both exact:
//   fused  (Q any, k ≤ 256): one persistent kernel streams the memory once per group of ≤ 64
//          queries: cp.async double-buffered row tiles in shared memory, tensor-core scores, the
//          filter, exact re-scoring of the survivors straight from shared memory, and per (block,
//          query) candidate buffers compacted by a block radix select when they fill. θ starts
//          from an exact pre-pass over a 16K-row sample of the memory and blocks share their θ
//          through one atomicMax per query. Then: compact the buffers, merge, sort.
//   exact  (fallback; tests force it too): exact chain scores for every (query, row) with a
//          shared-memory tiled kernel (each output still one in-order chain), radix select per
//          4096-score chunk, merge. Also runs the sample pre-pass of the fused path.
//
// Streaming: a memory larger than the device budget stays in host memory; tiles are copied into
// pinned staging buffers by the CPU, then to device buffers on a copy stream, while the compute
// stream works on the previous tile (two buffers each, events between the streams). Every path
// works per tile, so the search is the same exact search.
//
// The parts, one concept each (read in this order):
//   topk_bound.cu           the error bound that makes the filter safe (topk_prepare_queries)
//   topk_exact.cuh          exact re-scoring: the reference fmaf chain on CUDA cores
//   topk_select.cuh         ranking keys and the block radix select
//   topk_select_kernels.cuh scores → k best per chunk, lists → k best, the final sort
//   topk_filter.cuh         the fused scan: tensor-core filter + exact re-score + candidate buffers
//   topk_stream.cuh         where the memory lives: resident, or streamed from host tile by tile
//   topk.cu (this file)     the search object: argument checks, path choice, the two paths end to end
#include "topk_gpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_util.cuh"
#include "topk_exact.cuh"
#include "topk_filter.cuh"
#include "topk_params.cuh"
#include "topk_select.cuh"
#include "topk_select_kernels.cuh"
#include "topk_stream.cuh"

namespace reco {

using namespace topk;

namespace {

// ============================================================================== host helpers
// The checks and messages of topk.cpp's check_args (the contract is shared).
void check_args(const float* queries, int Q, long long N, int d, int k, const int* exclude) {
    if (d <= 0) fail("top-k search: embedding dimension d=%d must be positive", d);
    if (N <= 0) fail("top-k search: the memory is empty (%lld items)", N);
    if (Q < 0) fail("top-k search: negative number of queries (%d)", Q);
    if (k <= 0) fail("top-k search: k=%d must be at least 1", k);
    if (k > N) fail("k=%d is larger than the memory (%lld items)", k, N);
    if (exclude)
        for (int q = 0; q < Q; q++) {
            if (exclude[q] < -1 || exclude[q] >= N)
                fail("top-k search: exclude[%d]=%d is not a memory index (0..%lld, or -1 for none)", q, exclude[q],
                     N - 1);
            if (exclude[q] >= 0 && k > N - 1)
                fail("k=%d is larger than the memory minus the excluded item (%lld items)", k, N - 1);
        }
    for (size_t j = 0; j < (size_t)Q * d; j++)
        if (!std::isfinite(queries[j]))
            fail("top-k search: query %zu has a non-finite value (%g) at position %zu", j / d, queries[j], j % d);
    if (k > kMaxK) fail("top-k search on the GPU: k=%d is larger than the supported %d", k, kMaxK);
}

}  // namespace

// ============================================================================== the search object
// Impl = where the memory lives (topk_stream.cuh) + the search paths.
struct TopkGpu::Impl : MemoryTiles {
    TopkGpuOptions opt;
    int sm_count = 0, optin = 0;
    DevBuf<__half> dsample;
    PinnedBuf<uint16_t> sample_staging;
    std::string path = "none";
    long long rescored = 0;

    // per-search buffers (grown as needed)
    DevBuf<float> qx, E, S;
    DevBuf<__half> qh;
    DevBuf<int> sigma, excl, cnt, oidx;
    DevBuf<float> oscore;
    DevBuf<uint64_t> buf, theta, cand, best, seed_best;
    DevBuf<unsigned long long> gtheta, counter;

    // Exact path over n rows (row j at rows + j·row_stride, memory index idx_base + j·idx_stride),
    // merged into best [Q][k] (which holds the running answer: padding keys 0 to start).
    void exact_rows(const __half* rows, long long row_stride, long long n, long long idx_base, long long idx_stride,
                    int Q, int k, uint64_t* bestp) {
        const long long per_pass = std::max<long long>(
            kScoreChunk, std::min<long long>(n, (256LL << 20) / (4LL * Q)) / kScoreChunk * kScoreChunk);
        S.reserve((size_t)Q * per_pass);
        const int max_chunks = (int)((per_pass + kScoreChunk - 1) / kScoreChunk);
        cand.reserve((size_t)Q * (1 + max_chunks) * k);
        for (long long j0 = 0; j0 < n; j0 += per_pass) {
            const int m = (int)std::min(per_pass, n - j0);
            const int nch = (m + kScoreChunk - 1) / kScoreChunk, lists = 1 + nch;
            exact_scores_kernel<<<dim3(ceil_div(m, 64), ceil_div(Q, 16)), kThreads, 0, cs>>>(
                S.get(), m, qx.get(), Q, rows + j0 * row_stride, row_stride, m, d);
            KERNEL_CHECK();
            // slot 0 of each query's candidate lists = its running best
            CUDA_CHECK(cudaMemcpy2DAsync(cand.get(), (size_t)lists * k * 8, bestp, (size_t)k * 8, (size_t)k * 8, Q,
                                         cudaMemcpyDeviceToDevice, cs));
            select_scores_kernel<<<dim3(Q, nch), kThreads, kScoreChunk * 8, cs>>>(
                cand.get(), lists, 1, S.get(), m, m, idx_base + j0 * idx_stride, idx_stride, excl_ptr, k);
            KERNEL_CHECK();
            select_lists_kernel<<<Q, kThreads, 0, cs>>>(bestp, cand.get(), (long long)lists * k, lists * k, k);
            KERNEL_CHECK();
        }
    }

    const int* excl_ptr = nullptr;

    struct FusedCfg {
        int R = 0, QG = 0, nqg = 0, nrow = 0;
        size_t smem = 0;
    };
    bool choose_fused(int Q, int k, FusedCfg& f) {
        if (k > kMaxFusedK) return false;
        const int qg_max = std::min(64, (Q + 15) / 16 * 16);
        for (int QG : {64, 32, 16}) {
            if (QG > qg_max) continue;
            for (int R : {64, 32, 16}) {
                const size_t smem = scan_layout(R, QG, dp, k).total;
                if (smem + sizeof(SelectShared) + 1024 <= (size_t)optin) {
                    f.R = R, f.QG = QG, f.smem = smem;
                    f.nqg = (Q + QG - 1) / QG;
                    int per_sm = 0;
                    CUDA_CHECK(cudaFuncSetAttribute(fused_scan_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    (int)smem));
                    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fused_scan_kernel, kThreads,
                                                                             smem));
                    if (per_sm < 1) continue;
                    const long long max_tile = resident ? N : std::min<long long>(tile_rows, N);
                    const long long row_blocks = (max_tile + R - 1) / R;
                    f.nrow = (int)std::max<long long>(
                        1, std::min<long long>((long long)sm_count * per_sm / f.nqg, row_blocks));
                    return true;
                }
            }
        }
        return false;
    }

    void search_chunk(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude) {
        // queries, exclusions
        qx.reserve((size_t)Q * d);
        CUDA_CHECK(cudaMemcpyAsync(qx.get(), queries, (size_t)Q * d * 4, cudaMemcpyHostToDevice, cs));
        excl_ptr = nullptr;
        if (exclude) {
            excl.reserve(Q);
            CUDA_CHECK(cudaMemcpyAsync(excl.get(), exclude, (size_t)Q * 4, cudaMemcpyHostToDevice, cs));
            excl_ptr = excl.get();
        }
        best.reserve((size_t)Q * k);
        CUDA_CHECK(cudaMemsetAsync(best.get(), 0, (size_t)Q * k * 8, cs));
        counter.reserve(1);
        CUDA_CHECK(cudaMemsetAsync(counter.get(), 0, 8, cs));

        std::vector<uint16_t> hq;
        std::vector<int> sig;
        std::vector<float> Eq;
        FusedCfg f;
        bool fused = opt.force_path != 2 && topk_prepare_queries(queries, Q, d, dp, hq, sig, Eq) &&
                     choose_fused(Q, k, f) && (opt.force_path == 1 || N >= 4 * kSampleRows);
        if (opt.force_path == 1 && !fused)
            fail("top-k search on the GPU: the fused path cannot run here (k=%d, d=%d, query range or shared memory)",
                 k, d);
        if (!fused) {
            path = "exact";
            for_each_tile([&](const __half* tile, long long base, long long rows) {
                exact_rows(tile, dp, rows, base, 1, Q, k, best.get());
            });
        } else {
            path = "fused";
            const int Qpad = f.nqg * f.QG, nblk = f.nrow * f.nqg, cap = k + 2 * kPending;
            std::vector<uint16_t> hpad((size_t)Qpad * dp, 0);
            std::copy(hq.begin(), hq.end(), hpad.begin());
            qh.reserve(hpad.size());
            sigma.reserve(Q);
            E.reserve(Q);
            CUDA_CHECK(cudaMemcpyAsync(qh.get(), hpad.data(), hpad.size() * 2, cudaMemcpyHostToDevice, cs));
            CUDA_CHECK(cudaMemcpyAsync(sigma.get(), sig.data(), (size_t)Q * 4, cudaMemcpyHostToDevice, cs));
            CUDA_CHECK(cudaMemcpyAsync(E.get(), Eq.data(), (size_t)Q * 4, cudaMemcpyHostToDevice, cs));
            // pre-pass: the exact top k of a strided sample seeds θ
            const long long step = std::max<long long>(1, N / kSampleRows);
            const long long n0 = (N + step - 1) / step;
            seed_best.reserve((size_t)Q * k);
            CUDA_CHECK(cudaMemsetAsync(seed_best.get(), 0, (size_t)Q * k * 8, cs));
            if (resident) {
                exact_rows(dmem.get(), step * dp, n0, 0, step, Q, k, seed_best.get());
            } else {
                sample_staging.reserve((size_t)n0 * d);
                for (long long j = 0; j < n0; j++)
                    memcpy(sample_staging.get() + (size_t)j * d, host + (size_t)(j * step) * d, (size_t)d * 2);
                dsample.reserve((size_t)n0 * dp);
                CUDA_CHECK(cudaMemsetAsync(dsample.get(), 0, (size_t)n0 * dp * 2, cs));
                CUDA_CHECK(cudaMemcpy2DAsync(dsample.get(), (size_t)dp * 2, sample_staging.get(), (size_t)d * 2,
                                             (size_t)d * 2, n0, cudaMemcpyHostToDevice, cs));
                exact_rows(dsample.get(), dp, n0, 0, step, Q, k, seed_best.get());
            }
            buf.reserve((size_t)nblk * f.QG * cap);
            theta.reserve((size_t)nblk * f.QG);
            cnt.reserve((size_t)nblk * f.QG);
            gtheta.reserve(Qpad);
            seed_state_kernel<<<ceil_div((long long)nblk * f.QG, 256), 256, 0, cs>>>(
                theta.get(), cnt.get(), gtheta.get(), seed_best.get(), k, Q, f.QG, f.nqg, nblk);
            KERNEL_CHECK();
            ScanArgs a;
            a.dp = dp, a.d = d, a.qh = qh.get(), a.qx = qx.get(), a.sigma = sigma.get(), a.E = E.get();
            a.exclude = excl_ptr, a.Q = Q, a.QG = f.QG, a.nqg = f.nqg, a.nrow = f.nrow, a.R = f.R, a.k = k;
            a.cap = cap, a.buf = buf.get(), a.cnt = cnt.get(), a.theta = theta.get(), a.gtheta = gtheta.get();
            a.rescored = counter.get();
            CUDA_CHECK(cudaFuncSetAttribute(fused_scan_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)f.smem));
            for_each_tile([&](const __half* tile, long long base, long long rows) {
                a.mem = tile, a.tile_base = base, a.tile_rows = (int)rows;
                fused_scan_kernel<<<nblk, kThreads, f.smem, cs>>>(a);
                KERNEL_CHECK();
            });
            cand.reserve((size_t)Q * f.nrow * k);
            compact_buffers_kernel<<<nblk * f.QG, kThreads, 0, cs>>>(cand.get(), buf.get(), cnt.get(), f.QG, f.nqg,
                                                                      f.nrow, cap, Q, k);
            KERNEL_CHECK();
            select_lists_kernel<<<Q, kThreads, 0, cs>>>(best.get(), cand.get(), (long long)f.nrow * k, f.nrow * k, k);
            KERNEL_CHECK();
        }
        oidx.reserve((size_t)Q * k);
        oscore.reserve((size_t)Q * k);
        finalize_kernel<<<Q, kThreads, 2 * (size_t)k * 8, cs>>>(oidx.get(), oscore.get(), best.get(), k);
        KERNEL_CHECK();
        CUDA_CHECK(cudaMemcpyAsync(out_idx, oidx.get(), (size_t)Q * k * 4, cudaMemcpyDeviceToHost, cs));
        CUDA_CHECK(cudaMemcpyAsync(out_score, oscore.get(), (size_t)Q * k * 4, cudaMemcpyDeviceToHost, cs));
        unsigned long long resc = 0;
        CUDA_CHECK(cudaMemcpyAsync(&resc, counter.get(), 8, cudaMemcpyDeviceToHost, cs));
        CUDA_CHECK(cudaStreamSynchronize(cs));
        rescored += (long long)resc;
    }
};

TopkGpu::TopkGpu(const uint16_t* mem, int N, int d, const TopkGpuOptions& opt) : impl_(new Impl) {
    Impl& m = *impl_;
    if (d <= 0) fail("top-k search: embedding dimension d=%d must be positive", d);
    if (N <= 0) fail("top-k search: the memory is empty (%d items)", N);
    m.host = mem, m.N = N, m.d = d, m.dp = (d + 15) / 16 * 16, m.opt = opt;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&m.sm_count, cudaDevAttrMultiProcessorCount, dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&m.optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m.cs, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m.ts, cudaStreamNonBlocking));
    CUDA_CHECK(cudaFuncSetAttribute(select_scores_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    kScoreChunk * 8));
    m.place(opt);
    // the uploads above ran on the legacy default stream, which does not order the non-blocking streams
    CUDA_CHECK(cudaDeviceSynchronize());
}

TopkGpu::~TopkGpu() = default;

void TopkGpu::search(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude) {
    Impl& m = *impl_;
    check_args(queries, Q, m.N, m.d, k, exclude);
    m.rescored = 0;
    for (int q0 = 0; q0 < Q; q0 += kQueryChunk) {
        const int nq = std::min(kQueryChunk, Q - q0);
        m.search_chunk(queries + (size_t)q0 * m.d, nq, k, out_idx + (size_t)q0 * k, out_score + (size_t)q0 * k,
                       exclude ? exclude + q0 : nullptr);
    }
}

bool TopkGpu::streaming() const { return !impl_->resident; }
int TopkGpu::rows() const { return impl_->N; }
int TopkGpu::dim() const { return impl_->d; }
const char* TopkGpu::last_path() const { return impl_->path.c_str(); }
long long TopkGpu::last_rescored() const { return impl_->rescored; }

void topk_search_cuda(const float* queries, const uint16_t* mem, int Q, int N, int d, int k, int* out_idx,
                      float* out_score, const int* exclude, const TopkGpuOptions& opt) {
    check_args(queries, Q, N, d, k, exclude);
    if (Q == 0) return;
    TopkGpu g(mem, N, d, opt);
    g.search(queries, Q, k, out_idx, out_score, exclude);
}

}  // namespace reco
