// eval_setup.cpp — the RECO parts of `reco eval --images/--pairs`, checked together (see eval_setup.h).
#include "eval_setup.h"

#include "common.h"

namespace reco {

const char* family_label(const Encoder& enc) { return enc.family() == ModelFamily::siglip ? "SigLIP" : "CLIP"; }

EvalReco open_eval_reco(const Args& a, const Encoder& enc) {
    EvalReco r;
    r.on = a.has("memory") || a.has("fusion");
    if (r.on && !(a.has("memory") && a.has("fusion"))) fail("RECO evaluation needs both --memory MEM and --fusion CKPT");
    r.refine = a.get("refine", r.on ? "both" : "none");
    if (r.refine != "image" && r.refine != "text" && r.refine != "both")
        if (r.on || r.refine != "none") fail("--refine must be image, text or both (got '%s')", r.refine.c_str());
    if (!r.on) {
        for (const char* o : {"refine", "k", "search", "fuse", "memory-fraction", "memory-seed", "near-dup"})
            if (a.has(o)) fail("--%s needs --memory MEM and --fusion CKPT", o);
        return r;
    }
    const std::string nd = a.get("near-dup", "0.95");
    if (nd == "off") r.near_dup = -1;
    else {
        r.near_dup = a.get_double("near-dup", 0.95);
        if (!(r.near_dup > 0 && r.near_dup <= 1))
            fail("--near-dup must be a cosine in (0, 1] or 'off' (got '%s')", nd.c_str());
    }
    r.refine_image = r.refine == "image" || r.refine == "both";
    r.refine_text = r.refine == "text" || r.refine == "both";
    r.mem.reset(new ShardedMemory(a.get("memory")));
    check_compatible("memory " + r.mem->path(), r.mem->d(), r.mem->model(), "model " + enc.dir(), enc.dim(), enc.name());
    check_family("memory " + r.mem->path(), r.mem->family(), "model " + enc.dir(), family_name(enc.family()));
    r.ck = load_checkpoint(a.get("fusion"));
    check_compatible("checkpoint " + r.ck.path, r.ck.model.dims.d, r.ck.settings.model, "model " + enc.dir(),
                     enc.dim(), enc.name());
    r.mode = eval_mode(r.ck.settings.mode(), r.ck.path, a);  // refuses another --search/--fuse, naming both
    r.k = r.mode.k;
    if (r.k > r.mem->n())
        fail("--k %d is larger than the memory %s (%d items)", r.k, r.mem->path().c_str(), r.mem->n());
    r.searched.reset(new ModeMemory(*r.mem, r.mode));
    return r;
}

}  // namespace reco
