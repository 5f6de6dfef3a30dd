// checkpoint.h — the fusion checkpoint: one safetensors file (SPEC §3, §4 "training can resume").
//
// Tensors (all F32, SPEC §3 names, Linear weights [out, in] as PyTorch):
//   image_fusion.* , text_fusion.* , logit_scale            the model (FusionModel::save)
//   logit_bias                                              only with loss "sigmoid" (sigmoid_loss.h)
//   optim.exp_avg.<name>, optim.exp_avg_sq.<name>           AdamW moments, when saved for resuming
// __metadata__ (all strings, numbers in decimal, reals with 17 significant digits so they round-trip):
//   format "reco-fusion-v1", d, heads, k, step, epoch, epoch_step, model (CLIP model id), data,
//   memory, data_n, batch, total_steps, lr, weight_decay, warmup, schedule, shuffle, seed,
//   loss ("nce" | "sigmoid"; absent in older checkpoints, which load as "nce"; a sigmoid checkpoint
//   holds the logit_bias tensor and its AdamW moments, an nce one must not),
//   optimizer ("adamw" with moments, "none" without), optim_step (AdamW's t), adam_beta1/2, adam_eps,
//   search, fuse, memory_fraction, memory_seed (the ablation switches, retrieval_mode.h; absent in
//   older checkpoints, which load as the paper's uni-modal search and cross-modal fusion); k may be
//   0 (the no-retrieval control).
//
// Everything a resumed run needs to continue bit for bit is here: the weights, AdamW's t, m and v,
// the step counter and the run's settings. Batches are not stored: the batch of step s is a pure
// function of (seed, s, data_n, batch, shuffle) (trainer.h), so the step counter is the position.
// Written atomically (SafeTensorsWriter::write: temp file + rename), so an interrupted save leaves
// the previous checkpoint intact.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "adamw.h"
#include "fusion.h"
#include "fusion_train.h"  // LossKind
#include "retrieval_mode.h"

namespace reco {

extern const char* kFusionFormat;  // "reco-fusion-v1"

// The settings of one training run (what `reco train` was asked to do); stored in checkpoints.
struct TrainSettings {
    int k = 10;                   // neighbours per item (0: the no-retrieval control)
    SearchMode search = SearchMode::uni;  // the ablation switches (retrieval_mode.h)
    FuseMode fuse = FuseMode::cross;
    double memory_fraction = 1.0;
    uint64_t memory_seed = 0;
    int batch = 256;              // items per step (the last partial batch of an epoch is dropped)
    int heads = 8;                // attention heads of the fusion modules
    int64_t total_steps = 0;      // length of the run; the cosine schedule ends here
    double lr = 1e-3;             // peak learning rate (paper)
    double weight_decay = 0.05;   // AdamW decoupled decay on 2-D weights (SPEC §4)
    int64_t warmup = 0;           // linear warm-up steps (cosine schedule only)
    std::string schedule = "cosine";  // "cosine" | "constant"
    std::string loss = "nce";         // "nce" (the paper's) | "sigmoid" (SigLIP's); fusion_train.h
    bool shuffle = true;          // false: batches in file order
    uint64_t seed = 0;            // model init and per-epoch permutations
    std::string data, memory;     // embedding files: absolute paths (older checkpoints: as typed)
    std::string model;            // CLIP model id (from the data file)
    int64_t data_n = 0;           // items in the data file (the batch order depends on it)

    LrSchedule lr_schedule() const;  // throws on an unknown schedule name
    LossKind loss_kind() const;      // throws on an unknown loss name
    RetrievalMode mode() const;      // k, search, fuse, memory_fraction, memory_seed
    void set_mode(const RetrievalMode& m);
};

// One checkpoint in memory.
struct Checkpoint {
    std::string path;
    FusionModel model;
    TrainSettings settings;
    int64_t step = 0;            // optimiser steps done when it was saved
    bool has_optimizer = false;  // AdamW moments present (resumable)
    AdamW opt;                   // valid when has_optimizer (t, m, v restored)
    std::map<std::string, std::string> metadata;
};

// Write model (+ opt when non-null) and settings to path, atomically. step = steps done.
void save_checkpoint(const std::string& path, const FusionModel& model, const AdamW* opt,
                     const TrainSettings& settings, int64_t step);

// Read and validate a checkpoint: format, every tensor's name and shape (errors name the file and
// the tensor), finite values, metadata numbers. Unknown tensors are an error (a wrong file).
Checkpoint load_checkpoint(const std::string& path);

}  // namespace reco
