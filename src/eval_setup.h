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
#include "retrieval_mode.h"

namespace reco {

struct EvalReco {
    bool on = false;                     // --memory and --fusion given
    std::unique_ptr<ShardedMemory> mem;
    Checkpoint ck;
    RetrievalMode mode;                  // the checkpoint's switches (retrieval_mode.h); --k, --memory-fraction may differ
    std::unique_ptr<ModeMemory> searched;  // mem as that mode searches and fuses it
    int k = 10;                          // --k, else the checkpoint's (0: the no-retrieval control)
    bool refine_image = false, refine_text = false;  // --refine image|text|both (default both)
    std::string refine = "none";
    double near_dup = 0.95;              // --near-dup COS (eval_dedup.h); < 0: off
};

// --memory MEM --fusion CKPT [--k K] [--refine image|text|both]: both or neither; the memory and checkpoint
// must come from the encoder's model (d, model id, family); k ≤ memory size. The retrieval mode is the
// checkpoint's: --search/--fuse given with other values are refused naming both (eval_mode).
// --near-dup COS|off (default 0.95): the cosine at which a memory image counts as a near-duplicate of an
// evaluated image and is removed (eval_dedup.h).
EvalReco open_eval_reco(const Args& a, const Encoder& enc);

// "CLIP" or "SigLIP", for the printed tables.
const char* family_label(const Encoder& enc);

}  // namespace reco
