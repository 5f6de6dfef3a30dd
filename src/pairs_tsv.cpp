// pairs_tsv.cpp — the pairs TSV parser (see pairs_tsv.h).
#include "pairs_tsv.h"

#include "common.h"

namespace reco {

std::vector<PairRow> parse_pairs_tsv(std::string text, const std::string& tsv, bool skip_bad, FILE* warn) {
    strip_utf8_bom(text);  // else it would start the first image path, and "/abs" would look relative
    const std::string dir = parent_dir(tsv);
    std::vector<PairRow> rows;
    const std::vector<std::string> lines = split_lines(text);
    for (size_t i = 0; i < lines.size(); i++) {
        const std::string& l = lines[i];
        const int line = (int)i + 1;
        if (l.empty() || l[0] == '#') continue;
        size_t tab = l.find('\t');
        std::string problem;
        if (tab == std::string::npos) problem = "no TAB between image path and caption";
        else if (tab == 0) problem = "empty image path";
        else if (l.find_first_not_of(" \t", tab + 1) == std::string::npos) problem = "empty caption";
        else if (l.find('\0') != std::string::npos) problem = "a NUL byte in the line (is this a text file?)";
        if (!problem.empty()) {
            if (!skip_bad) fail("%s:%d: %s", tsv.c_str(), line, problem.c_str());
            if (warn) fprintf(warn, "reco: skipping %s:%d: %s\n", tsv.c_str(), line, problem.c_str());
            continue;
        }
        std::string img = l.substr(0, tab);
        if (img[0] != '/') img = dir + "/" + img;
        rows.push_back({line, img, l.substr(tab + 1)});
    }
    if (rows.empty()) fail("%s: no image-caption pairs found", tsv.c_str());
    return rows;
}

std::vector<PairRow> read_pairs_tsv(const std::string& tsv, bool skip_bad) {
    return parse_pairs_tsv(read_file(tsv), tsv, skip_bad);
}

}  // namespace reco
