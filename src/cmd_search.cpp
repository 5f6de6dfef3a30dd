// cmd_search.cpp — `reco search`: the k nearest memory pairs of an image or a text, with scores
// and captions. Uni-modal by default (image → memory images, text → memory texts; SPEC §1);
// --cross searches the other modality (the paper's cross-modal-search ablation).
//
// Batch form (no model needed):
//   reco search --memory MEM --query-npy Q.npy [--side image|text] [--k 10] --out R.safetensors
// searches every row of Q.npy (fp16 or fp32 (Q, d), used as given) in the memory's image_emb
// (--side image, the default) or text_emb, and writes indices I64 [Q, k] and scores F32 [Q, k],
// best first (topk.h's order), atomically. MEM may be a directory of shards; under mpirun the
// shards are split over the ranks and rank 0 writes (SPEC §9). Progress on stderr.
#include <cstdio>
#include <vector>

#include "cli.h"
#include "encoder.h"
#include "common.h"
#include "dist/comm.h"
#include "dist/sharded_search.h"
#include "memory.h"
#include "npy.h"
#include "retrieval.h"
#include "safetensors.h"

namespace reco {

static int run_search_batch(Args& a) {
    if (a.has("image") || a.has("text") || a.has("cross")) fail("--query-npy cannot be combined with --image, --text or --cross");
    if (!a.has("out")) fail("search --query-npy needs --out R.safetensors (indices and scores)");
    if (!a.positional().empty()) fail("unexpected argument '%s'", a.positional()[0].c_str());
    const std::string out = a.get("out"), side = a.get("side", "image");
    if (side != "image" && side != "text") fail("--side must be image or text (got '%s')", side.c_str());
    const int k = a.get_int("k", 10);
    if (dist::is_root()) check_output_path(out, "--out");  // before any work (only rank 0 writes)
    ShardedMemory mem(a.get("memory"));
    NpyMatrix qm(a.get("query-npy"));
    if (qm.cols() != mem.d())
        fail("%s has %lld columns but the memory %s has d=%d: queries and memory must come from the same model",
             qm.path().c_str(), (long long)qm.cols(), mem.path().c_str(), mem.d());
    if (qm.rows() > (1 << 30)) fail("%s: too many queries (%lld)", qm.path().c_str(), (long long)qm.rows());
    if (k < 1) fail("--k must be at least 1");
    if (k > mem.n()) fail("--k %d is larger than the memory %s (%d items)", k, mem.path().c_str(), mem.n());
    const int Q = (int)qm.rows(), d = mem.d();
    std::vector<float> q((size_t)Q * d);
    for (int i = 0; i < Q; i++) qm.row_f32(i, q.data() + (size_t)i * d);
    std::vector<int> idx((size_t)Q * k);
    std::vector<float> score((size_t)Q * k);
    ShardSearchOptions opt;
    opt.progress = true;
    ShardSearchStats st;
    dist::root_eprintf("search: %d queries, top-%d in %s (%d rows, %zu shard%s) on %d rank%s\n", Q, k,
                       mem.path().c_str(), mem.n(), mem.shards().size(), mem.shards().size() == 1 ? "" : "s",
                       dist::size(), dist::size() == 1 ? "" : "s");
    sharded_topk(mem, side == "image", q.data(), Q, k, idx.data(), score.data(), nullptr, opt, &st);
    dist::root_eprintf("search: done (search %.3f s, exchange %.3f s, merge %.3f s on rank 0)\n", st.search_s,
                       st.comm_s, st.merge_s);
    dist::collectively("writing the results", [&] {
        if (!dist::is_root()) return;
        std::vector<int64_t> idx64(idx.begin(), idx.end());
        SafeTensorsWriter w;
        w.add("indices", DType::I64, {(int64_t)Q, (int64_t)k}, idx64.data(), idx64.size() * 8);
        w.add("scores", DType::F32, {(int64_t)Q, (int64_t)k}, score.data(), score.size() * 4);
        w.set_metadata("memory", absolute_path(mem.path()));
        w.set_metadata("memory_n", std::to_string(mem.n()));
        w.set_metadata("queries", absolute_path(qm.path()));
        w.set_metadata("side", side);
        w.set_metadata("k", std::to_string(k));
        w.write(out);
        printf("wrote %s: top-%d of %d queries in %s (%d rows, %zu shards), %s side\n", out.c_str(), k, Q,
               mem.path().c_str(), mem.n(), mem.shards().size(), side.c_str());
    });
    return 0;
}

static int run_search(Args& a, int, char**) {
    if (!a.has("memory"))
        fail("search needs --memory MEM (an embedding file or a directory of them: reco memory build / import-npy)");
    if (a.has("query-npy")) return run_search_batch(a);
    std::vector<std::pair<bool, std::string>> queries;  // (is_image, value)
    for (auto& kv : a.ordered()) {
        if (kv.first == "image") queries.push_back({true, kv.second});
        if (kv.first == "text") queries.push_back({false, kv.second});
    }
    if (queries.empty()) fail("search needs --image FILE or --text STRING");
    if (!a.positional().empty()) fail("unexpected argument '%s'", a.positional()[0].c_str());
    const int k = a.get_int("k", 10);
    ShardedMemory mem(a.get("memory"));
    if (k < 1) fail("--k must be at least 1");
    if (k > mem.n()) fail("--k %d is larger than the memory %s (%d items)", k, mem.path().c_str(), mem.n());
    std::unique_ptr<Encoder> encoder = Encoder::open(model_dir_or_default(a), a.get("device", "auto"), a.get("precision", "fp32"));
    Encoder& enc = *encoder;
    check_compatible("memory " + mem.path(), mem.d(), mem.model(), "model " + enc.dir(), enc.dim(),
                     enc.name());
    check_family("memory " + mem.path(), mem.family(), "model " + enc.dir(), family_name(enc.family()));
    const bool cross = a.has("cross");
    for (auto& q : queries) {
        std::vector<float> e = q.first ? enc.embed_image_files({q.second}) : enc.embed_texts({q.second});
        Modality m = q.first ? Modality::image : Modality::text;
        Neighbours nb = retrieve(mem, m, e.data(), 1, k, cross);
        bool searched_images = q.first != cross;
        dist::root_printf("%s %s  (searching memory %s, %d items)\n", q.first ? "image" : "text", q.second.c_str(),
               searched_images ? "images" : "texts", mem.n());
        dist::root_printf("  rank  index     score    caption\n");
        for (int i = 0; i < k; i++)
            dist::root_printf("  %4d  %-8d  %.5f  %s\n", i + 1, nb.idx[i], nb.score[i],
                   mem.has_captions() ? mem.caption(nb.idx[i]).c_str() : "-");
    }
    return 0;
}

REGISTER_COMMAND(search,
                 "search --memory MEM (--image F | --text S)... [--model DIR] [--k 10] [--cross]   nearest pairs\n"
                 "  reco search --memory MEM --query-npy Q.npy [--side image|text] [--k 10] --out R.safetensors",
                 run_search, {"memory", "image", "text", "model", "k", "query-npy", "side", "out"}, {"cross"});

}  // namespace reco
