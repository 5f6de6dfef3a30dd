// cmd_embed_pairs.cpp — `reco embed --pairs PAIRS.tsv --out EMB` (alias `reco memory build`):
// embed a file of image–caption pairs into an embedding/memory file (SPEC §5).
//
// PAIRS.tsv: one pair per line, `image_path<TAB>caption`, image paths relative to the TSV's folder;
// empty lines and lines starting with '#' are skipped. A bad row (no tab, empty caption, an image that
// cannot be read) is reported with its line number: fatal by default, skipped with --skip-bad.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "clip_embed.h"
#include "common.h"
#include "image.h"
#include "memory.h"
#include "progress.h"

namespace reco {

struct PairRow {
    int line;
    std::string image, caption;
};

static std::vector<PairRow> read_pairs(const std::string& tsv, bool skip_bad) {
    std::string text = read_file(tsv);
    std::string dir = tsv.find('/') == std::string::npos ? "." : tsv.substr(0, tsv.rfind('/'));
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
        if (!problem.empty()) {
            if (!skip_bad) fail("%s:%d: %s", tsv.c_str(), line, problem.c_str());
            fprintf(stderr, "reco: skipping %s:%d: %s\n", tsv.c_str(), line, problem.c_str());
            continue;
        }
        std::string img = l.substr(0, tab);
        if (img[0] != '/') img = dir + "/" + img;
        rows.push_back({line, img, l.substr(tab + 1)});
    }
    if (rows.empty()) fail("%s: no image-caption pairs found", tsv.c_str());
    return rows;
}

int cmd_embed_pairs(Args& a) {
    std::string tsv = a.get("pairs"), out = a.get("out");
    if (out.empty()) fail("--pairs needs --out FILE (the embedding file to write)");
    const bool skip_bad = a.has("skip-bad");
    const int batch = a.get_int("batch", 64);
    if (batch < 1) fail("--batch must be at least 1");
    std::vector<PairRow> rows = read_pairs(tsv, skip_bad);
    ClipEncoder enc(model_dir_or_default(a), a.get("device", "auto"));
    const int E = enc.dim(), S = enc.model().cfg.image_size;
    const size_t per = (size_t)3 * S * S;

    std::vector<float> img_emb, txt_emb;
    std::vector<std::string> captions;
    Progress prog("embedding pairs", (long long)rows.size());
    for (size_t b0 = 0; b0 < rows.size(); b0 += batch) {
        size_t nb = std::min<size_t>(batch, rows.size() - b0);
        std::vector<float> pix(nb * per);
        std::vector<std::string> err(nb);
        #pragma omp parallel for schedule(dynamic)
        for (size_t i = 0; i < nb; i++) {
            try {
                auto p = load_and_preprocess(rows[b0 + i].image, S);
                std::copy(p.begin(), p.end(), pix.begin() + i * per);
            } catch (const Error& e) {
                err[i] = e.what();
            }
        }
        std::vector<float> good_pix;
        std::vector<std::string> good_caps;
        for (size_t i = 0; i < nb; i++) {
            if (!err[i].empty()) {
                if (!skip_bad) fail("%s:%d: %s", tsv.c_str(), rows[b0 + i].line, err[i].c_str());
                fprintf(stderr, "\nreco: skipping %s:%d: %s\n", tsv.c_str(), rows[b0 + i].line, err[i].c_str());
                continue;
            }
            good_pix.insert(good_pix.end(), pix.begin() + i * per, pix.begin() + (i + 1) * per);
            good_caps.push_back(rows[b0 + i].caption);
        }
        int ng = (int)good_caps.size();
        auto ie = enc.embed_pixels(good_pix.data(), ng);
        auto te = enc.embed_texts(good_caps);
        img_emb.insert(img_emb.end(), ie.begin(), ie.end());
        txt_emb.insert(txt_emb.end(), te.begin(), te.end());
        captions.insert(captions.end(), good_caps.begin(), good_caps.end());
        prog.update((long long)(b0 + nb));
    }
    if (captions.empty()) fail("%s: every row was bad; nothing to write", tsv.c_str());
    write_embedding_file(out, img_emb.data(), txt_emb.data(), (int)captions.size(), E, captions, enc.model().name,
                         {{"source", tsv}});
    fprintf(stderr, "wrote %s: %zu pairs, d=%d\n", out.c_str(), captions.size(), E);
    return 0;
}

}  // namespace reco
