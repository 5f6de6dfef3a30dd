// bench_mpi_collectives.cpp — what one data-parallel training step communicates, timed with MPI on
// this machine (docs/scaling.md calibrates its cost model with it; tools/bench_mpi.sh runs it):
//   gather   all-gather of the batch's [V̄ | T̄ | V | T] rows: 4·B·d floats in all (uneven split)
//   gradsum  the rank-ordered gradient sum as reco does it (src/dist/comm.h sum_in_rank_order): an
//            all-to-all gives each rank every rank's piece of its slice of the P floats, it adds them in
//            rank order, and the summed slices are all-gathered (about 2·(R−1)/R·P floats each way)
//   gradsum, all-gather  the earlier way, for comparison: an all-gather of every rank's P floats, then
//            the in-order add on every rank ((R−1)·P floats received)
// Prints seconds per call and the bytes each rank receives. Plain MPI (the same MPI_Allgatherv the
// comm layer uses), so it needs nothing else from the project.
//
// build: mpicxx -O2 -std=c++17 tools/bench_mpi_collectives.cpp -o build/bench_mpi_collectives
// run:   mpirun --oversubscribe -np 2 build/bench_mpi_collectives [B=4096] [d=512] [P=6304769] [reps=5]
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank, R;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &R);
    const long B = argc > 1 ? atol(argv[1]) : 4096, d = argc > 2 ? atol(argv[2]) : 512;
    const long P = argc > 3 ? atol(argv[3]) : 6304769;  // the fusion model's parameters at d = 512
    const int reps = argc > 4 ? atoi(argv[4]) : 5;
    // the batch's rows per rank (the first B mod R ranks one more), 4d floats each
    std::vector<int> counts(R), displs(R);
    long off = 0;
    for (int r = 0; r < R; r++) {
        counts[r] = (int)((B / R + (r < B % R ? 1 : 0)) * 4 * d);
        displs[r] = (int)off;
        off += counts[r];
    }
    std::vector<float> mine(counts[rank], 1.0f), all(off);
    std::vector<float> g(P, 1.0f / (rank + 1)), parts((size_t)P * R);
    std::vector<int> pc(R, (int)P), pd(R);
    for (int r = 0; r < R; r++) pd[r] = (int)(r * P);
    // the reduce-scatter's slices: rank r owns [sb[r], sb[r] + sl[r])
    std::vector<int> sl(R), sb(R), rcnt(R), rdis(R);
    for (int r = 0; r < R; r++) {
        sl[r] = (int)(P / R + (r < P % R ? 1 : 0));
        sb[r] = r == 0 ? 0 : sb[r - 1] + sl[r - 1];
    }
    for (int r = 0; r < R; r++) rcnt[r] = sl[rank], rdis[r] = r * sl[rank];
    std::vector<float> pieces((size_t)R * sl[rank]), g2(P);
    double t_gather = 1e30, t_sum = 1e30, t_add = 1e30, t_rs = 1e30;
    for (int it = 0; it < reps + 1; it++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        MPI_Allgatherv(mine.data(), counts[rank], MPI_FLOAT, all.data(), counts.data(), displs.data(), MPI_FLOAT,
                       MPI_COMM_WORLD);
        double t1 = now();
        MPI_Barrier(MPI_COMM_WORLD);
        double t2 = now();
        MPI_Allgatherv(g.data(), (int)P, MPI_FLOAT, parts.data(), pc.data(), pd.data(), MPI_FLOAT, MPI_COMM_WORLD);
        double t3 = now();
        for (long i = 0; i < P; i++) {
            float s = parts[i];
            for (int r = 1; r < R; r++) s += parts[(size_t)r * P + i];
            g[i] = s;
        }
        double t4 = now();
        MPI_Barrier(MPI_COMM_WORLD);
        double t5 = now();
        MPI_Alltoallv(g.data(), sl.data(), sb.data(), MPI_FLOAT, pieces.data(), rcnt.data(), rdis.data(), MPI_FLOAT,
                      MPI_COMM_WORLD);
        float* own = g.data() + sb[rank];
        for (int i = 0; i < sl[rank]; i++) {
            float s = pieces[i];
            for (int r = 1; r < R; r++) s += pieces[(size_t)r * sl[rank] + i];
            own[i] = s;
        }
        MPI_Allgatherv(own, sl[rank], MPI_FLOAT, g2.data(), sl.data(), sb.data(), MPI_FLOAT, MPI_COMM_WORLD);
        double t6 = now();
        if (it > 0) {  // the first call warms up the transport
            t_gather = std::min(t_gather, t1 - t0);
            t_sum = std::min(t_sum, t4 - t2);
            t_add = std::min(t_add, t4 - t3);
            t_rs = std::min(t_rs, t6 - t5);
        }
    }
    double tg, ts, ta, tr;  // the slowest rank's best time
    MPI_Reduce(&t_rs, &tr, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&t_gather, &tg, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&t_sum, &ts, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&t_add, &ta, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        const double gb = (double)(off - counts[0]) * 4, sb = (double)P * (R - 1) * 4;
        printf("ranks %d  B %ld  d %ld  P %ld\n", R, B, d, P);
        printf("gather  %.4f s  %.1f MB received per rank  %.2f GB/s\n", tg, gb / 1e6, gb / tg / 1e9);
        const double rb = ((double)(R - 1) * sl[0] + (double)(P - sl[0])) * 4;  // rank 0: pieces in, sums in
        printf("gradsum %.4f s  %.1f MB received per rank  (reduce-scatter + all-gather, as reco does it)\n", tr,
               rb / 1e6);
        printf("gradsum-allgather %.4f s  %.1f MB received per rank  %.2f GB/s (of which the in-order add %.4f s)\n",
               ts, sb / 1e6, sb / (ts - ta) / 1e9, ta);
    }
    MPI_Finalize();
    return 0;
}
