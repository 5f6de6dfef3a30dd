// nccl_comm.cu — data-parallel collectives over NCCL on device buffers (see nccl_comm.h, SPEC §9).
#if RECO_NCCL
#include "nccl_comm.h"

#include <nccl.h>

#include <cstring>

#include "cuda_util.cuh"

namespace reco {

static void nccl_check(ncclResult_t r, const char* what, const char* file, int line) {
    if (r != ncclSuccess) fail("NCCL error %s (%d) in %s at %s:%d", ncclGetErrorString(r), (int)r, what, file, line);
}
#define NCCL_CHECK(expr) nccl_check((expr), #expr, __FILE__, __LINE__)

std::string nccl_unique_id() {
    ncclUniqueId id;
    NCCL_CHECK(ncclGetUniqueId(&id));
    return std::string(id.internal, sizeof(id.internal));
}

// out[i] = ((parts[0][i] + parts[1][i]) + parts[2][i]) + … (parts: R rows of n floats)
__global__ void sum_in_rank_order_kernel(float* out, const float* parts, int R, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float s = parts[i];
        for (int r = 1; r < R; r++) s += parts[(size_t)r * n + i];
        out[i] = s;
    }
}

struct NcclComm::Impl {
    ncclComm_t comm = nullptr;
    cudaStream_t stream = nullptr;
    int rank = 0, size = 1;
    DevBuf<float> parts, a, b;  // scratch: R·n gathered buffers; host-staging buffers
};

NcclComm::NcclComm(int rank, int size, const std::string& unique_id, int device) : impl_(new Impl) {
    if (unique_id.size() != sizeof(ncclUniqueId::internal))
        fail("NCCL: the unique id has %zu bytes, expected %zu", unique_id.size(), sizeof(ncclUniqueId::internal));
    ncclUniqueId id;
    std::memcpy(id.internal, unique_id.data(), unique_id.size());
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
    NCCL_CHECK(ncclCommInitRank(&impl_->comm, size, id, rank));
    impl_->rank = rank;
    impl_->size = size;
}

NcclComm::~NcclComm() {
    if (impl_->comm) ncclCommDestroy(impl_->comm);
    if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

int NcclComm::rank() const { return impl_->rank; }
int NcclComm::size() const { return impl_->size; }

void NcclComm::allgather_rows_device(const float* mine, float* all, const std::vector<int>& rows, int width) {
    if ((int)rows.size() != impl_->size) fail("NCCL all-gather: %zu row counts for %d ranks", rows.size(), impl_->size);
    size_t off = 0, my_off = 0;
    for (int r = 0; r < impl_->size; r++) {
        if (r == impl_->rank) my_off = off;
        off += (size_t)rows[r] * width;
    }
    const size_t mine_n = (size_t)rows[impl_->rank] * width;
    if (mine_n)
        CUDA_CHECK(cudaMemcpyAsync(all + my_off, mine, mine_n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   impl_->stream));
    NCCL_CHECK(ncclGroupStart());
    off = 0;
    for (int r = 0; r < impl_->size; r++) {
        const size_t n = (size_t)rows[r] * width;
        if (n) NCCL_CHECK(ncclBroadcast(all + off, all + off, n, ncclFloat, r, impl_->comm, impl_->stream));
        off += n;
    }
    NCCL_CHECK(ncclGroupEnd());
    CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void NcclComm::sum_in_rank_order_device(float* buf, size_t n) {
    if (n == 0) return;
    impl_->parts.reserve(n * impl_->size);
    NCCL_CHECK(ncclAllGather(buf, impl_->parts.get(), n, ncclFloat, impl_->comm, impl_->stream));
    const int blocks = (int)std::min<size_t>((n + 255) / 256, 4096);
    sum_in_rank_order_kernel<<<blocks, 256, 0, impl_->stream>>>(buf, impl_->parts.get(), impl_->size, n);
    KERNEL_CHECK();
    CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void NcclComm::allgather_rows(const float* mine, float* all, const std::vector<int>& rows, int width) {
    size_t total = 0;
    for (int r : rows) total += (size_t)r * width;
    const size_t mine_n = (size_t)rows.at(impl_->rank) * width;
    impl_->a.reserve(mine_n);
    impl_->b.reserve(total);
    if (mine_n) CUDA_CHECK(cudaMemcpy(impl_->a.get(), mine, mine_n * sizeof(float), cudaMemcpyHostToDevice));
    allgather_rows_device(impl_->a.get(), impl_->b.get(), rows, width);
    if (total) CUDA_CHECK(cudaMemcpy(all, impl_->b.get(), total * sizeof(float), cudaMemcpyDeviceToHost));
}

void NcclComm::allreduce_sum_ordered(float* buf, size_t n) {
    impl_->a.reserve(n);
    CUDA_CHECK(cudaMemcpy(impl_->a.get(), buf, n * sizeof(float), cudaMemcpyHostToDevice));
    sum_in_rank_order_device(impl_->a.get(), n);
    CUDA_CHECK(cudaMemcpy(buf, impl_->a.get(), n * sizeof(float), cudaMemcpyDeviceToHost));
}

}  // namespace reco
#endif
