// data_parallel.h — one RECO training step split over R ranks (SPEC §9 "data-parallel training").
//
// The GLOBAL batch of B items (Trainer::batch_items: the same items in the same order as the
// single-process run) is cut into R contiguous slices, rank r holding rows [b0_r, b1_r) with
//   b0_r = r·⌊B/R⌋ + min(r, B mod R)       (the first B mod R ranks take one row more;
//                                            B < R leaves some ranks with no rows — they still take part)
// One step on rank r (every collective is called by every rank, in this order):
//   1. forward    V̄_r = φ_img(V_r, nbr_r),  T̄_r = φ_txt(T_r, nbr_r)        its rows only   [B_r,d]
//   2. all-gather [V̄ | T̄ | V | T] rows, rank order → the global batch's four [B,d] matrices
//   3. loss       L, dL/dV̄, dL/dT̄ [B,d] and dL/dlogit_scale(, dL/dlogit_bias) of the GLOBAL batch —
//                 every rank computes the identical numbers (same inputs, same code, same threads)
//   4. backward through the gather, by hand: the gather's adjoint is "take my rows", so rank r
//                 back-propagates dL/dV̄[b0_r:b1_r), dL/dT̄[b0_r:b1_r) through its own fusion rows,
//                 accumulating its module gradients (the frozen V, T and neighbours need none)
//   5. reduce     parameter gradients summed in rank order 0, 1, …, R−1 (a fixed order, so every rank
//                 holds the same bits); the loss scalars' gradient (identical on every rank) is
//                 contributed by rank 0 only, so it is counted once
//   6. update     the same AdamW step on every rank → identical weights everywhere
// The only difference from fusion_train_step (fusion_train.h) is the summation order of the module
// gradients (per slice, then across slices), so the loss trajectory matches the single-process run
// to float rounding (tests/test_data_parallel.cpp: simulated ranks; tests/test_mpi_train.cpp: mpirun).
//
// The collectives are an interface so the step can run over MPI (src/dist/), NCCL, or threads in
// one process (tests/thread_collectives.h, which simulates R ranks against the single-process step).
// Per step each rank sends 4·B_r·d floats and receives 4·B·d (the gather) and reduces
// total_numel floats (the gradients): docs/scaling.md.
#pragma once
#include <cstddef>
#include <vector>

#include "adamw.h"
#include "fusion.h"
#include "fusion_train.h"

namespace reco {

// What the data-parallel step needs from the processes it runs on.
class Collectives {
public:
    virtual ~Collectives() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // rows_per_rank[r] rows of `width` floats from each rank r, concatenated in rank order into `all`
    // (Σ rows_per_rank rows). `mine` holds this rank's rows_per_rank[rank()] rows.
    virtual void allgather_rows(const float* mine, float* all, const std::vector<int>& rows_per_rank, int width) = 0;
    // buf ← Σ_r buf_r summed in rank order ((buf_0 + buf_1) + buf_2) + …, the same bits on every rank.
    virtual void allreduce_sum_ordered(float* buf, size_t n) = 0;
};

// The same two collectives on DEVICE buffers (a CUDA rank: NcclComm in kernels/nccl_comm.h; threads on
// one GPU in tests/test_cuda_data_parallel.cpp). Pointers are device pointers; each call returns when
// the result is in place (the caller's stream work before it must be complete).
class DeviceCollectives {
public:
    virtual ~DeviceCollectives() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual void allgather_rows_device(const float* mine, float* all, const std::vector<int>& rows_per_rank,
                                       int width) = 0;
    virtual void sum_in_rank_order_device(float* buf, size_t n) = 0;
};

// The slice of a batch of B rows that rank r of R holds: [*b0, *b1).
void batch_slice(int B, int R, int r, int* b0, int* b1);
std::vector<int> batch_slice_rows(int B, int R);  // rows of every rank

struct DataParallelWorkspace {
    FusionCache<float> img, txt;
    FusionRefCache<float> img_ref, txt_ref;  // --impl reference (impl.h): the full-sequence layer
    std::vector<float> mine, all;           // packed [B_r,4d] and [B,4d]
    std::vector<float> Vbar, Tbar, V, T;    // the global batch [B,d]
    std::vector<float> dVbar, dTbar, grads;
};

// Rank c.rank()'s part of one training step on the global batch of B rows. V, T [B_r,d] and
// nbr_txt_for_img, nbr_img_for_txt [B_r,k,d] are ITS rows (batch_slice). Returns the global batch's
// loss before the update (the same value on every rank); updates model.params and opt identically on
// every rank.
float data_parallel_train_step(Collectives& c, FusionModel& model, AdamW& opt, DataParallelWorkspace& ws,
                               const float* V, const float* T, const float* nbr_txt_for_img,
                               const float* nbr_img_for_txt, int B, int k, double lr, LossKind loss);

// Steps 1–5 without the update: the global loss, and in `grads` (resized to total_numel) the reduced
// dL/dparams — what fusion_loss would give for the whole batch on one process.
float data_parallel_loss_and_grads(Collectives& c, const FusionModel& model, DataParallelWorkspace& ws,
                                   const float* V, const float* T, const float* nbr_txt_for_img,
                                   const float* nbr_img_for_txt, int B, int k, LossKind loss,
                                   std::vector<float>& grads);

}  // namespace reco
