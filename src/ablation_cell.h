// ablation_cell.h — one cell of an experiment: train a fusion module under a retrieval mode on given
// files, then score it and the parameter-free baselines on an evaluation set (`reco ablate`, the
// synthetic benchmark's `reco train`). The training is the same code path as `reco train`
// (trainer.h: neighbours once, Trainer, train_loop), without the command-line handling.
#pragma once
#include <string>
#include <vector>

#include "baselines.h"
#include "checkpoint.h"
#include "memory.h"
#include "reco_eval.h"
#include "trainer.h"

namespace reco {

// A zero-shot evaluation set from an embedding file: classes = distinct captions (classes_from_captions).
struct EvalSet {
    std::string path;
    std::vector<float> img, cls;  // [n,d], [C,d]
    std::vector<int> label;       // [n]
    int C = 0;
};
EvalSet load_eval_set(const EmbeddingFile& f);

// Train a new fusion module on data/mem with settings s (s.mode() chooses the retrieval; s.seed the
// initialisation and batches; s.total_steps the length). logit_scale: the initial value. o: loop
// options (progress, metrics); r (nullable) receives the losses and time.
FusionModel train_fusion(const EmbeddingFile& data, const ShardedMemory& mem, TrainSettings s, float logit_scale,
                         const TrainLoopOptions& o, TrainLoopResult* r = nullptr);

// Trained fusion, the two baselines, all under the same mode (the baselines only use the retrieval).
struct CellScores {
    ZeroShotResult reco, mean, query_mean;
};
CellScores score_cell(const FusionModel& model, const ShardedMemory& mem, const RetrievalMode& mode, const EvalSet& e);

}  // namespace reco
