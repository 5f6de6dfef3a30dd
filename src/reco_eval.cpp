// reco_eval.cpp — zero-shot classification and retrieval recall, frozen vs RECO (see reco_eval.h).
#include "reco_eval.h"

#include <algorithm>
#include <map>

#include "common.h"
#include "fusion_gemm.h"
#include "retrieval.h"

namespace reco {

void reco_refine(const FusionModel& fusion, const ShardedMemory& mem, Modality m, int k, std::vector<float>& emb,
                 int n, const int* exclude) {
    RetrievalMode mode;  // the paper's: uni-modal search, cross-modal fusion, the whole memory
    mode.k = k;
    reco_refine(fusion, ModeMemory(mem, mode), m, emb, n, exclude);
}

void reco_refine(const FusionModel& fusion, const ModeMemory& mem, Modality m, std::vector<float>& emb, int n,
                 const int* exclude) {
    if (n == 0) return;
    Neighbours nb = retrieve(mem, m, emb.data(), n, exclude);
    std::vector<float> nbr = gather_fusion_inputs(mem, m, nb);
    fusion_refine(fusion, m, emb.data(), nbr.data(), n, nb.k, emb.data());
}

void reco_refine(const FusionModel& fusion, const ModeMemory& mem, Modality m, std::vector<float>& emb, int n,
                 const int* query_label, const std::vector<int>& row_label) {
    if (n == 0) return;
    Neighbours nb = retrieve_excluding_labels(mem, m, emb.data(), n, query_label, row_label);
    std::vector<float> nbr = gather_fusion_inputs(mem, m, nb);
    fusion_refine(fusion, m, emb.data(), nbr.data(), n, nb.k, emb.data());
}

// S[r, c] = A[r]·B[c] for a block of rows of A, through the fusion GEMM (fp32).
static void scores(const float* A, int rows, const float* B, int cols, int d, std::vector<float>& S) {
    S.resize((size_t)rows * cols);
    gemm<float>(false, true, rows, cols, d, 1.0f, A, d, B, d, 0.0f, S.data(), cols);
}

std::vector<int> classify_top1(const float* img, int n, const float* cls, int C, int d) {
    std::vector<int> pred(n);
    std::vector<float> S;
    const int block = 1024;
    for (int i0 = 0; i0 < n; i0 += block) {
        const int rows = std::min(block, n - i0);
        scores(img + (size_t)i0 * d, rows, cls, C, d, S);
        for (int r = 0; r < rows; r++) {
            const float* s = S.data() + (size_t)r * C;
            pred[i0 + r] = (int)(std::max_element(s, s + C) - s);  // first maximum: ties → lower class
        }
    }
    return pred;
}

double accuracy_pct(const std::vector<int>& pred, const std::vector<int>& label) {
    if (pred.empty()) return 0;
    size_t ok = 0;
    for (size_t i = 0; i < pred.size(); i++) ok += pred[i] == label[i];
    return 100.0 * (double)ok / (double)pred.size();
}

ZeroShotResult zeroshot_eval(const FusionModel& fusion, const ShardedMemory& mem, int k, const std::vector<float>& img,
                             const std::vector<int>& label, const std::vector<float>& cls, int C,
                             const int* img_exclude, const int* cls_exclude) {
    RetrievalMode mode;
    mode.k = k;
    return zeroshot_eval(fusion, ModeMemory(mem, mode), img, label, cls, C, img_exclude, cls_exclude);
}

// Frozen vs refined top-1; refine(img_r, cls_r) refines the copies as the caller's leak rule says.
template <class Refine>
static ZeroShotResult zeroshot_with(const FusionModel& fusion, const ModeMemory& mem, const std::vector<float>& img,
                                    const std::vector<int>& label, const std::vector<float>& cls, int C,
                                    Refine refine) {
    const int d = fusion.dims.d, n = (int)label.size();
    if (mem.file().d() != d)
        fail("%s: memory width d=%d does not match the fusion model's d=%d", mem.file().path().c_str(), mem.file().d(),
             d);
    if ((int)img.size() != n * d || (int)cls.size() != C * d) fail("zeroshot_eval: inconsistent sizes");
    ZeroShotResult r;
    r.n = n;
    r.classes = C;
    std::vector<float> img_r = img, cls_r = cls;
    refine(img_r, cls_r);
    r.frozen = accuracy_pct(classify_top1(img.data(), n, cls.data(), C, d), label);
    r.image = accuracy_pct(classify_top1(img_r.data(), n, cls.data(), C, d), label);
    r.text = accuracy_pct(classify_top1(img.data(), n, cls_r.data(), C, d), label);
    r.both = accuracy_pct(classify_top1(img_r.data(), n, cls_r.data(), C, d), label);
    return r;
}

ZeroShotResult zeroshot_eval(const FusionModel& fusion, const ModeMemory& mem, const std::vector<float>& img,
                             const std::vector<int>& label, const std::vector<float>& cls, int C,
                             const int* img_exclude, const int* cls_exclude) {
    return zeroshot_with(fusion, mem, img, label, cls, C, [&](std::vector<float>& img_r, std::vector<float>& cls_r) {
        reco_refine(fusion, mem, Modality::image, img_r, (int)label.size(), img_exclude);
        reco_refine(fusion, mem, Modality::text, cls_r, C, cls_exclude);
    });
}

ZeroShotResult zeroshot_eval(const FusionModel& fusion, const ModeMemory& mem, const std::vector<float>& img,
                             const std::vector<int>& label, const std::vector<float>& cls, int C,
                             const std::vector<int>& row_label) {
    return zeroshot_with(fusion, mem, img, label, cls, C, [&](std::vector<float>& img_r, std::vector<float>& cls_r) {
        std::vector<int> cls_label(C);
        for (int c = 0; c < C; c++) cls_label[c] = c;
        reco_refine(fusion, mem, Modality::image, img_r, (int)label.size(), label.data(), row_label);
        reco_refine(fusion, mem, Modality::text, cls_r, C, cls_label.data(), row_label);
    });
}

RecallResult retrieval_recall(const std::vector<float>& img, const std::vector<float>& txt, int n, int d) {
    RecallResult r;
    const int R[3] = {1, 5, 10};
    std::vector<float> S;
    const int block = 512;
    for (int dir = 0; dir < 2; dir++) {
        const float* Q = dir == 0 ? img.data() : txt.data();
        const float* G = dir == 0 ? txt.data() : img.data();
        long long hits[3] = {0, 0, 0};
        for (int i0 = 0; i0 < n; i0 += block) {
            const int rows = std::min(block, n - i0);
            scores(Q + (size_t)i0 * d, rows, G, n, d, S);
            for (int q = 0; q < rows; q++) {
                // rank of the true partner: items scoring higher, or equal with a lower index
                const int i = i0 + q;
                const float* s = S.data() + (size_t)q * n;
                int rank = 0;
                for (int j = 0; j < n; j++) rank += s[j] > s[i] || (s[j] == s[i] && j < i);
                for (int t = 0; t < 3; t++) hits[t] += rank < R[t];
            }
        }
        for (int t = 0; t < 3; t++) (dir == 0 ? r.i2t : r.t2i)[t] = n ? 100.0 * (double)hits[t] / n : 0;
    }
    return r;
}

CaptionClasses classes_from_captions(const EmbeddingFile& data) {
    if (!data.has_captions())
        fail("%s: has no captions; zero-shot evaluation takes its classes from the captions", data.path().c_str());
    CaptionClasses c;
    std::map<std::string, int> index;
    const int d = data.d();
    c.label.resize(data.n());
    for (int i = 0; i < data.n(); i++) {
        const std::string cap = data.caption(i);
        auto it = index.find(cap);
        if (it == index.end()) {
            it = index.emplace(cap, (int)c.names.size()).first;
            c.names.push_back(cap);
            c.first.push_back(i);
            c.prompt_emb.resize(c.names.size() * (size_t)d);
            data.text_row(i, c.prompt_emb.data() + (c.names.size() - 1) * (size_t)d);
        }
        c.label[i] = it->second;
    }
    if (c.names.size() < 2)
        fail("%s: only %zu distinct caption(s); zero-shot evaluation needs at least 2 classes", data.path().c_str(),
             c.names.size());
    return c;
}

}  // namespace reco
