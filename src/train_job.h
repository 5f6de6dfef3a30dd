// train_job.h — one `reco train` run as a function, shared by cmd_train.cpp (your files) and
// cmd_train_synthetic.cpp (the built-in synthetic benchmark, which trains through the same path).
#pragma once
#include <string>

#include "cli.h"
#include "retrieval_mode.h"
#include "trainer.h"

namespace reco {

// What one invocation trains: the data and memory files and the options that apply.
struct TrainJob {
    std::string data, memory;
    bool synthetic = false;
    int64_t default_steps = 0;  // 0: 10 epochs
    std::string default_eval;   // evaluated during training with --metrics when no --eval (synthetic: val)
};

struct TrainOutcome {
    FusionModel model;
    int k = 0;
    RetrievalMode mode;
    TrainSettings settings;
    int64_t step = 0;
    bool interrupted = false;
};

// Train as the command line says (data, memory, resume, metrics, ...; cmd_train.cpp).
TrainOutcome train_job(Args& a, const TrainJob& job);

// `reco train` without --data: build the synthetic benchmark, train, print the comparison table
// (cmd_train_synthetic.cpp).
int run_synthetic_benchmark(Args& a);

}  // namespace reco
