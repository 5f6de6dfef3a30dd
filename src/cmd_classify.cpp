// cmd_classify.cpp — `reco classify`: zero-shot classification, plain CLIP or with RECO.
//
// Plain CLIP (no --memory/--fusion): one prompt per label, "a photo of a {label}.", scores
// exp(logit_scale)·cos(v, t) and a softmax over the labels (hf CLIPModel.forward, logits_per_image).
// SigLIP: logits exp(logit_scale)·cos(v, t) + logit_bias and an independent sigmoid per label
// (hf SiglipModel.forward; SPEC §8); ranked by cosine either way. With RECO on SigLIP the scale is the
// checkpoint's (as for CLIP) and the bias the model's.
//
// RECO (SPEC §1, inference): with --memory MEM --fusion CKPT the embeddings are refined first:
//   image: v̄ = φ_img(v, T^M[knn(v, V^M)])     image → image search, fuse the neighbours' TEXTS
//   text:  t̄ = φ_txt(t, V^M[knn(t, T^M)])     text → text search, fuse the neighbours' IMAGES
// --refine image|text|both|none picks which side is refined (default both); the scale is the
// checkpoint's exp(logit_scale), clamped at 100 as in training.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "checkpoint.h"
#include "cli.h"
#include "encoder.h"
#include "common.h"
#include "fusion.h"
#include "labels_coco.h"
#include "memory.h"
#include "retrieval.h"
#include "retrieval_mode.h"
#include "safetensors.h"

namespace reco {

static std::vector<std::string> split_labels(const std::string& s, const std::string& what) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t c = s.find(',', pos);
        std::string l = s.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
        size_t b = l.find_first_not_of(" \t"), e = l.find_last_not_of(" \t\r");
        if (b != std::string::npos) out.push_back(l.substr(b, e - b + 1));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    if (out.empty()) fail("%s: no labels given", what.c_str());
    return out;
}

static std::vector<std::string> read_labels_file(const std::string& path) {
    std::vector<std::string> out;
    for (const std::string& line : read_text_lines(path)) {  // (a byte order mark is not part of the first label)
        const std::string l = trim_blanks(line);
        if (!l.empty() && l[0] != '#') out.push_back(l);
    }
    if (out.empty()) fail("%s: no labels in the file (one label per line)", path.c_str());
    return out;
}

// The loaded RECO parts: memory, fusion weights, k and the checkpoint's ablation switches.
struct Reco {
    std::unique_ptr<ShardedMemory> mem;
    std::unique_ptr<ModeMemory> searched;  // mem as the checkpoint's mode searches it (retrieval_mode.h)
    FusionModel fusion;
    int k = 10;
};

static void refine(const Reco& r, Modality m, std::vector<float>& emb, int n, Neighbours* keep = nullptr) {
    Neighbours nb = retrieve(*r.searched, m, emb.data(), n);
    std::vector<float> nbr = gather_fusion_inputs(*r.searched, m, nb);
    fusion_refine(r.fusion, m, emb.data(), nbr.data(), n, r.k, emb.data());
    if (keep) *keep = std::move(nb);
}

