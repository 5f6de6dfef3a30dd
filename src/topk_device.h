// topk_device.h — the exact top-k (SPEC §5) on the device `--device` chose (SPEC §7): topk_search
// (src/topk.h) on the CPU, TopkGpu (kernels/topk_gpu.h: tensor-core filter + exact re-scoring) on a
// CUDA device. Both follow topk.h's reference definition, so the indices and score bits are the same
// whichever runs (tests/test_cuda_topk*.cpp). One object per searched memory matrix: on the GPU it
// uploads the memory once (or streams it when it does not fit) and serves every search after that.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "device.h"

namespace reco {

class TopkSearcher {
public:
    // mem_f16 [N,d] binary16 bits; must stay alive and unchanged as long as this object.
    // Device::CUDA needs a CUDA build and a device (resolve_device checks both).
    TopkSearcher(Device dev, const uint16_t* mem_f16, int N, int d);
    ~TopkSearcher();
    TopkSearcher(const TopkSearcher&) = delete;
    TopkSearcher& operator=(const TopkSearcher&) = delete;
    // topk_search's contract (topk.h).
    void search(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude = nullptr);
    Device device() const { return dev_; }

private:
    Device dev_;
    const uint16_t* mem_;
    int N_, d_;
    struct Gpu;
    std::unique_ptr<Gpu> gpu_;
};

// The device searches run on in this process: the command's --device flag (main.cpp sets it),
// resolved at the first search (so commands that never search print no device note). Default "auto".
void set_search_device_flag(const std::string& flag);
Device search_device();

// One-shot: a searcher for this call only. On CUDA, k beyond the GPU kernels' limit (1024) runs on the
// CPU (same results).
void topk_search_on(Device dev, const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k,
                    int* out_idx, float* out_score, const int* exclude = nullptr);

}  // namespace reco
