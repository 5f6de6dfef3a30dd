// cmd_embed.cpp — `reco embed`: print L2-normalised CLIP embeddings, one line per input.
//
//   reco embed --model DIR (--image FILE | --text STRING)...
// Inputs are printed in the order given; images and texts are batched separately.
#include <cstdio>

#include "cli.h"
#include "encoder.h"
#include "common.h"

namespace reco {

int cmd_embed_pairs(Args& a);  // cmd_embed_pairs.cpp: --pairs TSV --out FILE

static int run_embed(Args& a, int, char**) {
    if (a.has("pairs")) return cmd_embed_pairs(a);
    std::vector<std::string> images, texts;
    std::vector<std::pair<bool, size_t>> order;  // (is_image, index)
    for (auto& kv : a.ordered()) {
        if (kv.first == "image") { order.push_back({true, images.size()}); images.push_back(kv.second); }
        if (kv.first == "text") { order.push_back({false, texts.size()}); texts.push_back(kv.second); }
    }
    if (!a.positional().empty()) fail("unexpected argument '%s' (use --image FILE or --text STRING)", a.positional()[0].c_str());
    if (order.empty()) fail("nothing to embed: give --image FILE and/or --text STRING (or --pairs TSV --out FILE)");
    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"), a.get("precision", "fp32"));
    Encoder& enc = *encoder;
    auto ie = enc.embed_image_files(images);
    auto te = enc.embed_texts(texts);
    const int E = enc.dim();
    for (auto& o : order) {
        const float* row = (o.first ? ie.data() : te.data()) + o.second * E;
        for (int i = 0; i < E; i++) printf(i ? " %.9g" : "%.9g", row[i]);
        printf("\n");
    }
    return 0;
}

REGISTER_COMMAND(embed,
                 "embed [--model DIR] (--image FILE | --text STRING)...   one L2-normalised embedding per line\n"
                 "  reco embed [--model DIR] --pairs PAIRS.tsv --out EMB [--batch 64] [--skip-bad] [--decode-threads D]   embed image-caption pairs",
                 run_embed, {"model", "image", "text", "pairs", "out", "batch", "decode-threads"}, {"skip-bad"});

}  // namespace reco
