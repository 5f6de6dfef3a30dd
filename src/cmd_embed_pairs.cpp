// cmd_embed_pairs.cpp — `reco embed --pairs PAIRS.tsv --out EMB` (alias `reco memory build`):
// embed a file of image–caption pairs into an embedding/memory file (SPEC §5).
//
// PAIRS.tsv (pairs_tsv.h): one pair per line, `image_path<TAB>caption`, image paths relative to the
// TSV's folder. A bad row (no tab, empty caption, an image that cannot be read) is reported with its
// line number: fatal by default, skipped with --skip-bad. --out is checked before any work.
// Decoding overlaps the towers (decode_pipeline.h); the last line reports end-to-end pairs/s beside
// the towers alone.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <omp.h>

#include "cli.h"
#include "encoder.h"
#include "common.h"
#include "decode_pipeline.h"
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

    // Batches are decoded and preprocessed on a producer thread (decode_pipeline.h) while the towers
    // embed the previous batch. --decode-threads D: the decoder's OpenMP threads (0 = no overlap: the
    // sequential loop, decoding on every core). Default: every core when the towers run on a GPU (the
    // CPU is free), else one thread beside the towers' own.
    const int cores = omp_get_max_threads();
    const int decode_threads = a.get_int("decode-threads", enc.on_gpu() ? cores : 1);
    if (decode_threads < 0) fail("--decode-threads must be 0 (no overlap) or more");
    struct Slot {
        std::vector<float> pix;
        std::vector<std::string> err;
    };
    const int depth = 2;
    std::vector<Slot> slots(depth);
    const size_t nbatches = (rows.size() + batch - 1) / batch;
    auto produce = [&](size_t bi) {
        Slot& s = slots[bi % depth];
        const size_t b0 = bi * batch, nb = std::min<size_t>(batch, rows.size() - b0);
        s.pix.assign(nb * per, 0.0f);
        s.err.assign(nb, std::string());
        #pragma omp parallel for schedule(dynamic) num_threads(decode_threads > 0 ? decode_threads : cores)
        for (size_t i = 0; i < nb; i++) {
            try {
                auto p = load_and_preprocess(rows[b0 + i].image, enc.preprocessing());
                std::copy(p.begin(), p.end(), s.pix.begin() + i * per);
            } catch (const Error& e) {
                s.err[i] = e.what();
            }
        }
    };

    std::vector<float> img_emb, txt_emb;
    std::vector<std::string> captions;
    Progress prog("embedding pairs", (long long)rows.size());
    double tower_seconds = 0;
    auto consume = [&](size_t bi) {
        Slot& s = slots[bi % depth];
        const size_t b0 = bi * batch, nb = s.err.size();
        std::vector<float> good_pix;
        std::vector<std::string> good_caps;
        for (size_t i = 0; i < nb; i++) {
            if (!s.err[i].empty()) {
                if (!skip_bad) fail("%s:%d: %s", tsv.c_str(), rows[b0 + i].line, s.err[i].c_str());
                fprintf(stderr, "\nreco: skipping %s:%d: %s\n", tsv.c_str(), rows[b0 + i].line, s.err[i].c_str());
                continue;
            }
            good_pix.insert(good_pix.end(), s.pix.begin() + i * per, s.pix.begin() + (i + 1) * per);
            good_caps.push_back(rows[b0 + i].caption);
        }
        const auto t = std::chrono::steady_clock::now();
        int ng = (int)good_caps.size();
        auto ie = enc.embed_pixels(good_pix.data(), ng);
        auto te = enc.embed_texts(good_caps);
        tower_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
        img_emb.insert(img_emb.end(), ie.begin(), ie.end());
        txt_emb.insert(txt_emb.end(), te.begin(), te.end());
        captions.insert(captions.end(), good_caps.begin(), good_caps.end());
        prog.update((long long)(b0 + nb));
    };
    const PipelineStats st = run_decode_pipeline(nbatches, produce, consume, decode_threads > 0, depth);
    if (captions.empty()) fail("%s: every row was bad; nothing to write", tsv.c_str());
    write_embedding_file(out, img_emb.data(), txt_emb.data(), (int)captions.size(), E, captions, enc.name(),
                         {{"source", tsv}, {"family", family_name(enc.family())}});
    const double n = (double)rows.size();
    fprintf(stderr, "wrote %s: %zu pairs, d=%d\n", out.c_str(), captions.size(), E);
    fprintf(stderr,
            "speed: %.1f pairs/s end to end (%.2f s); towers alone %.1f pairs/s (%.2f s); decoding + preprocessing "
            "%.2f s, %s (--decode-threads %d)\n",
            n / st.wall, st.wall, n / std::max(tower_seconds, 1e-9), tower_seconds, st.produce,
            decode_threads > 0 ? "overlapped with the towers" : "not overlapped", decode_threads);
    return 0;
}

}  // namespace reco
