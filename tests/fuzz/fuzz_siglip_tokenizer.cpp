// fuzz_siglip_tokenizer.cpp — arbitrary bytes (valid UTF-8 or not) through the SigLIP tokenizer's
// canonicalisation, lower-casing, special-token splitting and sentencepiece encoding, with both fixture
// spiece.models (nmt_nfkc and identity normalisation). Checks the output contract on every input:
// exactly max_length ids, all in the vocabulary, "</s>" right after the text's ids, padding after it, and
// the truncation flag saying whether ids were cut. Run from the repository root (reads tests/fixtures).
#include <cstdio>
#include <cstdlib>

#include "fuzz_util.h"
#include "siglip/siglip_tokenizer.h"
#include "text_clean.h"

namespace {

const reco::SiglipTokenizer& tokenizer(int k) {
    static reco::SiglipTokenizer* t[2] = {nullptr, nullptr};
    if (!t[k]) {
        try {
            t[k] = new reco::SiglipTokenizer(reco::SiglipTokenizer::from_model_dir(
                k == 0 ? "tests/fixtures/tiny_siglip_f32" : "tests/fixtures/tiny_siglip_f16"));
        } catch (const reco::Error& e) {
            fprintf(stderr, "fuzz_siglip_tokenizer: %s (run from the repository root)\n", e.what());
            abort();
        }
    }
    return *t[k];
}

void check(bool ok, const char* what) {
    if (!ok) {
        fprintf(stderr, "fuzz_siglip_tokenizer: %s\n", what);
        abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text((const char*)data, size);
    (void)reco::siglip_canonicalize_text(reco::utf8_to_u32(text));
    for (int k = 0; k < 2; k++) {
        const reco::SiglipTokenizer& tok = tokenizer(k);
        fuzz::expect_ok_or_error([&] {
            std::vector<int> ids = tok.encode(text);
            bool truncated = false;
            std::vector<int> row = tok.tokenize(text, &truncated);
            const size_t L = (size_t)tok.max_length();
            check(row.size() == L, "row length != max_length");
            for (int id : row) check(id >= 0 && id < tok.vocab_size(), "id outside the vocabulary");
            check(truncated == (ids.size() + 1 > L), "truncation flag wrong");
            const size_t n = truncated ? L - 1 : ids.size();
            for (size_t i = 0; i < n; i++) check(row[i] == ids[i], "row does not start with the text's ids");
            size_t end = n;
            if (n == 0 || ids[n - 1] != tok.eos_id()) check(row[end++] == tok.eos_id(), "no </s> after the ids");
            for (size_t i = end; i < L; i++) check(row[i] == tok.pad_id(), "padding is not the pad id");
        });
    }
    return 0;
}
