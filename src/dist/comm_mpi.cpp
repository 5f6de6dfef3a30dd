// comm_mpi.cpp — the MPI backend of comm.h (compiled in when the build finds mpicxx: RECO_MPI=1).
//
// MPI is started only when a launcher started us (dist::launched_by_mpi()); the plain binary is one
// process and never touches MPI. Threads: OpenMP inside each rank, MPI called from the main thread
// only (MPI_THREAD_FUNNELED). Collectives are on MPI_COMM_WORLD with MPI_ERRORS_RETURN, so a failed
// call becomes a reco::Error (then main aborts every rank) instead of MPI's own abort.
#if RECO_MPI
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "dist/comm.h"
#include "dist/comm_backend.h"

namespace reco {
namespace dist {
namespace backend {

static bool g_started = false, g_finalized = false;
static int g_rank = 0, g_size = 1;

static void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fail("MPI %s failed on rank %d: %.*s", call, g_rank, len, msg);
}

void init(int* argc, char*** argv) {
    if (g_started || !launched_by_mpi()) return;
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    g_started = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
}

void finalize() {
    if (!g_started || g_finalized) return;
    g_finalized = true;
    MPI_Finalize();
}

void abort_all(int code) {
    fflush(stdout);
    fflush(stderr);
    if (g_started && !g_finalized && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    finalize();
    exit(code);
}

int rank() { return g_rank; }
int size() { return g_size; }
const char* name() { return g_started ? "mpi" : "single"; }

void barrier() {
    if (g_size > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

// MPI counts are int: large messages go in pieces of at most 1 GiB.
static const size_t kPiece = (size_t)1 << 30;

void broadcast(void* data, size_t n, int root) {
    if (g_size == 1) return;
    for (size_t off = 0; off < n; off += kPiece) {
        int len = (int)std::min(kPiece, n - off);
        check(MPI_Bcast((char*)data + off, len, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
}

void allgatherv(const uint8_t* mine, size_t n, std::vector<size_t>& counts, std::vector<uint8_t>& all) {
    if (g_size == 1) {
        counts.assign(1, n);
        all.assign(mine, mine + n);
        return;
    }
    unsigned long long n64 = n;
    std::vector<unsigned long long> c64(g_size);
    check(MPI_Allgather(&n64, 1, MPI_UNSIGNED_LONG_LONG, c64.data(), 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD),
          "MPI_Allgather");
    counts.assign(c64.begin(), c64.end());
    std::vector<size_t> start(g_size + 1, 0);
    for (int r = 0; r < g_size; r++) start[r + 1] = start[r] + counts[r];
    all.resize(start[g_size]);
    // rounds: in round j every rank sends bytes [j·piece, (j+1)·piece) of its part (maybe none)
    size_t most = 0;
    for (size_t c : counts) most = std::max(most, c);
    const size_t piece = std::min(kPiece, (size_t)INT_MAX / g_size);  // a round's total fits an int
    std::vector<uint8_t> recv;
    std::vector<int> rc(g_size), rd(g_size);
    for (size_t off = 0; off < most; off += piece) {
        int total = 0;
        for (int r = 0; r < g_size; r++) {
            size_t c = counts[r] > off ? std::min(piece, counts[r] - off) : 0;
            rc[r] = (int)c;
            rd[r] = total;
            total += (int)c;
        }
        recv.resize((size_t)total);
        int mine_len = rc[g_rank];
        check(MPI_Allgatherv(mine ? mine + off : nullptr, mine_len, MPI_BYTE, recv.data(), rc.data(), rd.data(),
                             MPI_BYTE, MPI_COMM_WORLD),
              "MPI_Allgatherv");
        for (int r = 0; r < g_size; r++)
            if (rc[r]) memcpy(all.data() + start[r] + off, recv.data() + rd[r], (size_t)rc[r]);
    }
}

void alltoallv(const uint8_t* send, const std::vector<size_t>& send_counts, uint8_t* recv,
               const std::vector<size_t>& recv_counts) {
    if (g_size == 1) {
        if (send_counts[0]) memcpy(recv, send, send_counts[0]);
        return;
    }
    std::vector<size_t> sstart(g_size + 1, 0), rstart(g_size + 1, 0);
    size_t most = 0;
    for (int r = 0; r < g_size; r++) {
        sstart[r + 1] = sstart[r] + send_counts[r];
        rstart[r + 1] = rstart[r] + recv_counts[r];
        most = std::max({most, send_counts[r], recv_counts[r]});
    }
    // rounds, as in allgatherv: in round j every pair exchanges bytes [j·piece, (j+1)·piece) of its part
    const size_t piece = std::min(kPiece, (size_t)INT_MAX / g_size);
    std::vector<uint8_t> sbuf, rbuf;
    std::vector<int> sc(g_size), sd(g_size), rc(g_size), rd(g_size);
    for (size_t off = 0; off < most; off += piece) {
        int stotal = 0, rtotal = 0;
        for (int r = 0; r < g_size; r++) {
            sc[r] = (int)(send_counts[r] > off ? std::min(piece, send_counts[r] - off) : 0);
            rc[r] = (int)(recv_counts[r] > off ? std::min(piece, recv_counts[r] - off) : 0);
            sd[r] = stotal, rd[r] = rtotal;
            stotal += sc[r], rtotal += rc[r];
        }
        sbuf.resize((size_t)stotal);
        rbuf.resize((size_t)rtotal);
        for (int r = 0; r < g_size; r++)
            if (sc[r]) memcpy(sbuf.data() + sd[r], send + sstart[r] + off, (size_t)sc[r]);
        check(MPI_Alltoallv(sbuf.data(), sc.data(), sd.data(), MPI_BYTE, rbuf.data(), rc.data(), rd.data(), MPI_BYTE,
                            MPI_COMM_WORLD),
              "MPI_Alltoallv");
        for (int r = 0; r < g_size; r++)
            if (rc[r]) memcpy(recv + rstart[r] + off, rbuf.data() + rd[r], (size_t)rc[r]);
    }
}

}  // namespace backend
}  // namespace dist
}  // namespace reco
#endif  // RECO_MPI
