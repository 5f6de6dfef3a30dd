// comm.h — the communication layer for running reco as R processes (SPEC §9).
//
// One small interface, two backends:
//   - MPI (src/dist/comm_mpi.cpp, compiled when the build finds mpicxx; RECO_MPI=1), used when the
//     program was started by an MPI launcher (mpirun / mpiexec / srun: launched_by_mpi());
//   - a single process (comm.cpp): rank 0 of 1, every collective is a local copy. This is what the
//     plain `./reco` is, with or without MPI compiled in: it never needs a launcher.
// Everything above the backend (typed all-gathers, the fixed-order sum, the argument check, the
// error protocol) is written once in comm.cpp on two primitives: all-gather of bytes and broadcast.
//
// Determinism: nothing here uses MPI's reductions. sum_in_rank_order() adds the ranks' vectors in
// rank order 0, 1, ..., R-1 (each rank sums one slice of the elements, received by an all-to-all, and
// the slices are all-gathered), so the result has the same bits on every rank and for every MPI
// implementation (what reproducible data-parallel training needs).
//
// Errors: a reco::Error on one rank must not leave the others waiting in a collective forever.
//   - Work that can fail on some ranks only runs inside collectively(what, fn): every rank then
//     exchanges its status; if any rank failed, EVERY rank throws CollectiveError naming the failed
//     rank(s) and their messages. main() prints it on each rank and exits 1 after finalize().
//   - Any other exception escaping a command on a multi-rank run is printed and then abort_all()
//     (MPI_Abort) stops every rank: non-zero exit, no hang.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common.h"

#ifndef RECO_MPI  // builds that do not say (e.g. the fuzz harnesses): no MPI
#define RECO_MPI 0
#endif

namespace reco {
namespace dist {

// Thrown on every rank when collectively() found that some rank failed: all ranks know, so they
// can finish MPI cleanly and exit 1 (no abort needed).
struct CollectiveError : Error {
    explicit CollectiveError(const std::string& msg) : Error(msg) {}
};

// True when this process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
// PMIX_RANK in the environment).
bool launched_by_mpi();

// Whether the MPI backend is compiled in (RECO_MPI).
bool mpi_compiled();

// Start the communication layer: MPI_Init_thread when compiled in AND launched_by_mpi(), else the
// single-process backend. Call once, from main. Throws Error when launched by mpirun but MPI is not
// compiled in and the launcher says R > 1 (each process would otherwise run the whole job alone).
void init(int* argc, char*** argv);
// MPI_Finalize when MPI was started (safe to call more than once).
void finalize();
// MPI_Abort(code) on a multi-rank run; exit(code) otherwise.
[[noreturn]] void abort_all(int code);

int rank();                         // 0 .. size()-1
int size();                         // R ≥ 1
inline bool is_root() { return rank() == 0; }
std::string backend_name();         // "mpi" | "single"

void barrier();

// Broadcast n bytes from `root` into `data` on every rank.
void broadcast(void* data, size_t n, int root = 0);
void broadcast(std::string& s, int root = 0);  // any length; resized on the receivers

// All-gather with uneven counts: every rank passes its own part; every rank gets the parts of all
// ranks concatenated in rank order. counts (optional) receives each rank's element count.
std::vector<uint8_t> allgatherv(const uint8_t* mine, size_t n, std::vector<size_t>* counts = nullptr);
std::vector<float> allgatherv(const float* mine, size_t n, std::vector<size_t>* counts = nullptr);
std::vector<int32_t> allgatherv(const int32_t* mine, size_t n, std::vector<size_t>* counts = nullptr);
std::vector<int64_t> allgatherv(const int64_t* mine, size_t n, std::vector<size_t>* counts = nullptr);
std::vector<std::string> allgather_strings(const std::string& mine);

// x[0..n) ← Σ_r x_r[0..n), added in rank order (((x_0 + x_1) + x_2) + ...) in fp32 on every rank.
// Every rank must pass the same n (checked: Error naming the ranks otherwise). Each rank sends and
// receives about 2·(R−1)/R·n values (a reduce-scatter and an all-gather).
void sum_in_rank_order(float* x, size_t n);
void sum_in_rank_order(double* x, size_t n);

// Every rank started with the same command line? (FNV-1a hash of argv, compared across ranks.)
// Otherwise CollectiveError on every rank naming the first rank whose arguments differ from rank 0's.
void check_same_arguments(int argc, char** argv);

// Run fn() on every rank, then exchange the outcome: when any rank threw, every rank throws
// CollectiveError("rank r: <message>" for each failed rank; `what` says what was being done).
// Use around each piece of work that may fail on some ranks only (opening this rank's shards,
// searching them) and that is followed by a collective.
void collectively(const char* what, const std::function<void()>& fn);

// Same as collectively() when the failure is already known: ok = false with its message.
void check_all_ok(const char* what, bool ok, const std::string& message);

// Contiguous share [begin, end) of `count` items for rank r of R: the first count % R ranks get one
// more. Ranks beyond count get an empty range (they still take part in every collective).
void share(int64_t count, int r, int R, int64_t* begin, int64_t* end);

// printf to stdout on rank 0 only (results are printed once, not R times); returns what printf does
// there and 0 elsewhere. root_eprintf: the same on stderr (progress, notes).
int root_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int root_eprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace dist
}  // namespace reco
