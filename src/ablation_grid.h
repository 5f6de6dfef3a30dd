// ablation_grid.h — the grid `reco ablate` runs (the paper's §4/§5.4 ablations, SPEC §1), the
// per-cell result files that make a rerun resume, and the report (ablations.md, ablations.csv).
//
// Cells (each one a fusion module trained under its retrieval mode, then scored; k = 10 and the
// whole memory unless the cell says otherwise):
//   search × fusion   uni/cross  (4 cells; uni search + cross fusion is RECO, the "base" cell)
//   control           k = 0: the same transformer trained on the query alone
//   k                 1, 5, 20 (10 is the base cell)
//   memory            a seeded 10% and 30% of the memory (100% is the base cell)
// plus rows that need no training of their own: frozen CLIP; the parameter-free baselines (retrieved
// mean, query + retrieved mean) under every cell's retrieval; refine image / text / both (the
// base cell scored with only the image, only the prompts, or both refined).
// Every number is top-1 on the TEST split; the VALIDATION split (when there is one) is reported
// beside it and is what settings were chosen on.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "reco_eval.h"
#include "retrieval_mode.h"

namespace reco {

struct GridCell {
    std::string id;     // file-name safe: "base", "search-uni-fuse-uni", "k0", "k5", "mem0.1", ...
    std::string group;  // "search x fusion", "control", "k", "memory"
    std::string label;  // the table's wording
    RetrievalMode mode;
};
// The grid for a default k (10) and a seed (the memory subset's seed).
std::vector<GridCell> ablation_grid(int k, uint64_t seed);

// What one trained cell scored on one split: trained fusion, retrieved mean, query + mean.
struct SplitScores {
    bool present = false;
    ZeroShotResult reco, mean, query_mean;
};
struct CellResult {
    std::string key;  // what was run (settings, data identity); a cached file with another key is redone
    double seconds = 0;
    SplitScores test, val;
};

// DIR/cells/<seed>_<id>.json, written atomically; read back only when its key matches.
std::string cell_path(const std::string& dir, int seed, const std::string& id);
void write_cell(const std::string& path, const CellResult& r);
bool read_cell(const std::string& path, const std::string& key, CellResult& r);  // false: absent/other key/bad

// The report over seeds: results[seed index][cell id].
struct AblationReport {
    std::string title;        // e.g. "synthetic benchmark (docs/synthetic.md), 3 seeds"
    std::vector<int> seeds;
    std::vector<GridCell> grid;
    std::vector<std::map<std::string, CellResult>> results;
};
// DIR/ablations.md and DIR/ablations.csv (atomically). Returns the markdown table.
std::string write_ablation_report(const std::string& dir, const AblationReport& r);

}  // namespace reco
