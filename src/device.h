// device.h — choosing where the work runs: --device auto|cpu|cuda (SPEC §7).
//
// Every command accepts --device. "auto" (the default) runs on the GPU when this binary was
// built with CUDA (make with nvcc present) AND the CUDA runtime finds a device; otherwise the CPU
// runs and one line on stderr says so. "cuda" without a usable device is an error that names the
// reason (built without CUDA, no driver, no device, ...). Nothing here ever aborts: a machine
// without a driver simply has 0 devices.
#pragma once
#include <string>

namespace reco {

enum class Device { CPU, CUDA };

// Number of CUDA devices the runtime sees; 0 when built with CUDA=0, without a driver, or when
// cudaGetDeviceCount fails for any reason. Queried once, then cached.
int cuda_device_count();
// "NVIDIA H200 (sm_90, 139.8 GiB)" for device 0; "" when there is none.
std::string cuda_device_name();
// Why there is no device ("built without CUDA (make CUDA=0)", the runtime's error string, ...);
// "" when a device is present.
std::string cuda_unavailable_reason();

// flag "auto" or "": CUDA when cuda_device_count() > 0, else the CPU with the note
//   "reco: no CUDA device found; running on the CPU" on stderr (printed once per process).
// "cpu": the CPU. "cuda": CUDA, or reco::fail("--device cuda: no CUDA device available (REASON)").
// Anything else: reco::fail("--device must be auto, cpu or cuda (got '...')").
Device resolve_device(const std::string& flag);

const char* device_name(Device d);  // "cpu" / "cuda"

}  // namespace reco
