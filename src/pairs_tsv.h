// pairs_tsv.h — the image–caption pairs file read by `reco embed --pairs` / `reco memory build`.
//
// PAIRS.tsv: one pair per line, `image_path<TAB>caption`, image paths relative to the TSV's folder
// (absolute paths kept); empty lines and lines starting with '#' are skipped; "\r\n" line ends and
// a leading UTF-8 byte order mark are accepted. A bad row (no tab, empty image path, empty caption,
// a NUL byte) is reported with its line number: an error, or with skip_bad a note on `warn`.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

namespace reco {

struct PairRow {
    int line;                    // 1-based line number in the TSV
    std::string image, caption;  // image: the path to open (folder of the TSV prepended if relative)
};

// Parse the TSV's text; `tsv` is its path (errors name it; relative image paths start from its folder).
// Throws reco::Error on a bad row (unless skip_bad) and when no pair is found.
std::vector<PairRow> parse_pairs_tsv(std::string text, const std::string& tsv, bool skip_bad, FILE* warn = stderr);

// read_file(tsv), then parse_pairs_tsv.
std::vector<PairRow> read_pairs_tsv(const std::string& tsv, bool skip_bad);

}  // namespace reco
