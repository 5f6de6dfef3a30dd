// pairs_tsv.cpp — the pairs TSV parser (see pairs_tsv.h).
#include "pairs_tsv.h"

#include "common.h"

namespace reco {

std::vector<PairRow> parse_pairs_tsv(std::string text, const std::string& tsv, bool skip_bad, FILE* warn) {
    strip_utf8_bom(text);  // else it would start the first image path, and "/abs" would look relative
    const std::string dir = parent_dir(tsv);
    std::vector<PairRow> rows;
    size_t pos = 0;
    int line = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        line++;
        if (!l.empty() && l.back() == '\r') l.pop_back();
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
