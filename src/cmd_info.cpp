// cmd_info.cpp — `reco info FILE|DIR`: tensors, dtypes, shapes, metadata and parameter count of a
// safetensors file (a model, a memory/embedding file, a fusion checkpoint). A directory means
// DIR/model.safetensors, or, without one, a sharded memory (SPEC §9): rows, model, shards, bytes.
// Without a FILE: the CPU features found and the kernels chosen from them (src/cpu_features.h).
#include <cstdio>
#include <sys/stat.h>

#include "cli.h"
#include "common.h"
#include "cpu_features.h"
#include "dist/comm.h"
#include "dist/sharded_memory.h"
#include "ops.h"
#include "safetensors.h"
#include "topk.h"

namespace reco {

// A directory of memory shards: the whole memory, then one line per shard.
static int info_sharded(const std::string& dir) {
    ShardedMemory m(dir);
    dist::root_printf("%s: sharded memory\n  rows: %d\n  d: %d\n  model: %s\n  family: %s\n  captions: %s\n"
                      "  shards: %zu\n  bytes: %llu\n", dir.c_str(), m.n(), m.d(),
                      m.model().empty() ? "unknown" : m.model().c_str(), m.family().empty() ? "unknown" : m.family().c_str(),
                      m.has_captions() ? "yes" : "no", m.shards().size(), (unsigned long long)m.bytes());
    dist::root_printf("  %-40s %12s %12s %14s\n", "shard", "first row", "rows", "bytes");
    for (auto& s : m.shards()) {
        std::string name = s.path.substr(s.path.rfind('/') + 1);
        dist::root_printf("  %-40s %12lld %12d %14llu\n", name.c_str(), (long long)s.offset, s.n,
                          (unsigned long long)s.file_size);
    }
    return 0;
}

static int run_info(Args& a, int, char**) {
    if (a.positional().empty()) {  // no file: this CPU and the kernels reco runs on it
        printf("%s\ntop-k: %s\ngemm: %s%s\nattention: %s\n", cpu_summary(), topk_kernel_name(isa_active()),
               gemm_kernel_name(), isa_active() >= Isa::avx512_bf16 ? " (--precision bf16: avx512_bf16 6x64 pairs)" : "",
               attention_kernel_name());
        return 0;
    }
    if (a.positional().size() != 1) fail("usage: reco info [FILE] (a .safetensors file or a model directory)");
    std::string path = a.positional()[0];
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!file_exists(path + "/model.safetensors")) return info_sharded(path);
        path += "/model.safetensors";
    }
    SafeTensors f(path);
    printf("%s\n", path.c_str());
    if (!f.metadata().empty()) {
        printf("metadata:\n");
        for (auto& kv : f.metadata()) {
            std::string v = kv.second.size() > 200 ? kv.second.substr(0, 200) + "..." : kv.second;
            printf("  %s: %s\n", kv.first.c_str(), v.c_str());
        }
    }
    long long params = 0;
    size_t bytes = 0;
    for (auto& t : f.tensors()) {
        printf("  %-64s %-5s %s\n", t.name.c_str(), dtype_name(t.dtype), t.shape_str().c_str());
        if (t.name.find("position_ids") == std::string::npos) params += t.numel();
        bytes += t.end - t.begin;
    }
    printf("tensors: %zu\nparameters: %lld\ndata bytes: %zu\n", f.tensors().size(), params, bytes);
    return 0;
}

REGISTER_COMMAND(info, "info [FILE|DIR]                     tensors, dtypes, shapes, metadata, parameter count; no FILE: CPU kernels;\n"
                 "                                           a sharded memory DIR: rows, model, shards, bytes",
                 run_info, {}, {});

}  // namespace reco
