// fuzz_pairs.cpp — the pairs TSV parser (`reco embed --pairs`, `reco memory build`): line splitting,
// "\r\n", comments, a byte order mark, bad rows, both strict and --skip-bad.
#include "fuzz_util.h"
#include "pairs_tsv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text((const char*)data, size);
    for (bool skip_bad : {false, true}) {
        fuzz::expect_ok_or_error([&] {
            std::vector<reco::PairRow> rows = reco::parse_pairs_tsv(text, "/fuzz/pairs.tsv", skip_bad, nullptr);
            for (const reco::PairRow& r : rows)
                if (r.image.empty() || r.caption.empty() || r.line < 1 || r.image.find('\0') != std::string::npos)
                    abort();  // the parser promised a usable row
        });
    }
    return 0;
}
