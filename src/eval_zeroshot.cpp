// eval_zeroshot.cpp — `reco eval zeroshot --images DIR` (see eval_zeroshot.h).
#include "eval_zeroshot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "common.h"
#include "embedding_cache.h"
#include "eval_dedup.h"
#include "encoder.h"
#include "eval_setup.h"
#include "fusion_gemm.h"
#include "image_folder.h"
#include "reco_eval.h"

namespace reco {

std::vector<std::string> read_templates(const std::string& path) {
    const std::vector<std::string> lines = read_text_lines(path);
    std::vector<std::string> out;
    for (size_t i = 0; i < lines.size(); i++) {
        const std::string& l = lines[i];
        if (l.find_first_not_of(" \t") == std::string::npos) continue;
        if (l.find("{}") == std::string::npos)
            fail("%s:%zu: template without {} (where the class name goes): '%s'", path.c_str(), i + 1, l.c_str());
        out.push_back(l);
    }
    if (out.empty()) fail("%s: no templates (one prompt per line, with {} where the class name goes)", path.c_str());
    return out;
}

std::string fill_template(const std::string& tmpl, const std::string& name) {
    std::string s;
    size_t pos = 0;
    for (size_t at; (at = tmpl.find("{}", pos)) != std::string::npos; pos = at + 2) s += tmpl.substr(pos, at - pos) + name;
    return s + tmpl.substr(pos);
}

std::vector<float> ensembled_class_embeddings(Encoder& enc, const std::vector<std::string>& classes,
                                              const std::vector<std::string>& templates) {
    const int C = (int)classes.size(), T = (int)templates.size(), d = enc.dim();
    std::vector<std::string> prompts;
    for (auto& c : classes)
        for (auto& t : templates) prompts.push_back(fill_template(t, c));
    std::vector<float> P = enc.embed_texts(prompts);  // rows L2-normalised
    std::vector<float> cls((size_t)C * d);
    for (int c = 0; c < C; c++) {
        std::vector<double> mean(d, 0.0);
        for (int t = 0; t < T; t++)
            for (int e = 0; e < d; e++) mean[e] += P[((size_t)c * T + t) * d + e];
        double nn = 0;  // the mean's squared norm; the mean itself is mean[e] / T
        for (int e = 0; e < d; e++) nn += (mean[e] / T) * (mean[e] / T);
        if (!(nn > 0)) fail("class '%s': its prompt embeddings cancel out (zero mean); use other templates", classes[c].c_str());
        const double inv = 1.0 / std::sqrt(nn);
        for (int e = 0; e < d; e++) cls[(size_t)c * d + e] = (float)(mean[e] / T * inv);
    }
    return cls;
}

void rank_classes(const float* img, int n, const float* cls, int C, int d, int top, std::vector<int>& idx,
                  std::vector<float>& score) {
    top = std::min(top, C);
    idx.assign((size_t)n * top, 0);
    score.assign((size_t)n * top, 0.0f);
    std::vector<float> S;
    const int block = 1024;
    for (int i0 = 0; i0 < n; i0 += block) {
        const int rows = std::min(block, n - i0);
        S.resize((size_t)rows * C);
        gemm<float>(false, true, rows, C, d, 1.0f, img + (size_t)i0 * d, d, cls, d, 0.0f, S.data(), C);
        #pragma omp parallel for
        for (int r = 0; r < rows; r++) {
            const float* s = S.data() + (size_t)r * C;
            std::vector<int> order(C);
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + top, order.end(),
                              [&](int a, int b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
            for (int t = 0; t < top; t++) {
                idx[(size_t)(i0 + r) * top + t] = order[t];
                score[(size_t)(i0 + r) * top + t] = s[order[t]];
            }
        }
    }
}

namespace {

struct Ranked {
    std::vector<int> idx;      // [n, top]
    std::vector<float> score;  // [n, top]
    int top = 5;
    double top1 = 0, top5 = 0;               // accuracy in percent
    std::vector<double> per_class;           // [C] top-1 accuracy in percent
};

Ranked evaluate(const std::vector<float>& img, const std::vector<float>& cls, const ImageFolder& f, int d) {
    Ranked r;
    const int n = (int)f.paths.size(), C = (int)f.classes.size();
    r.top = std::min(5, C);
    rank_classes(img.data(), n, cls.data(), C, d, r.top, r.idx, r.score);
    std::vector<int> ok(C, 0);
    long long h1 = 0, h5 = 0;
    for (int i = 0; i < n; i++) {
        const int* p = r.idx.data() + (size_t)i * r.top;
        h1 += p[0] == f.label[i];
        ok[f.label[i]] += p[0] == f.label[i];
        h5 += std::find(p, p + r.top, f.label[i]) != p + r.top;
    }
    r.top1 = 100.0 * (double)h1 / n;
    r.top5 = 100.0 * (double)h5 / n;
    for (int c = 0; c < C; c++) r.per_class.push_back(f.count[c] ? 100.0 * ok[c] / f.count[c] : 0.0);
    return r;
}

void write_predictions(const std::string& path, const ImageFolder& f, const Ranked& r) {
    std::string s = "# path\ttrue class\tpredicted class\tcosine\n";
    for (size_t i = 0; i < f.paths.size(); i++)
        s += strformat("%s\t%s\t%s\t%.9g\n", f.paths[i].c_str(), f.classes[f.label[i]].c_str(),
                       f.classes[r.idx[i * r.top]].c_str(), r.score[i * r.top]);
    write_file_atomic(path, s.data(), s.size());
}

}  // namespace

// Removes the images marked in bad (and their rows of img [n, d]) from f; returns how many.
static int drop_images(ImageFolder& f, std::vector<float>& img, const std::vector<char>& bad, int d) {
    ImageFolder kept = f;
    kept.paths.clear();
    kept.label.clear();
    std::fill(kept.count.begin(), kept.count.end(), 0);
    std::vector<float> rows;
    for (size_t i = 0; i < f.paths.size(); i++) {
        if (i < bad.size() && bad[i]) continue;
        kept.paths.push_back(f.paths[i]);
        kept.label.push_back(f.label[i]);
        kept.count[f.label[i]]++;
        rows.insert(rows.end(), img.begin() + i * d, img.begin() + (i + 1) * d);
    }
    const int dropped = (int)(f.paths.size() - kept.paths.size());
    f = std::move(kept);
    img = std::move(rows);
    return dropped;
}

int eval_zeroshot_images(Args& a) {
    if (a.has("data")) fail("give --images DIR (an ImageFolder) or --data EMB (an embedding file), not both");
    const std::string dir = a.get("images");
    std::vector<std::string> names;
    if (a.has("classes")) names = read_class_names(a.get("classes"));
    std::vector<std::string> templates = {"a photo of a {}."};
    if (a.has("templates")) templates = read_templates(a.get("templates"));
    const std::string pred_path = a.get("predictions");
    if (!pred_path.empty()) check_output_path(pred_path, "--predictions");
    ImageFolder f = read_image_folder(dir, a.has("classes") ? &names : nullptr, a.get("classes"));
    if (f.skipped)
        fprintf(stderr, "reco: %s: skipped %d file%s or folder%s that %s not an image or a class folder (e.g. %s)\n",
                dir.c_str(), f.skipped, f.skipped == 1 ? "" : "s", f.skipped == 1 ? "" : "s", f.skipped == 1 ? "is" : "are",
                f.skipped_examples[0].c_str());
    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"));
    Encoder& enc = *encoder;
    EvalReco reco = open_eval_reco(a, enc);  // before the embedding: a wrong checkpoint fails at once
    const int d = enc.dim(), C = (int)f.classes.size();

    std::vector<float> cls = ensembled_class_embeddings(enc, f.classes, templates);
    std::vector<char> bad;  // --skip-bad: images that could not be read or decoded are left out
    std::vector<float> img = embed_images_cached(enc, f.paths, a.has("no-cache") ? "" : dir, stderr, nullptr,
                                                 a.has("skip-bad") ? &bad : nullptr);
    if (std::count(bad.begin(), bad.end(), 1) > 0) {
        const int skipped = drop_images(f, img, bad, d);
        if (f.paths.empty()) fail("%s: every image was unreadable (--skip-bad): nothing to evaluate", dir.c_str());
        fprintf(stderr, "reco: %s: left out %d unreadable image%s (--skip-bad)\n", dir.c_str(), skipped,
                skipped == 1 ? "" : "s");
    }
    const int n = (int)f.paths.size();
    Ranked frozen = evaluate(img, cls, f, d), image, text, both;
    NearDuplicates dups;
    if (reco.on) {
        if (reco.near_dup > 0) dups = find_near_duplicates(*reco.searched, img.data(), n, reco.near_dup);
        std::vector<float> img_r = img, cls_r = cls;
        reco_refine_without(reco.ck.model, *reco.searched, Modality::image, img_r, n, dups);
        reco_refine_without(reco.ck.model, *reco.searched, Modality::text, cls_r, C, dups);
        image = evaluate(img_r, cls, f, d);
        text = evaluate(img, cls_r, f, d);
        both = evaluate(img_r, cls_r, f, d);
    }
    const Ranked& chosen = !reco.on ? frozen : reco.refine == "image" ? image : reco.refine == "text" ? text : both;

    printf("zero-shot classification: %d images in %d classes (%s), %zu template%s, model %s\n", n, C, dir.c_str(),
           templates.size(), templates.size() == 1 ? "" : "s", enc.dir().c_str());
    if (reco.on)
        printf("RECO: memory %s (%d pairs), fusion %s, %s, refine %s\n", reco.mem->path().c_str(), reco.mem->n(),
               reco.ck.path.c_str(), reco.mode.describe().c_str(), reco.refine.c_str());
    if (reco.on) printf("%s\n", describe_near_duplicates(dups, reco.near_dup).c_str());
    const std::string frozen_label = std::string("frozen ") + family_label(enc);
    printf("  %-22s %8s %8s\n", "method", "top-1", strformat("top-%d", frozen.top).c_str());
    printf("  %-22s %7.2f%% %7.2f%%\n", frozen_label.c_str(), frozen.top1, frozen.top5);
    if (reco.on) {
        const Ranked* rows[3] = {&image, &text, &both};
        const char* labels[3] = {"RECO refine image", "RECO refine text", "RECO refine both"};
        for (int m = 0; m < 3; m++) printf("  %-22s %7.2f%% %7.2f%%\n", labels[m], rows[m]->top1, rows[m]->top5);
    }
    if (a.has("per-class")) {
        printf("per-class top-1:\n  %-30s %7s %8s%s\n", "class", "images", "frozen", reco.on ? "     RECO" : "");
        for (int c = 0; c < C; c++) {
            printf("  %-30s %7d %7.2f%%", f.classes[c].c_str(), f.count[c], frozen.per_class[c]);
            if (reco.on) printf("  %7.2f%%", chosen.per_class[c]);
            printf("\n");
        }
    }
    if (!pred_path.empty()) write_predictions(pred_path, f, chosen);
    if (reco.on) printf("top-1: frozen %.2f%% -> RECO %.2f%%\n", frozen.top1, chosen.top1);
    else printf("top-1: frozen %.2f%%\n", frozen.top1);
    return 0;
}

}  // namespace reco
