// nccl_comm.h — the data-parallel collectives (src/dist/data_parallel.h) over NCCL on DEVICE
// buffers, one rank per GPU (SPEC §9: "on GPUs the collectives run over NCCL, no host round-trip").
//
//   allgather_rows      rows_per_rank[r]·width floats of every rank, concatenated in rank order:
//                       one ncclBroadcast per rank with rows (rooted at that rank, in place) inside
//                       one ncclGroupStart/End — NCCL has no all-gather with uneven counts
//   sum_in_rank_order   buf ← ((buf_0 + buf_1) + buf_2) + …: an ncclAllGather of the R buffers, then
//                       one kernel adding them in rank order, so every rank holds the same bits and the
//                       result does not depend on NCCL's ring/tree choice (ncclAllReduce's order does)
//
// NcclComm also implements the host-pointer Collectives interface (copy in, collective, copy out)
// so the CPU data-parallel step can run over it (tests/test_nccl.cpp: one rank on one GPU against the
// single process; several ranks need one GPU each).
// The communicator is created from an ncclUniqueId that rank 0 makes and broadcasts over MPI
// (dist::broadcast). Compiled only when the build finds NCCL (RECO_NCCL=1: tools/get_nccl.sh).
#pragma once
#if RECO_CUDA && RECO_NCCL
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "dist/data_parallel.h"

namespace reco {

// A fresh ncclUniqueId as bytes (rank 0), to be broadcast to every rank.
std::string nccl_unique_id();

class NcclComm : public Collectives, public DeviceCollectives {
public:
    // Every rank calls this collectively with the same id; `device` is this rank's GPU.
    NcclComm(int rank, int size, const std::string& unique_id, int device);
    ~NcclComm() override;
    NcclComm(const NcclComm&) = delete;
    NcclComm& operator=(const NcclComm&) = delete;

    int rank() const override;
    int size() const override;
    // Device pointers; synchronous on this rank's stream (returns when the result is in place).
    void allgather_rows_device(const float* mine, float* all, const std::vector<int>& rows_per_rank,
                               int width) override;
    void sum_in_rank_order_device(float* buf, size_t n) override;
    // Host pointers (Collectives): staged through device buffers.
    void allgather_rows(const float* mine, float* all, const std::vector<int>& rows_per_rank, int width) override;
    void allreduce_sum_ordered(float* buf, size_t n) override;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace reco
#endif