static int run_classify(Args& a, int, char**) {
    const auto& images = a.positional();
    if (images.empty()) fail("usage: reco classify IMAGE... [--labels \"a,b,c\" | --labels-file F] [--top 5]");
    std::vector<std::string> labels;
    if (a.has("labels") && a.has("labels-file")) fail("give --labels or --labels-file, not both");
    if (a.has("labels")) labels = split_labels(a.get("labels"), "--labels");
    else if (a.has("labels-file")) labels = read_labels_file(a.get("labels-file"));
    else labels.assign(std::begin(kCocoLabels), std::end(kCocoLabels));
    const int top = std::min<int>(a.get_int("top", 5), (int)labels.size());
    const std::string tmpl = a.get("template", "a photo of a {}.");
    if (tmpl.find("{}") == std::string::npos) fail("--template must contain {} (where the label goes), got '%s'", tmpl.c_str());
    if (top < 1) fail("--top must be at least 1");

    const bool use_reco = a.has("memory") || a.has("fusion");
    if (use_reco && !(a.has("memory") && a.has("fusion")))
        fail("RECO classification needs both --memory MEM and --fusion CKPT");
    std::string refine_mode = a.get("refine", use_reco ? "both" : "none");
    if (refine_mode != "image" && refine_mode != "text" && refine_mode != "both" && refine_mode != "none")
        fail("--refine must be image, text, both or none (got '%s')", refine_mode.c_str());
    if (!use_reco && refine_mode != "none") fail("--refine %s needs --memory and --fusion", refine_mode.c_str());

    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"), a.get("precision", "fp32"));
    Encoder& enc = *encoder;
    const int E = enc.dim(), L = (int)labels.size(), N = (int)images.size();
    float scale = std::exp(enc.logit_scale());
    const bool sigmoid = enc.sigmoid_scores();  // SigLIP: independent sigmoids; CLIP: softmax over the labels
    const float bias = enc.logit_bias();

    Reco reco;
    if (use_reco) {
        reco.mem.reset(new ShardedMemory(a.get("memory")));
        check_compatible("memory " + reco.mem->path(), reco.mem->d(), reco.mem->model(), "model " + enc.dir(),
                         E, enc.name());
        check_family("memory " + reco.mem->path(), reco.mem->family(), "model " + enc.dir(), family_name(enc.family()));
        // the loader `train --init/--resume` and `eval` use: shapes, heads and values validated
        Checkpoint ck = load_checkpoint(a.get("fusion"));
        reco.fusion = std::move(ck.model);
        if (reco.fusion.dims.d != E)
            fail("%s: fusion width d=%d does not match the CLIP model's embedding width %d", ck.path.c_str(),
                 reco.fusion.dims.d, E);
        check_compatible("checkpoint " + ck.path, reco.fusion.dims.d, ck.settings.model, "model " + enc.dir(),
                         E, enc.name());
        const RetrievalMode mode = eval_mode(ck.settings.mode(), ck.path, a);  // refuses other --search/--fuse
        reco.k = mode.k;
        if (reco.k > reco.mem->n())
            fail("--k %d is larger than the memory %s (%d items)", reco.k, reco.mem->path().c_str(), reco.mem->n());
        reco.searched.reset(new ModeMemory(*reco.mem, mode));
        scale = std::min(100.0f, std::exp(reco.fusion.logit_scale()));
    }

    std::vector<std::string> prompts;
    for (auto& l : labels) {
        std::string p = tmpl;
        prompts.push_back(p.replace(p.find("{}"), 2, l));
    }
    std::vector<float> T = enc.embed_texts(prompts);
    std::vector<float> V = enc.embed_image_files(std::vector<std::string>(images.begin(), images.end()));
    Neighbours img_nb, txt_nb;
    if (refine_mode == "text" || refine_mode == "both") refine(reco, Modality::text, T, L, &txt_nb);
    if (refine_mode == "image" || refine_mode == "both") refine(reco, Modality::image, V, N, &img_nb);

    const bool explain = a.has("explain");
    for (int i = 0; i < N; i++) {
        std::vector<double> logit(L), prob(L);
        double mx = -1e30;
        for (int j = 0; j < L; j++) {
            double c = 0;
            for (int e = 0; e < E; e++) c += (double)V[(size_t)i * E + e] * T[(size_t)j * E + e];
            logit[j] = scale * c + bias;
            mx = std::max(mx, logit[j]);
        }
        double sum = 0;
        for (int j = 0; j < L; j++) sum += (prob[j] = std::exp(logit[j] - mx));
        if (sigmoid)  // σ(logit) for each label on its own: they need not sum to 1
            for (int j = 0; j < L; j++) prob[j] = 1.0 / (1.0 + std::exp(-logit[j]));
        if (sigmoid) sum = 1.0;
        std::vector<int> order(L);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return logit[x] > logit[y]; });
        printf("%s%s\n", images[i].c_str(), use_reco ? strformat("  (RECO, refine %s, k=%d)", refine_mode.c_str(), reco.k).c_str() : "");
        printf("  rank  prob     logit    label\n");
        for (int r = 0; r < top; r++) {
            int j = order[r];
            printf("  %4d  %.4f  %7.3f  %s\n", r + 1, prob[j] / sum, logit[j], labels[j].c_str());
        }
        if (explain && use_reco) {
            if (!img_nb.idx.empty()) {
                const RetrievalMode& md = reco.searched->mode();
                printf("  retrieved for the image (image→%s search; their %s were fused):\n",
                       md.searches_images(Modality::image) ? "image" : "text",
                       md.fuses_images(Modality::image) ? "images" : "captions");
                for (int r = 0; r < reco.k; r++) {
                    int m = img_nb.idx[(size_t)i * reco.k + r];
                    printf("    %.4f  #%d  %s\n", img_nb.score[(size_t)i * reco.k + r], m, reco.mem->caption(m).c_str());
                }
            }
            if (!txt_nb.idx.empty()) {
                int j = order[0];
                const RetrievalMode& md = reco.searched->mode();
                printf("  retrieved for \"%s\" (text→%s search; their %s were fused):\n", prompts[j].c_str(),
                       md.searches_images(Modality::text) ? "image" : "text",
                       md.fuses_images(Modality::text) ? "images" : "captions");
                for (int r = 0; r < reco.k; r++) {
                    int m = txt_nb.idx[(size_t)j * reco.k + r];
                    printf("    %.4f  #%d  %s\n", txt_nb.score[(size_t)j * reco.k + r], m, reco.mem->caption(m).c_str());
                }
            }
        } else if (explain) {
            printf("  (--explain shows retrieved captions when --memory and --fusion are given)\n");
        }
    }
    return 0;
}

REGISTER_COMMAND(classify,
                 "classify IMAGE... [--model DIR] [--labels \"a,b\" | --labels-file F] [--top 5] [--template \"a photo of a {}.\"]\n"
                 "                  [--memory MEM --fusion CKPT [--refine image|text|both|none] [--k 10] [--explain]]",
                 run_classify, {"model", "labels", "labels-file", "top", "template", "memory", "fusion", "refine", "k", "search", "fuse",
                  "memory-fraction", "memory-seed"},
                 {"explain"});

}  // namespace reco
