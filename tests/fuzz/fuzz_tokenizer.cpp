// fuzz_tokenizer.cpp — text cleaning, pre-tokenizing, BPE and clip.tokenize's truncation on arbitrary
// bytes (invalid UTF-8 included), checked against openai's bpe() loop ported line for line
// (tests/tokenizer_reference.h) and against the invariants of clip.tokenize.
//
// Vocabulary: the real CLIP files from $RECO_SHARED_DATA/clip/hf_tokenizer or
// ../shared/data/clip/hf_tokenizer (the fuzzer runs from the repository root); without them, the
// synthetic CLIP-shaped table of tokenizer_reference.h (random-order merges over a, b, c), written once
// to a temporary folder. Any mismatch or broken invariant aborts: that is a finding.
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include "fuzz_util.h"
#include "text_clean.h"
#include "tokenizer.h"
#include "tokenizer_reference.h"

namespace {

struct Setup {
    std::string dir;
    reco::Tokenizer* tok = nullptr;
    tokref::OpenAiBpe* ref = nullptr;
    Setup() {
        const char* env = getenv("RECO_SHARED_DATA");
        dir = std::string(env ? env : "../shared/data") + "/clip/hf_tokenizer";
        if (access((dir + "/vocab.json").c_str(), R_OK) != 0) {
            dir = "/tmp/reco-fuzz-tokenizer-" + std::to_string(getpid());
            if (system(("mkdir -p " + dir).c_str()) != 0) abort();
            tokref::write_synthetic_tokenizer(dir, 1, 60);
            fprintf(stderr, "fuzz_tokenizer: no shared data, using a synthetic vocabulary in %s\n", dir.c_str());
        } else {
            fprintf(stderr, "fuzz_tokenizer: vocabulary from %s\n", dir.c_str());
        }
        tok = new reco::Tokenizer(reco::Tokenizer::from_model_dir(dir));
        ref = new tokref::OpenAiBpe(reco::read_file(dir + "/merges.txt"));
        if (dir.compare(0, 5, "/tmp/") == 0 && system(("rm -rf " + dir).c_str()) != 0) abort();  // read: done
    }
};

void check(bool ok, const char* what) {
    if (!ok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", what);
        abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Setup s;
    const std::string text((const char*)data, size);
    fuzz::expect_ok_or_error([&] {
        std::u32string cleaned = reco::clip_clean_text(text);
        std::vector<std::string> pieces = reco::clip_pre_tokenize(cleaned);
        std::vector<int> ids = s.tok->encode(text);
        for (int id : ids) check(id >= 0 && id < s.tok->vocab_size(), "id out of range");

        // openai's quadratic loop, on inputs small enough for it (work ~ sum of squared piece lengths)
        size_t work = 0;
        for (const std::string& p : pieces) work += p.size() * p.size();
        if (work <= (1u << 18)) {
            std::vector<int> want;
            for (const std::string& p : pieces) {
                check(!p.empty(), "empty piece");
                if (p == "<|startoftext|>") want.push_back(reco::kSOT);
                else if (p == "<|endoftext|>") want.push_back(reco::kEOT);
                else for (int id : s.ref->encode_piece(p)) want.push_back(id);
            }
            check(ids == want, "encode() differs from openai's bpe() loop");
        }

        // clip.tokenize(truncate=True): SOT, the first 75 ids, EOT, zeros
        std::vector<int> t = s.tok->tokenize(text);
        check(t.size() == (size_t)reco::kContext, "tokenize() is not 77 long");
        size_t keep = std::min(ids.size(), (size_t)reco::kContext - 2);
        check(t[0] == reco::kSOT && t[1 + keep] == reco::kEOT, "SOT/EOT misplaced");
        for (size_t k = 0; k < keep; k++) check(t[1 + k] == ids[k], "tokenize() ids differ from encode()");
        for (size_t k = 2 + keep; k < t.size(); k++) check(t[k] == 0, "padding is not 0");
    });
    return 0;
}
