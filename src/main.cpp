// main.cpp — the `reco` binary: look up the subcommand and run it.
// Every error is a reco::Error; it is printed as "reco: error: ..." and the exit status is 1.
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
#include <exception>
#include <new>

#include "cli.h"
#include "common.h"

using namespace reco;

static void usage(FILE* f) {
    fprintf(f, "reco — Retrieval-Enhanced Contrastive vision-text models (RECO) on frozen CLIP\n\nusage:\n");
    for (auto& kv : command_registry()) fprintf(f, "  reco %s\n", kv.second.usage);
    fprintf(f, "\nevery command accepts --device auto|cpu|cuda; those that run a tower also --precision fp32|bf16\n(CPU GEMMs in bf16 with fp32 accumulation where the CPU has avx512_bf16; default fp32). See README.md.\n");
}

// OpenMP threads that wait at a barrier spin by default (libgomp's active wait policy). When the
// machine is busy with anything else, a spinning thread burns the time its descheduled partner needs
// and a 2-core run can get slower than a 1-core one (measured: 6 vs 10 images/s). Waiting passively
// costs a few microseconds per barrier, which is nothing at our granularity. libgomp reads
// OMP_WAIT_POLICY once, when it is loaded, so we set it and re-execute ourselves once; an explicit
// OMP_WAIT_POLICY from the user is left alone.
static void prefer_passive_omp_wait(char** argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the active policy
}

int main(int argc, char** argv) {
    prefer_passive_omp_wait(argv);
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    auto& reg = command_registry();
    auto it = reg.find(argv[1]);
    if (it == reg.end()) {
        fprintf(stderr, "reco: error: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    const Command& cmd = it->second;
    try {
        std::vector<std::string> vo = cmd.value_opts, fo = cmd.flag_opts;
        vo.push_back("device");
        vo.push_back("precision");
        fo.push_back("help");
        Args args(argc - 2, argv + 2, vo, fo);
        if (args.has("help")) {
            printf("usage: reco %s\n", cmd.usage);
            return 0;
        }
        return cmd.fn(args, argc - 2, argv + 2);
    } catch (const Error& e) {
        fprintf(stderr, "reco: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        fprintf(stderr, "reco: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        fprintf(stderr, "reco: error: %s\n", e.what());
        return 1;
    }
}
