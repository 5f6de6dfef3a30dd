// eval_setup.h — what `reco eval zeroshot --images` and `reco eval retrieval --pairs` share: the frozen
// encoder, and optionally the RECO parts (memory + fusion checkpoint + k + which side is refined), checked
// against each other before any image is embedded.
#pragma once
#include <memory>
#include <string>

#include "checkpoint.h"
#include "cli.h"
#include "encoder.h"
#include "memory.h"

namespace reco {

struct EvalReco {
    bool on = false;                     // --memory and --fusion given
    std::unique_ptr<EmbeddingFile> mem;
    Checkpoint ck;
    int k = 10;                          // --k, else the checkpoint's
    bool refine_image = false, refine_text = false;  // --refine image|text|both (default both)
    std::string refine = "none";
};

// --memory MEM --fusion CKPT [--k K] [--refine image|text|both]: both or neither; the memory and checkpoint
// must come from the encoder's model (d, model id, family); 1 ≤ k ≤ memory size.
EvalReco open_eval_reco(const Args& a, const Encoder& enc);

// "CLIP" or "SigLIP", for the printed tables.
const char* family_label(const Encoder& enc);

}  // namespace reco
