// trainer.h — the RECO training loop (SPEC §4): batches, the fusion step, logging, checkpoints.
//
// The loss is settings.loss (fusion_train.h: nce, or sigmoid with the model's logit_bias).
// One step s (0-based) of a run over N data items with batch B:
//   steps_per_epoch = ⌊N/B⌋ (the last partial batch of each epoch is DROPPED, so every step sees
//                     exactly B items and the loss scale never changes)
//   epoch = s / steps_per_epoch,  j = s mod steps_per_epoch
//   items = perm_epoch[j·B .. j·B+B)   perm_epoch = identity (--no-shuffle) or
//                                      epoch_permutation(seed, epoch, N)
//   V, T            = the items' frozen image / text embeddings                       [B,d]
//   nbr_txt_for_img = memory TEXT embeddings of each item's image→image neighbours    [B,k,d]
//   nbr_img_for_txt = memory IMAGE embeddings of each item's text→text neighbours     [B,k,d]
//                   (the paper's mode; settings.search/fuse choose other sides, retrieval_mode.h,
//                   and k = 0 trains the modules on the query alone)
//   loss_s        = fusion_train_step(...) with lr = schedule(s)   (the loss BEFORE the update)
// The batch of step s depends only on (seed, s, N, B, shuffle): a run resumed at step s from a
// checkpoint (weights, AdamW t/m/v, settings) computes exactly what the uninterrupted run would
// have (given the same thread count: OpenMP work is split statically).
#pragma once
#include <csignal>
#include <functional>
#include <memory>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "adamw.h"
#include "checkpoint.h"
#include "dist/data_parallel.h"
#include "fusion.h"
#include "fusion_train.h"
#include "dist/sharded_memory.h"
#include "memory.h"
#include "neighbour_cache.h"

namespace reco {

// A seeded permutation of 0..n-1 for one epoch: std::mt19937_64 seeded from (seed, epoch) through
// splitmix64, then Fisher–Yates with unbiased (rejection-sampled) draws. Portable and stable.
std::vector<int> epoch_permutation(uint64_t seed, int64_t epoch, int n);

// ln(1/0.07): CLIP's initial temperature, used when the CLIP checkpoint's logit_scale is unknown.
extern const float kDefaultLogitScale;
// The logit_scale of the CLIP model named by `model` when it is a directory holding
// model.safetensors with a `logit_scale` tensor; else kDefaultLogitScale. *source says which.
float clip_logit_scale(const std::string& model, std::string* source = nullptr);

class Trainer {
public:
    // data/mem/nb must outlive the trainer. step = steps already done (0 for a new run).
    // Checks: nb matches data and settings.k, model width == data width, batch ≤ N, opt sized.
    Trainer(const EmbeddingFile& data, const ShardedMemory& mem, const NeighbourIndex& nb,
            const TrainSettings& settings, FusionModel model, AdamW opt, int64_t step);
    // The same with a one-file memory (wrapped in a ShardedMemory the trainer keeps).
    Trainer(const EmbeddingFile& data, const EmbeddingFile& mem, const NeighbourIndex& nb,
            const TrainSettings& settings, FusionModel model, AdamW opt, int64_t step);

    int64_t steps_per_epoch() const { return steps_per_epoch_; }
    int64_t steps_done() const { return step_; }
    // The data rows of batch `step` (see the top of this file).
    void batch_items(int64_t step, std::vector<int>& items);
    // One training step; returns the loss of the batch before the update.
    float step();
    // The learning rate of step s (0-based) under the run's schedule.
    double lr_at(int64_t s) const { return schedule_.lr_at(s); }
    // Checkpoint with the AdamW moments (resumable), atomically (syncs from the GPU first).
    void save(const std::string& path);
    // Run the steps on the CUDA backend (FusionGpu: parameters, gradients and AdamW moments on the
    // device, the CPU's operations in the same order). Only in CUDA builds with a device, and only
    // for the nce loss (the sigmoid loss has no kernels: throws).
    void use_cuda();
    // Bring the device's weights and AdamW state back into `model` / `opt` (no-op on the CPU).
    void sync_from_device();
    // Split every step's batch over the ranks of `c` (dist/data_parallel.h): this process loads and
    // runs only its slice; the loss, the reduced gradients and the update are the global batch's.
    // c (and device) must outlive the trainer; every rank must call step() the same number of times.
    // After use_cuda() the step runs on the GPU and needs `device` (NCCL) for its collectives.
    void use_data_parallel(Collectives* c, DeviceCollectives* device = nullptr);
    ~Trainer();

    TrainSettings settings;
    FusionModel model;
    AdamW opt;

private:
    const EmbeddingFile& data_;
    Trainer(const EmbeddingFile& data, const ShardedMemory* mem, std::unique_ptr<ShardedMemory> own,
            const NeighbourIndex& nb, const TrainSettings& settings, FusionModel model, AdamW opt, int64_t step);
    std::unique_ptr<ShardedMemory> own_mem_;  // only for the EmbeddingFile constructor
    const ShardedMemory* mem_;
    const NeighbourIndex& nb_;
    LrSchedule schedule_;
    LossKind loss_ = LossKind::nce;  // settings.loss; must agree with model.dims.logit_bias
    bool fuse_images_for_img_ = false, fuse_images_for_txt_ = true;  // settings' --fuse (retrieval_mode.h)
    int64_t step_ = 0, steps_per_epoch_ = 0;
    int64_t perm_epoch_ = -1;
    std::vector<int> perm_, items_;
    std::vector<float> V_, T_, nbr_txt_for_img_, nbr_img_for_txt_;
    FusionTrainWorkspace ws_;
    struct Gpu;                 // the CUDA state (trainer.cpp), null on the CPU
    std::unique_ptr<Gpu> gpu_;
    Collectives* dp_ = nullptr;  // data-parallel ranks, null on one process
    DeviceCollectives* dp_device_ = nullptr;  // their device-buffer collectives (GPU ranks)
    std::unique_ptr<DataParallelWorkspace> dp_ws_;
};

struct TrainLoopOptions {
    int64_t log_every = 0;    // print "step <n> loss <value>" every n steps (0: never)
    int64_t save_every = 0;   // checkpoint to `out` every n steps (0: only at the end)
    int64_t stop_after = 0;   // stop after this many steps of this call (0: run to total_steps)
    std::string out;          // checkpoint path ("" : never save)
    FILE* log = stdout;       // where step lines go
    bool progress = true;     // the progress line on stderr
    const volatile std::sig_atomic_t* interrupt = nullptr;  // set (by a signal handler) → save, stop
    // called after every step with the number of steps done, that step's loss and the seconds since
    // the loop started (metrics, periodic evaluation: train_metrics.h)
    std::function<void(Trainer&, int64_t steps_done, float loss, double seconds)> on_step;
};

struct TrainLoopResult {
    std::vector<float> losses;  // one per step run
    bool interrupted = false;
    double seconds = 0;
};

// Run steps until settings.total_steps (or stop_after, or an interrupt), logging and saving as asked;
// always saves at the end when `out` is set.
TrainLoopResult train_loop(Trainer& t, const TrainLoopOptions& o);

}  // namespace reco
