// local_device.cpp — the node-local rank's GPU (see local_device.h).
#include "dist/local_device.h"

#include <cstdlib>
#include <string>

#include "device.h"
#if RECO_CUDA
#include <cuda_runtime_api.h>
#endif

namespace reco {

int launcher_local_rank() {
    for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"}) {
        const char* s = getenv(v);
        if (!s || !*s) continue;
        char* end = nullptr;
        const long r = strtol(s, &end, 10);
        if (*end == 0 && r >= 0 && r < (1L << 30)) return (int)r;
    }
    return -1;
}

int bind_local_device() {
    const int local = launcher_local_rank();
    if (local < 0) return -1;
    const int count = cuda_device_count();
    if (count <= 0) return -1;
#if RECO_CUDA
    const int dev = local % count;
    if (cudaSetDevice(dev) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    return dev;
#else
    return -1;
#endif
}

}  // namespace reco
