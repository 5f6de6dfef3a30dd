// cmd_memory.cpp — `reco memory build|import-npy`: write a memory file (SPEC §5, §6).
//
//   reco memory import-npy --image-npy A.npy --text-npy B.npy [--captions F] [--model ID] --out FILE
// imports precomputed embeddings in the clip-retrieval / LAION convention (img_emb_*.npy and
// text_emb_*.npy, float16 or float32 (N, d), row i of both from pair i). Rows are L2-normalised
// and stored as fp16; captions (optional) are one per line, exactly N lines. Nothing is written
// unless everything checks out (the output is written atomically).
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "common.h"
#include "memory.h"
#include "npy.h"

namespace reco {

// One caption per line ('\n' or "\r\n"); a final newline does not start another caption; a
// leading UTF-8 byte order mark is not part of the first caption.
static std::vector<std::string> read_caption_lines(const std::string& path) {
    std::string text = read_file(path);
    strip_utf8_bom(text);
    std::vector<std::string> lines;
    size_t p = 0;
    while (p < text.size()) {
        size_t e = text.find('\n', p);
        if (e == std::string::npos) e = text.size();
        std::string line = text.substr(p, e - p);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
        p = e + 1;
    }
    return lines;
}

static int run_import_npy(Args& a) {
    for (const char* opt : {"image-npy", "text-npy", "out"})
        if (!a.has(opt)) fail("memory import-npy: --%s is required", opt);
    std::string out = a.get("out"), model = a.get("model");
    check_output_path(out, "--out");  // before reading anything
    NpyMatrix img(a.get("image-npy")), txt(a.get("text-npy"));
    if (img.rows() != txt.rows() || img.cols() != txt.cols())
        fail("%s has shape (%lld, %lld) but %s has shape (%lld, %lld): the image and text arrays must agree in N "
             "(row i of both is pair i) and d",
             img.path().c_str(), (long long)img.rows(), (long long)img.cols(), txt.path().c_str(),
             (long long)txt.rows(), (long long)txt.cols());
    int n = (int)img.rows(), d = (int)img.cols();
    std::vector<std::string> captions;
    if (a.has("captions")) {
        captions = read_caption_lines(a.get("captions"));
        if ((long long)captions.size() != n)
            fail("%s: %zu caption lines, but the embedding arrays have %d rows (one caption per line, per pair)",
                 a.get("captions").c_str(), captions.size(), n);
    }
    if (model.empty())
        fprintf(stderr, "note: no --model given: the memory's CLIP model is recorded as unknown and can only be "
                        "checked by its dimension (d=%d)\n", d);
    RowSource is{img.path(), [&](int64_t i, float* row) { img.row_f32(i, row); }};
    RowSource ts{txt.path(), [&](int64_t i, float* row) { txt.row_f32(i, row); }};
    write_embedding_file(out, n, d, is, ts, captions, model,
                         {{"source", "import-npy " + img.path() + " " + txt.path()}});
    printf("wrote %s: %d pairs, d=%d, model %s%s\n", out.c_str(), n, d, model.empty() ? "unknown" : model.c_str(),
           captions.empty() ? ", no captions" : "");
    return 0;
}

int cmd_embed_pairs(Args& a);  // cmd_embed_pairs.cpp

static int run_memory(Args& a, int, char**) {
    const auto& pos = a.positional();
    if (pos.empty()) fail("memory: say what to do: 'reco memory build ...' or 'reco memory import-npy ...'");
    if (pos.size() > 1) fail("memory %s: unexpected argument '%s'", pos[0].c_str(), pos[1].c_str());
    if (pos[0] == "import-npy") return run_import_npy(a);
    if (pos[0] == "build") {  // an alias of `reco embed --pairs PAIRS.tsv --out FILE`
        if (!a.has("pairs")) fail("memory build needs --pairs PAIRS.tsv (image_path<TAB>caption per line)");
        return cmd_embed_pairs(a);
    }
    fail("memory: unknown action '%s' (expected build or import-npy)", pos[0].c_str());
}

REGISTER_COMMAND(memory,
                 "memory build [--model DIR] --pairs PAIRS.tsv --out FILE [--batch 64] [--skip-bad]   (= embed --pairs)\n"
                 "  reco memory import-npy --image-npy A.npy --text-npy B.npy [--captions F] [--model ID] --out FILE",
                 run_memory, {"image-npy", "text-npy", "captions", "model", "out", "pairs", "batch"}, {"skip-bad"});

}  // namespace reco
