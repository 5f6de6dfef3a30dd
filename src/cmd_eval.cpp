// cmd_eval.cpp — `reco eval zeroshot|retrieval`: frozen CLIP vs RECO side by side (SPEC §1 "Inference", §6).
//
//   reco eval zeroshot  --data EMB --memory MEM --fusion CKPT [--k K]
//       Classes are the distinct captions of EMB (`--labels-from captions`, the only source for now):
//       item i's label is its caption, each class's prompt embedding is the text embedding of the
//       first item with that caption. Prints top-1 for frozen CLIP and RECO refining the image,
//       the prompts, or both. (To evaluate labels of your own, embed pairs whose caption is the
//       label prompt, e.g. "a photo of a {label}.", with `reco embed --pairs`.)
//   reco eval retrieval --data EMB --memory MEM --fusion CKPT [--k K]
//       Image→text and text→image recall@1/5/10 over EMB's N pairs (the paired item among all N),
//       frozen vs RECO (both sides refined).
// When EMB is the memory file itself, each query excludes its own pair from retrieval (the same
// rule as training), so an item cannot simply look up its own caption; in zero-shot evaluation it
// also excludes every item of its own class (their captions are the class's prompt: issue 10's leak).
#include <cstdio>
#include <memory>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "eval_retrieval.h"
#include "eval_zeroshot.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "reco_eval.h"
#include "retrieval_mode.h"

