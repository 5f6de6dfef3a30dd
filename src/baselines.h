// baselines.h — the parameter-free baselines every RECO table is compared with (issue 10): what the
// retrieved items give WITHOUT a trained fusion module, under the same retrieval mode.
//
//   retrieved mean        q̄ = normalise( mean_i r_i )          r_i = the fused inputs (retrieval_mode.h)
//   query + retrieved mean q̄ = normalise( q + mean_i r_i )     (q and the r_i are unit vectors)
// With k = 0 both are the query itself. The paper tried mean fusion and found the transformer
// better (reco_paper.md §2); these rows show whether that holds on a given benchmark.
#pragma once
#include <vector>

#include "reco_eval.h"
#include "retrieval_mode.h"

namespace reco {

enum class Baseline { retrieved_mean, query_plus_mean };
const char* baseline_name(Baseline b);  // "retrieved mean" / "query + retrieved mean"

// Replace emb [n,d] (modality m) by the baseline's refinement.
void baseline_refine(const ModeMemory& mem, Modality m, Baseline b, std::vector<float>& emb, int n);

// Zero-shot top-1 (frozen, image, text, both) with the baseline in place of the fusion module.
ZeroShotResult zeroshot_baseline(const ModeMemory& mem, Baseline b, const std::vector<float>& img,
                                 const std::vector<int>& label, const std::vector<float>& cls, int C);

}  // namespace reco
