// cmd_embed_pairs.cpp — `reco embed --pairs PAIRS.tsv --out EMB` (alias `reco memory build`):
// embed a file of image–caption pairs into an embedding/memory file (SPEC §5).
//
// PAIRS.tsv (pairs_tsv.h): one pair per line, `image_path<TAB>caption`, image paths relative to the
// TSV's folder. A bad row (no tab, empty caption, an image that cannot be read) is reported with its
// line number: fatal by default, skipped with --skip-bad. --out is checked before any work.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "encoder.h"
#include "common.h"
#include "image.h"
#include "memory.h"
#include "pairs_tsv.h"
#include "progress.h"

namespace reco {

int cmd_embed_pairs(Args& a) {
    std::string tsv = a.get("pairs"), out = a.get("out");
    if (out.empty()) fail("--pairs needs --out FILE (the embedding file to write)");
    check_output_path(out, "--out");  // before embedding everything
    const bool skip_bad = a.has("skip-bad");
    const int batch = a.get_int("batch", 64);
    if (batch < 1) fail("--batch must be at least 1");
    std::vector<PairRow> rows = read_pairs_tsv(tsv, skip_bad);
    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"), a.get("precision", "fp32"));
    Encoder& enc = *encoder;
    const int E = enc.dim(), S = enc.image_size();
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
                auto p = load_and_preprocess(rows[b0 + i].image, enc.preprocessing());
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
    write_embedding_file(out, img_emb.data(), txt_emb.data(), (int)captions.size(), E, captions, enc.name(),
                         {{"source", tsv}, {"family", family_name(enc.family())}});
    fprintf(stderr, "wrote %s: %zu pairs, d=%d\n", out.c_str(), captions.size(), E);
    return 0;
}

}  // namespace reco
