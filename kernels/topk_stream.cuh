// topk_stream.cuh — where the GPU top-k's memory lives (kernels/topk.cu): resident on the device
// when it fits the budget, otherwise streamed from host memory tile by tile. Tiles are copied into
// pinned staging buffers by the CPU, then to device buffers on a copy stream (ts), while the compute
// stream (cs) works on the previous tile (two buffers each, events between the streams). Every search
// path works per tile, so a streamed search is the same exact search.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cuda_util.cuh"
#include "topk_gpu.h"

namespace reco {
namespace topk {

struct MemoryTiles {
    const uint16_t* host = nullptr;  // [N][d] fp16 bits, the caller's (kept alive while streaming)
    int N = 0, d = 0, dp = 0;        // dp: d rounded up to 16 (zero columns for the tensor cores)
    bool resident = true;
    long long tile_rows = 0;
    cudaStream_t cs = nullptr, ts = nullptr;  // compute stream, copy stream
    cudaEvent_t copied[2] = {nullptr, nullptr}, done[2] = {nullptr, nullptr};
    DevBuf<__half> dmem, dtile[2];
    PinnedBuf<uint16_t> staging[2];

    ~MemoryTiles() {
        for (int b = 0; b < 2; b++) {
            if (copied[b]) cudaEventDestroy(copied[b]);
            if (done[b]) cudaEventDestroy(done[b]);
        }
        if (cs) cudaStreamDestroy(cs);
        if (ts) cudaStreamDestroy(ts);
    }

    // Upload the memory (host, N, d, dp set) when it fits the budget, else set up the streaming buffers.
    void place(const TopkGpuOptions& opt) {
        const size_t bytes = (size_t)N * dp * 2;
        size_t free_b = 0, total_b = 0;
        CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
        const size_t budget = opt.device_budget ? opt.device_budget : free_b / 4 * 3;
        resident = !opt.force_stream && bytes <= budget;
        if (resident) {
            dmem.reserve((size_t)N * dp);
            if (dp != d) CUDA_CHECK(cudaMemset(dmem.get(), 0, bytes));
            CUDA_CHECK(cudaMemcpy2D(dmem.get(), (size_t)dp * 2, host, (size_t)d * 2, (size_t)d * 2, N,
                                    cudaMemcpyHostToDevice));
        } else {
            tile_rows = opt.stream_tile_rows > 0 ? opt.stream_tile_rows
                                                 : std::max<long long>(4096, (256LL << 20) / ((long long)dp * 2));
            tile_rows = std::min<long long>(tile_rows, N);
            for (int b = 0; b < 2; b++) {
                staging[b].reserve((size_t)tile_rows * d);
                dtile[b].reserve((size_t)tile_rows * dp);
                CUDA_CHECK(cudaMemset(dtile[b].get(), 0, (size_t)tile_rows * dp * 2));  // zero padding columns
                CUDA_CHECK(cudaEventCreateWithFlags(&copied[b], cudaEventDisableTiming));
                CUDA_CHECK(cudaEventCreateWithFlags(&done[b], cudaEventDisableTiming));
            }
        }
    }

    // fn(tile pointer, memory index of its row 0, rows) for every tile, in order, on stream cs.
    template <class Fn>
    void for_each_tile(Fn fn) {
        if (resident) {
            fn(dmem.get(), 0LL, (long long)N);
            return;
        }
        const long long ntiles = (N + tile_rows - 1) / tile_rows;
        for (long long t = 0; t < ntiles; t++) {
            const int b = (int)(t & 1);
            const long long base = t * tile_rows, rows = std::min<long long>(tile_rows, N - base);
            if (t >= 2) CUDA_CHECK(cudaEventSynchronize(done[b]));  // tile t-2 no longer uses buffer b
            const size_t bytes = (size_t)rows * d * sizeof(uint16_t);
            const char* src = (const char*)(host + (size_t)base * d);
            char* dst = (char*)staging[b].get();
#pragma omp parallel for schedule(static)
            for (long long off = 0; off < (long long)bytes; off += (1 << 20))
                memcpy(dst + off, src + off, std::min<size_t>(1 << 20, bytes - off));
            CUDA_CHECK(cudaMemcpy2DAsync(dtile[b].get(), (size_t)dp * 2, staging[b].get(), (size_t)d * 2,
                                         (size_t)d * 2, rows, cudaMemcpyHostToDevice, ts));
            CUDA_CHECK(cudaEventRecord(copied[b], ts));
            CUDA_CHECK(cudaStreamWaitEvent(cs, copied[b], 0));
            fn(dtile[b].get(), base, rows);
            CUDA_CHECK(cudaEventRecord(done[b], cs));
        }
    }
};

}  // namespace topk
}  // namespace reco
