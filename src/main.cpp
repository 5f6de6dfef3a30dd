// main.cpp — the `reco` binary: look up the subcommand and run it.
// Every error is a reco::Error; it is printed as "reco: error: ..." and the exit status is 1.
// Under an MPI launcher (mpirun -np R ./reco ...) every rank runs this same main (SPEC §9): MPI is
// started here, the ranks check they got the same arguments, and an error reaches every rank (see
// dist/comm.h): a collective one exits 1 on each rank, any other aborts them all; none hangs.
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <cstring>
#include <exception>
#include <new>

#include "cli.h"
#include "common.h"
#include "dist/comm.h"
#include "dist/local_device.h"
#include "dist/sharded_search.h"
#include "impl.h"
#include "topk_device.h"

using namespace reco;

static void usage(FILE* f) {
    fprintf(f, "reco — Retrieval-Enhanced Contrastive vision-text models (RECO) on frozen CLIP\n\nusage:\n");
    for (auto& kv : command_registry()) fprintf(f, "  reco %s\n", kv.second.usage);
    fprintf(f, "\nevery command accepts --device auto|cpu|cuda and --impl fast|reference; those that run a tower also\n--precision fp32|bf16 (CPU GEMMs in bf16 with fp32 accumulation where the CPU has avx512_bf16; default fp32). See README.md.\n");
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

// "reco: error: MSG", with the rank on a multi-rank run.
static void report_error(const char* msg) {
    if (dist::size() > 1) fprintf(stderr, "reco: error: [rank %d of %d] %s\n", dist::rank(), dist::size(), msg);
    else fprintf(stderr, "reco: error: %s\n", msg);
}

// An error only this rank may know about: the others could be waiting in a collective, so a
// multi-rank run is aborted (every rank exits non-zero); one process just exits 1.
[[noreturn]] static void fail_alone(const char* msg) {
    report_error(msg);
    fflush(stdout);
    if (dist::size() > 1) dist::abort_all(1);
    dist::finalize();
    exit(1);
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
    int rc = 1;
    try {
        dist::init(&argc, &argv);
        dist::check_same_arguments(argc, argv);
        // Results are printed once: rank 0's stdout; the other ranks' goes nowhere (errors and notes
        // stay on every rank's stderr).
        if (!dist::is_root() && !freopen("/dev/null", "w", stdout)) fail("rank %d: cannot silence stdout", dist::rank());
        if (dist::size() > 1) bind_local_device();  // one rank per GPU: the node-local rank's device
        std::vector<std::string> vo = cmd.value_opts, fo = cmd.flag_opts;
        vo.push_back("device");
        vo.push_back("memory-budget");
        vo.push_back("impl");
        vo.push_back("precision");
        fo.push_back("help");
        Args args(argc - 2, argv + 2, vo, fo);
        set_impl(parse_impl(args.get("impl", "fast")));  // --impl reference|fast (impl.h)
        if (args.has("memory-budget"))  // MB of memory rows a search maps at once (dist/sharded_search.h)
            set_default_memory_budget(memory_budget_bytes(args.get_i64("memory-budget", 0)));
        set_search_device_flag(args.get("device", "auto"));  // where top-k searches run (topk_device.h)
        if (args.has("help")) {
            dist::root_printf("usage: reco %s\n", cmd.usage);
            rc = 0;
        } else {
            rc = cmd.fn(args, argc - 2, argv + 2);
        }
    } catch (const dist::CollectiveError& e) {  // every rank knows: each says so and exits 1
        report_error(e.what());
        rc = 1;
    } catch (const Error& e) {
        fail_alone(e.what());
    } catch (const std::bad_alloc&) {
        fail_alone("out of memory");
    } catch (const std::exception& e) {
        fail_alone(e.what());
    }
    fflush(stdout);
    dist::finalize();
    return rc;
}
