// cmd_memory.cpp — `reco memory build|import-npy|split`: write a memory file or a sharded memory
// (SPEC §5, §6, §9).
//
//   reco memory import-npy --image-npy A.npy --text-npy B.npy [--captions F] [--model ID] --out FILE
// imports precomputed embeddings in the clip-retrieval / LAION convention (img_emb_*.npy and
// text_emb_*.npy, float16 or float32 (N, d), row i of both from pair i). Rows are L2-normalised
// and stored as fp16; captions (optional) are one per line, exactly N lines. Nothing is written
// unless everything checks out (the output is written atomically).
// With several --image-npy/--text-npy (and as many --captions), paired in the order given, or with
// --out naming an existing directory (one without memory files), every pair becomes one shard
// DIR/shard-0000i.safetensors of a sharded memory in --out DIR (the published LAION layout, img_emb_0.npy ... img_emb_N.npy, in one command);
// all inputs are checked before the first shard is written.
//
//   reco memory split --memory M --parts P --out DIR
// writes M (a file or a sharded directory) as P shards with the same rows, bit for bit.
#include <cstdio>
#include <string>
#include <vector>

#include <memory>
#include <sys/stat.h>

#include "cli.h"
#include "common.h"
#include "dist/comm.h"
#include "dist/memory_split.h"
#include "dist/sharded_memory.h"
#include "memory.h"
#include "npy.h"

namespace reco {

// One (image, text, captions) triple, opened and checked.
struct NpyPair {
    std::unique_ptr<NpyMatrix> img, txt;
    std::vector<std::string> captions;
};

static NpyPair open_pair(const std::string& img_path, const std::string& txt_path, const std::string& captions_path) {
    NpyPair p;
    p.img.reset(new NpyMatrix(img_path));
    p.txt.reset(new NpyMatrix(txt_path));
    const NpyMatrix &img = *p.img, &txt = *p.txt;
    if (img.rows() != txt.rows() || img.cols() != txt.cols())
        fail("%s has shape (%lld, %lld) but %s has shape (%lld, %lld): the image and text arrays must agree in N "
             "(row i of both is pair i) and d",
             img.path().c_str(), (long long)img.rows(), (long long)img.cols(), txt.path().c_str(),
             (long long)txt.rows(), (long long)txt.cols());
    if (!captions_path.empty()) {
        p.captions = read_text_lines(captions_path);  // one caption per line
        if ((long long)p.captions.size() != img.rows())
            fail("%s: %zu caption lines, but the embedding arrays have %lld rows (one caption per line, per pair)",
                 captions_path.c_str(), p.captions.size(), (long long)img.rows());
    }
    return p;
}

static void write_pair(const NpyPair& p, const std::string& out, const std::string& model) {
    const NpyMatrix &img = *p.img, &txt = *p.txt;
    int n = (int)img.rows(), d = (int)img.cols();
    RowSource is{img.path(), [&](int64_t i, float* row) { img.row_f32(i, row); }};
    RowSource ts{txt.path(), [&](int64_t i, float* row) { txt.row_f32(i, row); }};
    write_embedding_file(out, n, d, is, ts, p.captions, model, {{"source", "import-npy " + img.path() + " " + txt.path()}});
    printf("wrote %s: %d pairs, d=%d, model %s%s\n", out.c_str(), n, d, model.empty() ? "unknown" : model.c_str(),
           p.captions.empty() ? ", no captions" : "");
}

static int run_import_npy(Args& a) {
    for (const char* opt : {"image-npy", "text-npy", "out"})
        if (!a.has(opt)) fail("memory import-npy: --%s is required", opt);
    std::string out = a.get("out"), model = a.get("model");
    const auto &imgs = a.all("image-npy"), &txts = a.all("text-npy");
    const std::vector<std::string> no_captions;
    const auto& caps = a.has("captions") ? a.all("captions") : no_captions;
    if (imgs.size() != txts.size())
        fail("memory import-npy: %zu --image-npy but %zu --text-npy (they are paired in the order given)",
             imgs.size(), txts.size());
    if (!caps.empty() && caps.size() != imgs.size())
        fail("memory import-npy: %zu --captions for %zu embedding pairs (give one per pair, or none)", caps.size(),
             imgs.size());
    struct stat st;
    const bool to_dir = imgs.size() > 1 || (stat(out.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
    if (to_dir) prepare_shard_dir(out);  // before reading anything
    else check_output_path(out, "--out");
    std::vector<NpyPair> pairs;
    for (size_t i = 0; i < imgs.size(); i++) {
        pairs.push_back(open_pair(imgs[i], txts[i], caps.empty() ? "" : caps[i]));
        if (pairs[i].img->cols() != pairs[0].img->cols())
            fail("%s has d=%lld but %s has d=%lld: the shards of one memory must come from one model", imgs[i].c_str(),
                 (long long)pairs[i].img->cols(), imgs[0].c_str(), (long long)pairs[0].img->cols());
    }
    if (model.empty())
        fprintf(stderr, "note: no --model given: the memory's CLIP model is recorded as unknown and can only be "
                        "checked by its dimension (d=%lld)\n", (long long)pairs[0].img->cols());
    for (size_t i = 0; i < pairs.size(); i++)
        write_pair(pairs[i], to_dir ? out + "/" + shard_file_name((int)i) : out, model);
    if (to_dir) printf("sharded memory %s: %zu shards\n", out.c_str(), pairs.size());
    return 0;
}

static int run_split(Args& a) {
    for (const char* opt : {"memory", "parts", "out"})
        if (!a.has(opt)) fail("memory split: --%s is required (memory split --memory M --parts P --out DIR)", opt);
    ShardedMemory src(a.get("memory"));
    split_memory(src, a.get_int("parts", 0), a.get("out"), stdout);
    return 0;
}

int cmd_embed_pairs(Args& a);  // cmd_embed_pairs.cpp

static int run_memory(Args& a, int, char**) {
    const auto& pos = a.positional();
    if (pos.empty()) fail("memory: say what to do: 'reco memory build ...', 'reco memory import-npy ...' or 'reco memory split ...'");
    if (pos.size() > 1) fail("memory %s: unexpected argument '%s'", pos[0].c_str(), pos[1].c_str());
    if (dist::size() > 1) fail("memory %s writes files: run it without mpirun", pos[0].c_str());
    if (pos[0] == "import-npy") return run_import_npy(a);
    if (pos[0] == "split") return run_split(a);
    if (pos[0] == "build") {  // an alias of `reco embed --pairs PAIRS.tsv --out FILE`
        if (!a.has("pairs")) fail("memory build needs --pairs PAIRS.tsv (image_path<TAB>caption per line)");
        return cmd_embed_pairs(a);
    }
    fail("memory: unknown action '%s' (expected build, import-npy or split)", pos[0].c_str());
}

REGISTER_COMMAND(memory,
                 "memory build [--model DIR] --pairs PAIRS.tsv --out FILE [--batch 64] [--skip-bad] [--decode-threads D]   (= embed --pairs;\n"
                 "      images are decoded on D threads (0: not overlapped) while the towers embed the previous batch)\n"
                 "  reco memory import-npy --image-npy A.npy --text-npy B.npy [--captions F] [--model ID] --out FILE\n"
                 "  reco memory import-npy (--image-npy A_i.npy --text-npy B_i.npy [--captions F_i])... --out DIR   shards\n"
                 "  reco memory split --memory M --parts P --out DIR",
                 run_memory, {"image-npy", "text-npy", "captions", "model", "out", "pairs", "batch", "memory", "parts",
                  "decode-threads"},
                 {"skip-bad"});

}  // namespace reco
