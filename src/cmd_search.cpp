// cmd_search.cpp — `reco search`: the k nearest memory pairs of an image or a text, with scores
// and captions. Uni-modal by default (image → memory images, text → memory texts; SPEC §1);
// --cross searches the other modality (the paper's cross-modal-search ablation).
#include <cstdio>

#include "cli.h"
#include "encoder.h"
#include "common.h"
#include "memory.h"
#include "retrieval.h"

namespace reco {

static int run_search(Args& a, int, char**) {
    if (!a.has("memory")) fail("search needs --memory MEM (an embedding file: reco memory build / import-npy)");
    std::vector<std::pair<bool, std::string>> queries;  // (is_image, value)
    for (auto& kv : a.ordered()) {
        if (kv.first == "image") queries.push_back({true, kv.second});
        if (kv.first == "text") queries.push_back({false, kv.second});
    }
    if (queries.empty()) fail("search needs --image FILE or --text STRING");
    if (!a.positional().empty()) fail("unexpected argument '%s'", a.positional()[0].c_str());
    const int k = a.get_int("k", 10);
    EmbeddingFile mem(a.get("memory"));
    if (k < 1) fail("--k must be at least 1");
    if (k > mem.n()) fail("--k %d is larger than the memory %s (%d items)", k, mem.path().c_str(), mem.n());
    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"), a.get("precision", "fp32"));
    Encoder& enc = *encoder;
    check_compatible("memory " + mem.path(), mem.d(), mem.model(), "model " + enc.dir(), enc.dim(),
                     enc.name());
    check_family("memory " + mem.path(), mem.family(), "model " + enc.dir(), family_name(enc.family()));
    const bool cross = a.has("cross");
    for (auto& q : queries) {
        std::vector<float> e = q.first ? enc.embed_image_files({q.second}) : enc.embed_texts({q.second});
        Modality m = q.first ? Modality::image : Modality::text;
        Neighbours nb = retrieve(mem, m, e.data(), 1, k, cross);
        bool searched_images = q.first != cross;
        printf("%s %s  (searching memory %s, %d items)\n", q.first ? "image" : "text", q.second.c_str(),
               searched_images ? "images" : "texts", mem.n());
        printf("  rank  index     score    caption\n");
        for (int i = 0; i < k; i++)
            printf("  %4d  %-8d  %.5f  %s\n", i + 1, nb.idx[i], nb.score[i],
                   mem.has_captions() ? mem.caption(nb.idx[i]).c_str() : "-");
    }
    return 0;
}

REGISTER_COMMAND(search,
                 "search --memory MEM (--image F | --text S)... [--model DIR] [--k 10] [--cross]   nearest pairs",
                 run_search, {"memory", "image", "text", "model", "k"}, {"cross"});

}  // namespace reco
