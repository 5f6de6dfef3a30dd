// fuzz_checkpoint.cpp — load_checkpoint, the one loader of fusion checkpoints (`train --resume`,
// `train --init`, `classify --fusion`, `eval --fusion`): metadata numbers, tensor names and shapes,
// AdamW moments, non-finite values. An accepted checkpoint must be usable: its model refines.
#include "checkpoint.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::as_file(data, size, ".safetensors");
    fuzz::expect_ok_or_error([&] {
        reco::Checkpoint ck = reco::load_checkpoint(path);
        if (ck.model.params.size() != ck.model.dims.total_numel() || ck.settings.k < 1 || ck.settings.batch < 1)
            abort();
        if (ck.has_optimizer && (ck.opt.m.size() != ck.model.params.size() || ck.opt.t < 0)) abort();
        (void)ck.settings.lr_schedule();  // an unknown schedule name: an Error
    });
    return 0;
}
