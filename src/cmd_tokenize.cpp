// cmd_tokenize.cpp — `reco tokenize --model DIR TEXT...`: prints, for each TEXT, one line with the
// model's token ids: for CLIP the 77 ids of clip.tokenize(TEXT, truncate=True) (tokenizer.h; reads
// DIR/vocab.json, DIR/merges.txt and DIR/config.json when present), for SigLIP the 64 ids of
// SiglipTokenizer(TEXT, padding="max_length", truncation=True) (siglip/siglip_tokenizer.h; reads
// DIR/spiece.model, DIR/tokenizer_config.json, DIR/config.json), with a warning when a text is cut.
// The family comes from DIR/config.json (a CLIP directory without one is still tokenized).
#include <cstdio>

#include "cli.h"
#include "common.h"
#include "model_config.h"
#include "siglip/siglip_model.h"
#include "siglip/siglip_tokenizer.h"
#include "tokenizer.h"

namespace reco {

static void print_ids(const std::vector<int>& ids, std::string& out) {
    for (size_t k = 0; k < ids.size(); k++) out += strformat(k ? " %d" : "%d", ids[k]);
    out += '\n';
}

static int run_tokenize(Args& a, int, char**) {
    std::string dir = model_dir_or_default(a);
    if (a.positional().empty()) fail("tokenize: give at least one TEXT (use \"\" for the empty text)");
    std::string out;
    if (file_exists(dir + "/config.json") && detect_family(dir) == ModelFamily::siglip) {
        const SiglipConfig cfg = parse_siglip_config(dir + "/config.json");
        SiglipTokenizer tok = SiglipTokenizer::from_model_dir(dir, cfg.max_positions);
        for (const std::string& text : a.positional()) {
            bool truncated = false;
            print_ids(tok.tokenize(text, &truncated), out);
            if (truncated)
                fprintf(stderr, "reco: warning: text longer than %d tokens, truncated (as SigLIP does): \"%.60s...\"\n",
                        cfg.max_positions, text.c_str());
        }
    } else {
        Tokenizer tok = Tokenizer::from_model_dir(dir);
        for (const std::string& text : a.positional()) print_ids(tok.tokenize(text), out);
    }
    fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

REGISTER_COMMAND(tokenize,
                 "tokenize --model DIR TEXT...        the token ids of each TEXT, one line each (CLIP 77, SigLIP 64)",
                 run_tokenize, {"model"}, {});

}  // namespace reco
