// baselines.cpp — the parameter-free baselines (see baselines.h).
#include "baselines.h"

#include <cmath>

#include "common.h"
#include "retrieval.h"

namespace reco {

const char* baseline_name(Baseline b) {
    return b == Baseline::retrieved_mean ? "retrieved mean" : "query + retrieved mean";
}

void baseline_refine(const ModeMemory& mem, Modality m, Baseline b, std::vector<float>& emb, int n) {
    const int d = mem.file().d(), k = mem.mode().k;
    if ((int)emb.size() != n * d) fail("baseline_refine: %zu values for %d rows of width %d", emb.size(), n, d);
    if (n == 0 || k == 0) return;
    Neighbours nb = retrieve(mem, m, emb.data(), n);
    std::vector<float> nbr = gather_fusion_inputs(mem, m, nb);
    for (int i = 0; i < n; i++) {
        std::vector<double> acc(d, 0.0);
        for (int j = 0; j < k; j++)
            for (int c = 0; c < d; c++) acc[c] += nbr[((size_t)i * k + j) * d + c] / k;
        if (b == Baseline::query_plus_mean)
            for (int c = 0; c < d; c++) acc[c] += emb[(size_t)i * d + c];
        double s = 0;
        for (double x : acc) s += x * x;
        s = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
        for (int c = 0; c < d; c++) emb[(size_t)i * d + c] = (float)(acc[c] * s);
    }
}

ZeroShotResult zeroshot_baseline(const ModeMemory& mem, Baseline b, const std::vector<float>& img,
                                 const std::vector<int>& label, const std::vector<float>& cls, int C) {
    const int d = mem.file().d(), n = (int)label.size();
    if ((int)img.size() != n * d || (int)cls.size() != C * d) fail("zeroshot_baseline: inconsistent sizes");
    ZeroShotResult r;
    r.n = n;
    r.classes = C;
    std::vector<float> img_r = img, cls_r = cls;
    baseline_refine(mem, Modality::image, b, img_r, n);
    baseline_refine(mem, Modality::text, b, cls_r, C);
    r.frozen = accuracy_pct(classify_top1(img.data(), n, cls.data(), C, d), label);
    r.image = accuracy_pct(classify_top1(img_r.data(), n, cls.data(), C, d), label);
    r.text = accuracy_pct(classify_top1(img.data(), n, cls_r.data(), C, d), label);
    r.both = accuracy_pct(classify_top1(img_r.data(), n, cls_r.data(), C, d), label);
    return r;
}

}  // namespace reco
