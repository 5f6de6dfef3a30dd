// eval_retrieval.cpp — `reco eval retrieval --pairs PAIRS.tsv` (see eval_retrieval.h).
#include "eval_retrieval.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "common.h"
#include "embedding_cache.h"
#include "eval_dedup.h"
#include "encoder.h"
#include "eval_setup.h"
#include "fusion_gemm.h"
#include "pairs_tsv.h"
#include "reco_eval.h"

namespace reco {

// Hits at R = 1, 5, 10 for queries Q [nq, d] against gallery G [ng, d]: query q is a hit at R when the
// best rank of its positives (is_pos(q, g)) is < R. Rank of g = gallery items scoring higher, or equal
// with a lower index.
template <class IsPos>
static void recall_at(const float* Q, int nq, const float* G, int ng, int d, IsPos is_pos, double out[3]) {
    const int R[3] = {1, 5, 10};
    long long hits[3] = {0, 0, 0};
    std::vector<float> S;
    const int block = 256;
    for (int q0 = 0; q0 < nq; q0 += block) {
        const int rows = std::min(block, nq - q0);
        S.resize((size_t)rows * ng);
        gemm<float>(false, true, rows, ng, d, 1.0f, Q + (size_t)q0 * d, d, G, d, 0.0f, S.data(), ng);
        #pragma omp parallel for reduction(+ : hits[:3])
        for (int r = 0; r < rows; r++) {
            const int q = q0 + r;
            const float* s = S.data() + (size_t)r * ng;
            int best = ng;
            for (int g = 0; g < ng; g++) {
                if (!is_pos(q, g)) continue;
                int rank = 0;
                for (int j = 0; j < ng && rank < best; j++) rank += s[j] > s[g] || (s[j] == s[g] && j < g);
                best = std::min(best, rank);
            }
            for (int t = 0; t < 3; t++) hits[t] += best < R[t];
        }
    }
    for (int t = 0; t < 3; t++) out[t] = nq ? 100.0 * (double)hits[t] / nq : 0.0;
}

MultiRecall multi_caption_recall(const std::vector<float>& img, int n_img, const std::vector<float>& txt, int n_txt,
                                 const std::vector<int>& image_of_text, int d) {
    if ((int)image_of_text.size() != n_txt || (int)img.size() != n_img * d || (int)txt.size() != n_txt * d)
        fail("multi_caption_recall: inconsistent sizes");
    std::vector<std::vector<int>> captions(n_img);
    for (int t = 0; t < n_txt; t++) {
        if (image_of_text[t] < 0 || image_of_text[t] >= n_img) fail("multi_caption_recall: caption %d has no image", t);
        captions[image_of_text[t]].push_back(t);
    }
    for (int i = 0; i < n_img; i++)
        if (captions[i].empty()) fail("multi_caption_recall: image %d has no caption", i);
    MultiRecall r;
    // image → text: the positives of image i are its captions; text → image: its one image
    recall_at(img.data(), n_img, txt.data(), n_txt, d,
              [&](int i, int t) { return image_of_text[t] == i; }, r.i2t);
    recall_at(txt.data(), n_txt, img.data(), n_img, d, [&](int t, int i) { return image_of_text[t] == i; }, r.t2i);
    return r;
}

int eval_retrieval_pairs(Args& a) {
    if (a.has("data")) fail("give --pairs PAIRS.tsv (image files and captions) or --data EMB (an embedding file), not both");
    const std::string tsv = a.get("pairs");
    const bool skip_bad = a.has("skip-bad");
    std::vector<PairRow> rows = read_pairs_tsv(tsv, skip_bad);
    std::vector<std::string> images, captions;
    std::vector<int> image_of_text;
    std::map<std::string, int> index;
    for (auto& r : rows) {
        auto it = index.emplace(r.image, (int)images.size()).first;
        if (it->second == (int)images.size()) images.push_back(r.image);
        image_of_text.push_back(it->second);
        captions.push_back(r.caption);
    }
    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"));
    Encoder& enc = *encoder;
    EvalReco reco = open_eval_reco(a, enc);
    const int d = enc.dim();
    std::vector<char> bad;  // --skip-bad: an unreadable image is left out with its captions
    std::vector<float> img = embed_images_cached(enc, images, a.has("no-cache") ? "" : tsv, stderr, nullptr,
                                                 skip_bad ? &bad : nullptr);
    if (std::count(bad.begin(), bad.end(), 1) > 0) {
        std::vector<int> new_index(images.size(), -1);
        std::vector<std::string> kept_images, kept_captions;
        std::vector<float> kept_img;
        for (size_t i = 0; i < images.size(); i++) {
            if (bad[i]) continue;
            new_index[i] = (int)kept_images.size();
            kept_images.push_back(images[i]);
            kept_img.insert(kept_img.end(), img.begin() + i * d, img.begin() + (i + 1) * d);
        }
        std::vector<int> kept_of_text;
        for (size_t t = 0; t < captions.size(); t++) {
            if (new_index[image_of_text[t]] < 0) continue;
            kept_of_text.push_back(new_index[image_of_text[t]]);
            kept_captions.push_back(captions[t]);
        }
        const int left_out = (int)(images.size() - kept_images.size());
        if (kept_images.empty()) fail("%s: every image was unreadable (--skip-bad): nothing to evaluate", tsv.c_str());
        fprintf(stderr, "reco: %s: left out %d unreadable image%s and their captions (--skip-bad)\n", tsv.c_str(),
                left_out, left_out == 1 ? "" : "s");
        images.swap(kept_images), captions.swap(kept_captions), image_of_text.swap(kept_of_text), img.swap(kept_img);
    }
    const int ni = (int)images.size(), nt = (int)captions.size();
    std::vector<float> txt = enc.embed_texts(captions);
    MultiRecall frozen = multi_caption_recall(img, ni, txt, nt, image_of_text, d), refined;
    NearDuplicates dups;
    if (reco.on) {
        if (reco.near_dup > 0) dups = find_near_duplicates(*reco.searched, img.data(), ni, reco.near_dup);
        if (reco.refine_image) reco_refine_without(reco.ck.model, *reco.searched, Modality::image, img, ni, dups);
        if (reco.refine_text) reco_refine_without(reco.ck.model, *reco.searched, Modality::text, txt, nt, dups);
        refined = multi_caption_recall(img, ni, txt, nt, image_of_text, d);
    }
    printf("image-text retrieval: %d images, %d captions (%s), model %s\n", ni, nt, tsv.c_str(), enc.dir().c_str());
    if (reco.on)
        printf("RECO: memory %s (%d pairs), fusion %s, %s, refine %s\n", reco.mem->path().c_str(), reco.mem->n(),
               reco.ck.path.c_str(), reco.mode.describe().c_str(), reco.refine.c_str());
    if (reco.on) printf("%s\n", describe_near_duplicates(dups, reco.near_dup).c_str());
    printf("  %-18s %8s %8s %8s   %8s %8s %8s\n", "", "i2t R@1", "R@5", "R@10", "t2i R@1", "R@5", "R@10");
    for (int m = 0; m < (reco.on ? 2 : 1); m++) {
        const MultiRecall& r = m == 0 ? frozen : refined;
        const std::string label = m == 0 ? std::string("frozen ") + family_label(enc) : "RECO (refine " + reco.refine + ")";
        printf("  %-18s %7.2f%% %7.2f%% %7.2f%%   %7.2f%% %7.2f%% %7.2f%%\n", label.c_str(), r.i2t[0], r.i2t[1],
               r.i2t[2], r.t2i[0], r.t2i[1], r.t2i[2]);
    }
    return 0;
}

}  // namespace reco
