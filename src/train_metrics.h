// train_metrics.h — `reco train --metrics FILE.jsonl`: one JSON object per line, for plotting
// (tools/plot_ablations.py) and for comparing runs.
//
//   {"step": 10, "loss": 5.1, "lr": 0.001, "logit_scale": 2.66, "steps_per_s": 38.2, "items_per_s": 9779, "elapsed_s": 0.26}
//   {"step": 50, "eval": "val.safetensors", "frozen": 30.1, "image": 55.0, "text": 60.2, "both": 70.3}
// A step line every `every` steps (and at the last step); an eval line whenever the caller adds one
// (--eval EMB, every --eval-every steps; the synthetic benchmark evaluates its VALIDATION split).
// Written safely: the lines are kept in memory and the whole file is rewritten atomically
// (write_file_atomic: temp + rename) at most every few seconds and at the end, so FILE is always a
// complete JSONL file, never half a line, and an interrupted run leaves the lines so far.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "reco_eval.h"

namespace reco {

class MetricsWriter {
public:
    explicit MetricsWriter(const std::string& path);  // checks that path can be written (check_output_path)
    void step(int64_t step, float loss, double lr, float logit_scale, double steps_per_s, int batch, double elapsed);
    void eval(int64_t step, const std::string& eval_path, const ZeroShotResult& z);
    void flush();  // rewrite the file now
    const std::string& path() const { return path_; }

private:
    void maybe_flush();
    std::string path_, text_;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace reco
