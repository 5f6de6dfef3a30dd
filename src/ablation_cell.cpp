// ablation_cell.cpp — train and score one experiment cell (see ablation_cell.h).
#include "ablation_cell.h"

#include "common.h"
#include "neighbour_cache.h"

namespace reco {

EvalSet load_eval_set(const EmbeddingFile& f) {
    EvalSet e;
    e.path = f.path();
    CaptionClasses cls = classes_from_captions(f);
    e.img.resize((size_t)f.n() * f.d());
    for (int i = 0; i < f.n(); i++) f.image_row(i, e.img.data() + (size_t)i * f.d());
    e.cls = std::move(cls.prompt_emb);
    e.label = std::move(cls.label);
    e.C = (int)cls.names.size();
    return e;
}

FusionModel train_fusion(const EmbeddingFile& data, const ShardedMemory& mem, TrainSettings s, float logit_scale,
                         const TrainLoopOptions& o, TrainLoopResult* r) {
    s.data = data.path();
    s.memory = mem.path();
    s.model = data.model();
    s.data_n = data.n();
    NeighbourIndex nb = load_or_compute_neighbours(data, mem, s.mode(), nullptr);
    FusionDims dims;
    dims.d = data.d();
    dims.heads = s.heads;
    dims.validate();
    FusionModel model;
    model.init(dims, logit_scale, s.seed);
    AdamWConfig cfg;
    cfg.weight_decay = s.weight_decay;
    AdamW opt(model.table, model.params.size(), cfg);
    Trainer t(data, mem, nb, s, std::move(model), std::move(opt), 0);
    TrainLoopResult res = train_loop(t, o);
    if (r) *r = res;
    return std::move(t.model);
}

CellScores score_cell(const FusionModel& model, const ShardedMemory& mem, const RetrievalMode& mode, const EvalSet& e) {
    ModeMemory mm(mem, mode);
    CellScores c;
    c.reco = zeroshot_eval(model, mm, e.img, e.label, e.cls, e.C);
    c.mean = zeroshot_baseline(mm, Baseline::retrieved_mean, e.img, e.label, e.cls, e.C);
    c.query_mean = zeroshot_baseline(mm, Baseline::query_plus_mean, e.img, e.label, e.cls, e.C);
    return c;
}

}  // namespace reco
