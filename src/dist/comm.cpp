// comm.cpp — the communication interface (comm.h) on the backend's two primitives, and the
// single-process backend used when MPI is not compiled in.
#include "dist/comm.h"

#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "dist/comm_backend.h"

namespace reco {
namespace dist {

bool launched_by_mpi() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
        if (getenv(v)) return true;
    return false;
}

bool mpi_compiled() { return RECO_MPI != 0; }

void init(int* argc, char*** argv) { backend::init(argc, argv); }
void finalize() { backend::finalize(); }
void abort_all(int code) { backend::abort_all(code); }
int rank() { return backend::rank(); }
int size() { return backend::size(); }
std::string backend_name() { return backend::name(); }
void barrier() { backend::barrier(); }
void broadcast(void* data, size_t n, int root) {
    if (n > 0) backend::broadcast(data, n, root);
}

void broadcast(std::string& s, int root) {
    uint64_t n = s.size();
    broadcast(&n, sizeof n, root);
    s.resize(n);
    broadcast(&s[0], n, root);
}

std::vector<uint8_t> allgatherv(const uint8_t* mine, size_t n, std::vector<size_t>* counts) {
    std::vector<size_t> c;
    std::vector<uint8_t> all;
    backend::allgatherv(mine, n, c, all);
    if (counts) *counts = c;
    return all;
}

// Typed all-gather: bytes, then counts in elements.
template <class T>
static std::vector<T> allgatherv_typed(const T* mine, size_t n, std::vector<size_t>* counts) {
    std::vector<size_t> c;
    std::vector<uint8_t> all;
    backend::allgatherv((const uint8_t*)mine, n * sizeof(T), c, all);
    if (counts) {
        counts->resize(c.size());
        for (size_t r = 0; r < c.size(); r++) (*counts)[r] = c[r] / sizeof(T);
    }
    std::vector<T> out(all.size() / sizeof(T));
    if (!out.empty()) memcpy(out.data(), all.data(), out.size() * sizeof(T));
    return out;
}

std::vector<float> allgatherv(const float* mine, size_t n, std::vector<size_t>* counts) {
    return allgatherv_typed(mine, n, counts);
}
std::vector<int32_t> allgatherv(const int32_t* mine, size_t n, std::vector<size_t>* counts) {
    return allgatherv_typed(mine, n, counts);
}
std::vector<int64_t> allgatherv(const int64_t* mine, size_t n, std::vector<size_t>* counts) {
    return allgatherv_typed(mine, n, counts);
}

std::vector<std::string> allgather_strings(const std::string& mine) {
    std::vector<size_t> c;
    std::vector<uint8_t> all;
    backend::allgatherv((const uint8_t*)mine.data(), mine.size(), c, all);
    std::vector<std::string> out;
    size_t off = 0;
    for (size_t r : c) {
        out.emplace_back((const char*)all.data() + off, r);
        off += r;
    }
    return out;
}

// A reduce-scatter, then an all-gather, both in a fixed order: rank s owns the elements share(n, s, R)
// gives it; every rank sends each owner its piece of that slice (all-to-all), the owner adds the R
// pieces in rank order, ((x_0 + x_1) + x_2) + ..., and the owned sums are all-gathered. Each element is
// the same sum in the same order as adding the whole vectors, so the bits are the same on every rank,
// for every R that gives the same order, and as the plain all-gather sum this replaced; but each rank
// now moves 2·(R−1)/R·n values instead of receiving (R−1)·n (docs/scaling.md).
template <class T>
static void sum_fixed(T* x, size_t n) {
    const int R = size(), me = rank();
    if (R == 1) return;
    const int64_t n64 = (int64_t)n;
    const std::vector<int64_t> ns = allgatherv(&n64, 1);
    for (int r = 0; r < R; r++)
        if (ns[r] != n64)
            fail("sum across ranks: rank %d has %lld values but rank %d has %zu (every rank must pass the same "
                 "length)", r, (long long)ns[r], me, n);
    std::vector<size_t> send_counts(R), begin(R), len(R);
    for (int s = 0; s < R; s++) {
        int64_t b, e;
        share(n64, s, R, &b, &e);
        begin[s] = (size_t)b, len[s] = (size_t)(e - b), send_counts[s] = len[s] * sizeof(T);
    }
    // what every rank sends this one: its piece of this rank's slice
    const std::vector<size_t> recv_counts(R, len[me] * sizeof(T));
    std::vector<T> pieces((size_t)R * len[me]);
    backend::alltoallv((const uint8_t*)x, send_counts, (uint8_t*)pieces.data(), recv_counts);
    T* mine = x + begin[me];
    memcpy(mine, pieces.data(), len[me] * sizeof(T));
    for (int r = 1; r < R; r++) {
        const T* xr = pieces.data() + (size_t)r * len[me];
        for (size_t i = 0; i < len[me]; i++) mine[i] += xr[i];
    }
    const std::vector<T> all = allgatherv_typed<T>(mine, len[me], nullptr);  // the owners' sums, in rank order = element order
    memcpy(x, all.data(), n * sizeof(T));
}

void sum_in_rank_order(float* x, size_t n) { sum_fixed(x, n); }
void sum_in_rank_order(double* x, size_t n) { sum_fixed(x, n); }

// FNV-1a 64 over the arguments, each followed by a 0 byte (so "a b" and "ab" differ).
static uint64_t hash_args(int argc, char** argv) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < argc; i++) {
        for (const char* p = argv[i];; p++) {
            h = (h ^ (uint8_t)*p) * 1099511628211ull;
            if (!*p) break;
        }
    }
    return h;
}

