// ablation_grid.cpp — the ablation grid, its cached cell files and the report (see ablation_grid.h).
#include "ablation_grid.h"

#include <cmath>
#include <functional>

#include "common.h"
#include "json.h"

namespace reco {

std::vector<GridCell> ablation_grid(int k, uint64_t seed) {
    std::vector<GridCell> g;
    auto add = [&](const std::string& id, const std::string& group, const std::string& label, SearchMode s,
                   FuseMode f, int kk, double frac) {
        GridCell c;
        c.id = id;
        c.group = group;
        c.label = label;
        c.mode.search = s;
        c.mode.fuse = f;
        c.mode.k = kk;
        c.mode.memory_fraction = frac;
        c.mode.memory_seed = seed;
        g.push_back(c);
    };
    const SearchMode U = SearchMode::uni, X = SearchMode::cross;
    const FuseMode FX = FuseMode::cross, FU = FuseMode::uni;
    add("base", "search x fusion", "uni-modal search, cross-modal fusion (RECO)", U, FX, k, 1.0);
    add("search-uni-fuse-uni", "search x fusion", "uni-modal search, uni-modal fusion", U, FU, k, 1.0);
    add("search-cross-fuse-cross", "search x fusion", "cross-modal search, cross-modal fusion", X, FX, k, 1.0);
    add("search-cross-fuse-uni", "search x fusion", "cross-modal search, uni-modal fusion", X, FU, k, 1.0);
    add("k0", "control", "no retrieval (k = 0): the transformer on the query alone", U, FX, 0, 1.0);
    for (int kk : {1, 5, 20})
        if (kk != k) add("k" + std::to_string(kk), "k", "k = " + std::to_string(kk), U, FX, kk, 1.0);
    for (double f : {0.1, 0.3})
        add(strformat("mem%g", f), "memory", strformat("memory %g%%", 100 * f), U, FX, k, f);
    return g;
}

std::string cell_path(const std::string& dir, int seed, const std::string& id) {
    return strformat("%s/cells/%d_%s.json", dir.c_str(), seed, id.c_str());
}

static std::string zs_json(const ZeroShotResult& z) {
    return strformat("{\"n\": %d, \"classes\": %d, \"frozen\": %.17g, \"image\": %.17g, \"text\": %.17g, \"both\": %.17g}",
                     z.n, z.classes, z.frozen, z.image, z.text, z.both);
}

static std::string split_json(const SplitScores& s) {
    if (!s.present) return "null";
    return "{\"reco\": " + zs_json(s.reco) + ", \"mean\": " + zs_json(s.mean) +
           ", \"query_mean\": " + zs_json(s.query_mean) + "}";
}

void write_cell(const std::string& path, const CellResult& r) {
    const std::string text = strformat("{\"key\": %s, \"seconds\": %.6g,\n \"test\": %s,\n \"val\": %s}\n",
                                       json_quote(r.key).c_str(), r.seconds, split_json(r.test).c_str(),
                                       split_json(r.val).c_str());
    write_file_atomic(path, text.data(), text.size());
}

static bool read_zs(const Json* j, ZeroShotResult& z) {
    if (!j || j->type != Json::Object) return false;
    const char* keys[] = {"n", "classes", "frozen", "image", "text", "both"};
    for (const char* k : keys)
        if (!j->find(k) || j->find(k)->type != Json::Number) return false;
    z.n = (int)j->find("n")->num;
    z.classes = (int)j->find("classes")->num;
    z.frozen = j->find("frozen")->num;
    z.image = j->find("image")->num;
    z.text = j->find("text")->num;
    z.both = j->find("both")->num;
    return true;
}

static bool read_split(const Json* j, SplitScores& s) {
    if (!j) return false;
    if (j->type == Json::Null) return true;
    s.present = true;
    return read_zs(j->find("reco"), s.reco) && read_zs(j->find("mean"), s.mean) &&
           read_zs(j->find("query_mean"), s.query_mean);
}

bool read_cell(const std::string& path, const std::string& key, CellResult& r) {
    if (!file_exists(path)) return false;
    try {
        Json j = parse_json(read_file(path), path);
        const Json* k = j.find("key");
        if (!k || k->type != Json::String || k->str != key) return false;
        CellResult c;
        c.key = key;
        if (const Json* s = j.find("seconds")) c.seconds = s->num;
        if (!read_split(j.find("test"), c.test) || !read_split(j.find("val"), c.val) || !c.test.present) return false;
        r = c;
        return true;
    } catch (const Error&) {
        return false;  // unreadable: the cell is run again
    }
}

// ------------------------------------------------------------------------------------ the report
namespace {

struct Stat {
    double mean = 0, std = 0;
    int n = 0;
};
Stat stat(const std::vector<double>& v) {
    Stat s;
    s.n = (int)v.size();
    if (v.empty()) return s;
    for (double x : v) s.mean += x;
    s.mean /= v.size();
    if (v.size() > 1) {
        double q = 0;
        for (double x : v) q += (x - s.mean) * (x - s.mean);
        s.std = std::sqrt(q / (v.size() - 1));  // sample standard deviation over seeds
    }
    return s;
}

struct Row {
    std::string group, label, id, refine;
    int k = -1;
    double fraction = 1;
    Stat test, val, mean_b, qmean_b;
    std::vector<double> per_seed;
};

}  // namespace

std::string write_ablation_report(const std::string& dir, const AblationReport& r) {
    using Pick = std::function<double(const ZeroShotResult&)>;
    const Pick both = [](const ZeroShotResult& z) { return z.both; };
    auto collect = [&](const std::string& id, bool test, int which, const Pick& p) {  // which: 0 reco 1 mean 2 qmean
        std::vector<double> v;
        for (const auto& m : r.results) {
            auto it = m.find(id);
            if (it == m.end()) continue;
            const SplitScores& s = test ? it->second.test : it->second.val;
            if (!s.present) continue;
            v.push_back(p(which == 0 ? s.reco : which == 1 ? s.mean : s.query_mean));
        }
        return v;
    };
    std::vector<Row> rows;
    {
        Row f;
        f.group = "frozen";
        f.label = "frozen CLIP (no retrieval, no training)";
        f.id = "frozen";
        const Pick fr = [](const ZeroShotResult& z) { return z.frozen; };
        f.per_seed = collect("base", true, 0, fr);
        f.test = stat(f.per_seed);
        f.val = stat(collect("base", false, 0, fr));
        rows.push_back(f);
    }
    for (const GridCell& c : r.grid) {
        Row w;
        w.group = c.group;
        w.label = c.label;
        w.id = c.id;
        w.k = c.mode.k;
        w.fraction = c.mode.memory_fraction;
        w.refine = "both";
        w.per_seed = collect(c.id, true, 0, both);
        w.test = stat(w.per_seed);
        w.val = stat(collect(c.id, false, 0, both));
        w.mean_b = stat(collect(c.id, true, 1, both));
        w.qmean_b = stat(collect(c.id, true, 2, both));
        rows.push_back(w);
    }
    const Pick img = [](const ZeroShotResult& z) { return z.image; };
    const Pick txt = [](const ZeroShotResult& z) { return z.text; };
    for (int side = 0; side < 2; side++) {
        const Pick& p = side == 0 ? img : txt;
        Row w;
        w.group = "refine";
        w.label = side == 0 ? "refine the image only" : "refine the class prompts only";
        w.id = side == 0 ? "refine-image" : "refine-text";
        w.refine = side == 0 ? "image" : "text";
        w.k = r.grid.empty() ? 10 : r.grid[0].mode.k;
        w.per_seed = collect("base", true, 0, p);
        w.test = stat(w.per_seed);
        w.val = stat(collect("base", false, 0, p));
        w.mean_b = stat(collect("base", true, 1, p));
        w.qmean_b = stat(collect("base", true, 2, p));
        rows.push_back(w);
    }
    const double frozen = rows[0].test.mean;
    auto pm = [](const Stat& s) {
        if (s.n == 0) return std::string("–");
        return s.n > 1 ? strformat("%.1f ± %.1f", s.mean, s.std) : strformat("%.1f", s.mean);
    };
    std::string md = "| group | variant | val top-1 | test top-1 | Δ abs | Δ rel | retrieved mean | query + mean |\n"
                     "|---|---|---:|---:|---:|---:|---:|---:|\n";
    std::string csv =
        "group,id,variant,k,memory_fraction,refine,seeds,val_mean,val_std,test_mean,test_std,delta_abs,delta_rel_pct,"
        "retrieved_mean,retrieved_mean_std,query_plus_mean,query_plus_mean_std,test_per_seed\n";
    for (const Row& w : rows) {
        const bool is_frozen = w.id == "frozen";
        const double da = w.test.mean - frozen, dr = frozen > 0 ? 100.0 * da / frozen : 0;
        md += strformat("| %s | %s | %s | **%s** | %s | %s | %s | %s |\n", w.group.c_str(), w.label.c_str(),
                        pm(w.val).c_str(), pm(w.test).c_str(), is_frozen ? "" : strformat("%+.1f", da).c_str(),
                        is_frozen ? "" : strformat("%+.1f%%", dr).c_str(), is_frozen ? "" : pm(w.mean_b).c_str(),
                        is_frozen ? "" : pm(w.qmean_b).c_str());
        std::string seeds;
        for (double x : w.per_seed) seeds += (seeds.empty() ? "" : " ") + strformat("%.4g", x);
        csv += strformat("%s,%s,\"%s\",%d,%g,%s,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%s\n",
                         w.group.c_str(), w.id.c_str(), w.label.c_str(), w.k, w.fraction, w.refine.c_str(), w.test.n,
                         w.val.mean, w.val.std, w.test.mean, w.test.std, is_frozen ? 0.0 : da, is_frozen ? 0.0 : dr,
                         w.mean_b.mean, w.mean_b.std, w.qmean_b.mean, w.qmean_b.std, seeds.c_str());
    }
    std::string seeds;
    for (int s : r.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
    const std::string doc =
        "# Ablations: " + r.title + "\n\n"
        "Zero-shot top-1 (%) on the test split, mean ± sample std over seeds " + seeds +
        "; \"val top-1\" is the validation split (settings are chosen there, never on the test). "
        "Δ is against frozen CLIP (absolute points, relative %). \"retrieved mean\" and \"query + mean\" are the "
        "parameter-free baselines under the same retrieval as the row (no training). Unless the row says "
        "otherwise: uni-modal search, cross-modal fusion, k as in the base cell, the whole memory, both sides "
        "refined.\n\n" + md +
        "\nWritten by `reco ablate`; the numbers per seed are in ablations.csv, each cell's in cells/.\n";
    write_file_atomic(dir + "/ablations.md", doc.data(), doc.size());
    write_file_atomic(dir + "/ablations.csv", csv.data(), csv.size());
    return md;
}

}  // namespace reco
