// device.cpp — the --device flag and the CUDA runtime query (see device.h).
//
// Built with RECO_CUDA=1 this file calls the CUDA runtime API directly (cudart_static is linked);
// cudaGetDeviceCount returns an error — never crashes — when the machine has no driver
// (cudaErrorInsufficientDriver / cudaErrorNoDevice), and we report that as 0 devices.
#include "device.h"

#include <cstdio>
#include <mutex>

#include "common.h"
#include "impl.h"

#if RECO_CUDA
#include <cuda_runtime_api.h>
#endif

namespace reco {

namespace {
struct DeviceInfo {
    int count = 0;
    std::string name, reason;
};

const DeviceInfo& device_info() {
    static DeviceInfo info;
    static std::once_flag once;
    std::call_once(once, [] {
#if RECO_CUDA
        int n = 0;
        cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess) {
            info.reason = strformat("%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
            cudaGetLastError();  // clear the sticky-free error so later calls start clean
            n = 0;
        } else if (n == 0) {
            info.reason = "the CUDA runtime reports 0 devices";
        }
        info.count = n;
        if (n > 0) {
            cudaDeviceProp p;
            if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
                info.name = strformat("%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                                      p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
            else
                info.name = "CUDA device 0";
        }
#else
        info.reason = "this binary was built without CUDA (make CUDA=0, or no nvcc at build time)";
#endif
    });
    return info;
}
}  // namespace

int cuda_device_count() { return device_info().count; }
std::string cuda_device_name() { return device_info().name; }
std::string cuda_unavailable_reason() { return device_info().count > 0 ? "" : device_info().reason; }

const char* device_name(Device d) { return d == Device::CUDA ? "cuda" : "cpu"; }

Device resolve_device(const std::string& flag) {
    if (flag == "cpu") return Device::CPU;
    if (impl() == Impl::reference) {  // the plain reference code runs on the CPU only (impl.h)
        if (flag == "cuda") fail("--impl reference runs on the CPU only; leave out --device cuda (or use --impl fast)");
        if (flag.empty() || flag == "auto") return Device::CPU;
    }
    if (flag.empty() || flag == "auto") {
        if (cuda_device_count() > 0) return Device::CUDA;
        static std::once_flag noted;
        std::call_once(noted, [] { fprintf(stderr, "reco: no CUDA device found; running on the CPU\n"); });
        return Device::CPU;
    }
    if (flag == "cuda") {
        if (cuda_device_count() > 0) return Device::CUDA;
        fail("--device cuda: no CUDA device available (%s)", cuda_unavailable_reason().c_str());
    }
    fail("--device must be auto, cpu or cuda (got '%s')", flag.c_str());
}

}  // namespace reco