void check_same_arguments(int argc, char** argv) {
    if (size() == 1) return;
    uint64_t h = hash_args(argc, argv);
    std::vector<int64_t> all = allgatherv((const int64_t*)&h, 1);
    for (int r = 1; r < size(); r++)
        if (all[r] != all[0]) {
            std::string cmd;
            for (int i = 0; i < argc; i++) cmd += (i ? " " : "") + std::string(argv[i]);
            throw CollectiveError(strformat(
                "the %d ranks were not launched with the same arguments: rank %d's differ from rank 0's "
                "(this is rank %d: '%s'); every rank must run the same command", size(), r, rank(), cmd.c_str()));
        }
}

void check_all_ok(const char* what, bool ok, const std::string& message) {
    if (size() == 1) {
        if (!ok) throw CollectiveError(message);
        return;
    }
    // status byte + message, gathered: every rank sees every failure
    std::string mine = std::string(1, ok ? '1' : '0') + (ok ? "" : message);
    std::vector<std::string> all = allgather_strings(mine);
    std::string msg;
    int failed = 0;
    for (size_t r = 0; r < all.size(); r++) {
        if (all[r].empty() || all[r][0] == '1') continue;
        if (failed++) msg += "; ";
        msg += strformat("rank %zu: %s", r, all[r].c_str() + 1);
    }
    if (failed)
        throw CollectiveError(strformat("%s failed on %d of %d ranks: %s", what, failed, size(), msg.c_str()));
}

void collectively(const char* what, const std::function<void()>& fn) {
    bool ok = true;
    std::string message;
    try {
        fn();
    } catch (const CollectiveError&) {
        throw;  // every rank already knows
    } catch (const std::bad_alloc&) {
        ok = false;
        message = "out of memory";
    } catch (const std::exception& e) {
        ok = false;
        message = e.what();
    }
    if (size() == 1) {
        if (!ok) throw Error(message);  // one process: the plain error, as without MPI
        return;
    }
    check_all_ok(what, ok, message);
}

void share(int64_t count, int r, int R, int64_t* begin, int64_t* end) {
    int64_t base = count / R, extra = count % R;
    *begin = r * base + (r < extra ? r : extra);
    *end = *begin + base + (r < extra ? 1 : 0);
}

int root_printf(const char* fmt, ...) {
    if (rank() != 0) return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int root_eprintf(const char* fmt, ...) {
    if (rank() != 0) return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(stderr, fmt, ap);
    va_end(ap);
    return n;
}

// ------------------------------------------------------------------ the single-process backend
#if !RECO_MPI
namespace backend {

void init(int*, char***) {
    // mpirun started several copies of a binary built without MPI: each would do the whole job alone.
    const char* n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n) n = getenv("PMI_SIZE");
    if (n && atoi(n) > 1)
        fail("started by an MPI launcher with %s processes, but this reco was built without MPI (make MPI=0, or "
             "mpicxx was not found when it was built): rebuild with OpenMPI installed (libopenmpi-dev, openmpi-bin)", n);
}
void finalize() {}
void abort_all(int code) { exit(code); }
int rank() { return 0; }
int size() { return 1; }
const char* name() { return "single"; }
void barrier() {}
void broadcast(void*, size_t, int) {}
void allgatherv(const uint8_t* mine, size_t n, std::vector<size_t>& counts, std::vector<uint8_t>& all) {
    counts.assign(1, n);
    all.assign(mine, mine + n);
}
void alltoallv(const uint8_t* send, const std::vector<size_t>& send_counts, uint8_t* recv, const std::vector<size_t>&) {
    if (send_counts[0]) memcpy(recv, send, send_counts[0]);
}

}  // namespace backend
#endif

}  // namespace dist
}  // namespace reco
