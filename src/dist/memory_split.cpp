// memory_split.cpp — `reco memory split`: one memory → P shards with identical rows (see the header).
#include "dist/memory_split.h"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <vector>

#include "common.h"
#include "dist/comm.h"
#include "dist/sharded_memory.h"
#include "safetensors.h"

namespace reco {

std::string shard_file_name(int p) { return strformat("shard-%05d.safetensors", p); }

void prepare_shard_dir(const std::string& out_dir) {
    struct stat st;
    if (stat(out_dir.c_str(), &st) != 0) {
        if (mkdir(out_dir.c_str(), 0755) != 0)
            fail("%s: cannot create the shard directory: %s", out_dir.c_str(), strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) fail("%s exists and is not a directory (the shards go into a directory)", out_dir.c_str());
    bool has_memory = true;
    try {
        list_memory_files(out_dir);
    } catch (const Error&) {
        has_memory = false;
    }
    if (has_memory)
        fail("%s already holds memory files: new shards would mix with them (use an empty or new directory)",
             out_dir.c_str());
    check_output_path(out_dir + "/" + shard_file_name(0), "--out");
}

void split_memory(const ShardedMemory& src, int parts, const std::string& out_dir, FILE* log) {
    if (parts < 1) fail("--parts must be at least 1 (got %d)", parts);
    if (parts > src.n())
        fail("--parts %d is more than the %d rows of %s (a shard must not be empty)", parts, src.n(), src.path().c_str());
    prepare_shard_dir(out_dir);
    const int d = src.d();
    for (int p = 0; p < parts; p++) {
        int64_t a, b;
        dist::share(src.n(), p, parts, &a, &b);
        const int n = (int)(b - a);
        std::vector<uint16_t> img((size_t)n * d), txt((size_t)n * d);
        std::vector<int64_t> off((size_t)n + 1, 0);
        std::string blob;
        for (int64_t i = a; i < b; i++) {  // rows copied as fp16 bits: identical scores after the split
            const int s = src.shard_of(i);
            const EmbeddingFile& f = src.shard_file(s);
            const int64_t r = i - src.shards()[s].offset;
            memcpy(&img[(size_t)(i - a) * d], f.image_emb_f16() + (size_t)r * d, (size_t)d * 2);
            memcpy(&txt[(size_t)(i - a) * d], f.text_emb_f16() + (size_t)r * d, (size_t)d * 2);
            if (src.has_captions()) {
                blob += f.caption((int)r);
                off[(size_t)(i - a) + 1] = (int64_t)blob.size();
            }
        }
        SafeTensorsWriter w;
        if (src.has_captions()) w.add("caption_offsets", DType::I64, {(int64_t)n + 1}, off.data(), off.size() * 8);
        w.add("image_emb", DType::F16, {(int64_t)n, (int64_t)d}, img.data(), img.size() * 2);
        w.add("text_emb", DType::F16, {(int64_t)n, (int64_t)d}, txt.data(), txt.size() * 2);
        if (src.has_captions()) w.add("captions", DType::U8, {(int64_t)blob.size()}, blob.data(), blob.size());
        w.set_metadata("format", kEmbeddingFormat);
        w.set_metadata("model", src.model());
        if (!src.family().empty()) w.set_metadata("family", src.family());
        w.set_metadata("n", std::to_string(n));
        w.set_metadata("d", std::to_string(d));
        w.set_metadata("source", strformat("split of %s: rows %lld..%lld", absolute_path(src.path()).c_str(),
                                           (long long)a, (long long)b - 1));
        const std::string path = out_dir + "/" + shard_file_name(p);
        w.write(path);
        if (log) fprintf(log, "wrote %s: rows %lld..%lld (%d pairs)\n", path.c_str(), (long long)a, (long long)b - 1, n);
    }
}

}  // namespace reco
