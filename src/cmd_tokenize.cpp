// cmd_tokenize.cpp — `reco tokenize --model DIR TEXT...`: prints, for each TEXT, one line with the
// 77 token ids of clip.tokenize(TEXT, truncate=True) (SPEC command list; tokenizer.h).
// Only DIR/vocab.json and DIR/merges.txt are read, and DIR/config.json when present (its text vocab_size
// must match the tokenizer's; Tokenizer::from_model_dir).
#include <cstdio>

#include "cli.h"
#include "common.h"
#include "tokenizer.h"

namespace reco {

static int run_tokenize(Args& a, int, char**) {
    std::string dir = model_dir_or_default(a);
    if (a.positional().empty()) fail("tokenize: give at least one TEXT (use \"\" for the empty text)");
    Tokenizer tok = Tokenizer::from_model_dir(dir);
    std::string out;
    for (const std::string& text : a.positional()) {
        std::vector<int> ids = tok.tokenize(text);
        for (size_t k = 0; k < ids.size(); k++) out += strformat(k ? " %d" : "%d", ids[k]);
        out += '\n';
    }
    fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

REGISTER_COMMAND(tokenize, "tokenize --model DIR TEXT...        the 77 CLIP token ids of each TEXT, one line each",
                 run_tokenize, {"model"}, {});

}  // namespace reco