namespace reco {

struct EvalInputs {
    std::unique_ptr<EmbeddingFile> data;
    std::unique_ptr<ShardedMemory> mem;
    Checkpoint ck;
    RetrievalMode mode;          // the checkpoint's switches (retrieval_mode.h), --k may differ
    std::unique_ptr<ModeMemory> searched;
    int k = 10;
    bool self = false;           // data is the memory: exclude each item's own pair
    std::vector<int> exclude;    // [n] = i when self
};

static EvalInputs open_inputs(Args& a) {
    for (const char* opt : {"data", "memory", "fusion"})
        if (!a.has(opt)) fail("reco eval needs --data EMB --memory MEM --fusion CKPT (missing --%s)", opt);
    EvalInputs in;
    in.data.reset(new EmbeddingFile(a.get("data")));
    in.mem.reset(new ShardedMemory(a.get("memory")));
    check_compatible("data " + in.data->path(), in.data->d(), in.data->model(), "memory " + in.mem->path(),
                     in.mem->d(), in.mem->model());
    in.ck = load_checkpoint(a.get("fusion"));
    check_compatible("checkpoint " + in.ck.path, in.ck.model.dims.d, in.ck.settings.model, "data " + in.data->path(),
                     in.data->d(), in.data->model());
    in.mode = eval_mode(in.ck.settings.mode(), in.ck.path, a);
    in.k = in.mode.k;
    in.self = same_file(in.data->path(), in.mem->path());
    const int limit = in.self ? in.mem->n() - 1 : in.mem->n();
    if (in.k > limit)
        fail("%s: k=%d is larger than the memory (%d items%s)", in.mem->path().c_str(), in.k, in.mem->n(),
             in.self ? ", minus each item's own pair since the data is the memory" : "");
    if (in.self) {
        in.exclude.resize(in.data->n());
        for (int i = 0; i < in.data->n(); i++) in.exclude[i] = i;
    }
    in.searched.reset(new ModeMemory(*in.mem, in.mode));
    return in;
}

static std::vector<float> rows(const EmbeddingFile& f, bool image) {
    std::vector<float> out((size_t)f.n() * f.d());
    for (int i = 0; i < f.n(); i++) (image ? f.image_row(i, out.data() + (size_t)i * f.d()) : f.text_row(i, out.data() + (size_t)i * f.d()));
    return out;
}

static int eval_zeroshot(Args& a) {
    const std::string from = a.get("labels-from", "captions");
    if (from != "captions") fail("--labels-from %s: only 'captions' is supported", from.c_str());
    EvalInputs in = open_inputs(a);
    CaptionClasses cls = classes_from_captions(*in.data);
    // data == memory: every memory row carries its caption's class, and the class's prompt IS that
    // text, so a query must not see any row of its own class (not only its own pair): issue 10
    ZeroShotResult z = in.self ? zeroshot_eval(in.ck.model, *in.searched, rows(*in.data, true), cls.label,
                                               cls.prompt_emb, (int)cls.names.size(), cls.label)
                               : zeroshot_eval(in.ck.model, *in.searched, rows(*in.data, true), cls.label,
                                               cls.prompt_emb, (int)cls.names.size());
    printf("zero-shot classification: %d images, %d classes (captions of %s), memory %s (%d pairs), k=%d%s\n", z.n,
           z.classes, in.data->path().c_str(), in.mem->path().c_str(), in.mem->n(), in.k,
           in.self ? ", own pair and every item of the query's own class excluded" : "");
    printf("  %-26s %7s\n", "method", "top-1");
    printf("  %-26s %6.2f%%\n", "frozen CLIP", z.frozen);
    printf("  %-26s %6.2f%%\n", "RECO refine image", z.image);
    printf("  %-26s %6.2f%%\n", "RECO refine text", z.text);
    printf("  %-26s %6.2f%%\n", "RECO refine both", z.both);
    return 0;
}

static int eval_retrieval(Args& a) {
    EvalInputs in = open_inputs(a);
    const int n = in.data->n(), d = in.data->d();
    std::vector<float> img = rows(*in.data, true), txt = rows(*in.data, false);
    RecallResult frozen = retrieval_recall(img, txt, n, d);
    reco_refine(in.ck.model, *in.searched, Modality::image, img, n, in.self ? in.exclude.data() : nullptr);
    reco_refine(in.ck.model, *in.searched, Modality::text, txt, n, in.self ? in.exclude.data() : nullptr);
    RecallResult reco = retrieval_recall(img, txt, n, d);
    printf("image-text retrieval: %d pairs of %s, memory %s (%d pairs), k=%d%s\n", n, in.data->path().c_str(),
           in.mem->path().c_str(), in.mem->n(), in.k, in.self ? ", own pair excluded" : "");
    printf("  %-12s %8s %8s %8s   %8s %8s %8s\n", "", "i2t R@1", "R@5", "R@10", "t2i R@1", "R@5", "R@10");
    for (int m = 0; m < 2; m++) {
        const RecallResult& r = m == 0 ? frozen : reco;
        printf("  %-12s %7.2f%% %7.2f%% %7.2f%%   %7.2f%% %7.2f%% %7.2f%%\n", m == 0 ? "frozen CLIP" : "RECO (both)",
               r.i2t[0], r.i2t[1], r.i2t[2], r.t2i[0], r.t2i[1], r.t2i[2]);
    }
    return 0;
}

static int run_eval(Args& a, int, char**) {
    const auto& pos = a.positional();
    if (pos.size() != 1 || (pos[0] != "zeroshot" && pos[0] != "retrieval"))
        fail("usage: reco eval zeroshot|retrieval --data EMB --memory MEM --fusion CKPT [--k K]\n"
             "       reco eval zeroshot --images DIR [...]   (an ImageFolder)\n"
             "       reco eval retrieval --pairs PAIRS.tsv [...]");
    if (pos[0] == "zeroshot" && a.has("images")) return eval_zeroshot_images(a);  // an ImageFolder (eval_zeroshot.h)
    if (pos[0] == "retrieval" && a.has("pairs")) return eval_retrieval_pairs(a);   // a pairs TSV (eval_retrieval.h)
    return pos[0] == "zeroshot" ? eval_zeroshot(a) : eval_retrieval(a);
}

REGISTER_COMMAND(eval,
                 "eval zeroshot|retrieval --data EMB --memory MEM --fusion CKPT [--k K] [--labels-from captions]\n"
                 "                  frozen CLIP vs RECO side by side (zero-shot classes = distinct captions of EMB)\n"
                 "eval zeroshot --images DIR [--classes F] [--templates F] [--model DIR] [--memory MEM --fusion CKPT]\n"
                 "                  [--refine image|text|both] [--k K] [--near-dup 0.95|off] [--predictions OUT.tsv] [--per-class] [--no-cache]\n"
                 "                  [--skip-bad]   (leave out images that cannot be read or decoded, naming each)\n"
                 "eval retrieval --pairs PAIRS.tsv [--model DIR] [--memory MEM --fusion CKPT] [--refine ..] [--k K] [--near-dup ..] [--skip-bad]",
                 run_eval, {"data", "memory", "fusion", "k", "labels-from", "search", "fuse", "memory-fraction", "memory-seed",
                            "images", "classes", "templates", "model", "predictions", "refine", "pairs", "near-dup"},
                 {"per-class", "no-cache", "skip-bad"});

}  // namespace reco
