// topk_device.cpp — the exact top-k on the CPU or a CUDA device (see topk_device.h).
#include "topk_device.h"

#include "common.h"
#include "topk.h"
#if RECO_CUDA
#include "topk_gpu.h"
#endif

namespace reco {

struct TopkSearcher::Gpu {
#if RECO_CUDA
    Gpu(const uint16_t* mem, int N, int d) : impl(mem, N, d) {}
    TopkGpu impl;
#endif
};

TopkSearcher::TopkSearcher(Device dev, const uint16_t* mem_f16, int N, int d)
    : dev_(dev), mem_(mem_f16), N_(N), d_(d) {
    if (dev != Device::CUDA) return;
#if RECO_CUDA
    gpu_.reset(new Gpu(mem_f16, N, d));
#else
    fail("top-k search: this build has no CUDA backend (built with CUDA=0)");
#endif
}

TopkSearcher::~TopkSearcher() = default;

void TopkSearcher::search(const float* queries, int Q, int k, int* out_idx, float* out_score, const int* exclude) {
#if RECO_CUDA
    if (gpu_) {
        gpu_->impl.search(queries, Q, k, out_idx, out_score, exclude);
        return;
    }
#endif
    topk_search(queries, mem_, Q, N_, d_, k, out_idx, out_score, exclude);
}

static std::string g_flag = "auto";
static int g_resolved = -1;  // -1: not yet

void set_search_device_flag(const std::string& flag) {
    g_flag = flag;
    g_resolved = -1;
}

Device search_device() {
    if (g_resolved < 0) g_resolved = (int)resolve_device(g_flag);
    return (Device)g_resolved;
}

void topk_search_on(Device dev, const float* queries, const uint16_t* mem_f16, int Q, int N, int d, int k,
                    int* out_idx, float* out_score, const int* exclude) {
    if (dev == Device::CPU || k > 1024) {
        topk_search(queries, mem_f16, Q, N, d, k, out_idx, out_score, exclude);
        return;
    }
    TopkSearcher s(dev, mem_f16, N, d);
    s.search(queries, Q, k, out_idx, out_score, exclude);
}

}  // namespace reco
