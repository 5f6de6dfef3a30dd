// test_mpi_train.cpp — data-parallel `reco train` under mpirun (SPEC §9, src/dist/data_parallel.h):
// the same command on 1, 2 and 3 ranks (and on 3 ranks over the memory split into 2 shards) gives the
// single-process losses (≤ 1e-6 relative) and final checkpoint (weights and AdamW moments ≤ 1e-6
// absolute); a run stopped on 2 ranks and resumed on 3
// ends where the uninterrupted single process ends; more ranks than batch rows (an idle rank) and the
// shuffled sigmoid loss too; only rank 0 prints and writes. Skips visibly without MPI or mpirun.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "memory.h"
#include "mpi_util.h"
#include "test_util.h"

using namespace reco;

namespace {

struct TrainDir {
    std::string dir;
    TrainDir() {
        char t[] = "/tmp/reco_mpi_train_XXXXXX";
        REQUIRE(mkdtemp(t) != nullptr);
        dir = t;
        for (int f = 0; f < 2; f++) {  // 40 training pairs, a 50-pair memory, d = 16
            const int n = f == 0 ? 40 : 50, d = 16;
            std::mt19937_64 rng(f + 1);
            std::normal_distribution<float> g;
            std::vector<float> img((size_t)n * d), txt((size_t)n * d);
            for (auto& x : img) x = g(rng);
            for (auto& x : txt) x = g(rng);
            write_embedding_file(dir + (f == 0 ? "/data.safetensors" : "/mem.safetensors"), img.data(), txt.data(), n,
                                 d, {}, "test-clip");
            if (f == 1) {  // the same memory as a directory of two shards (rows 0-29, 30-49)
                REQUIRE(mkdir((dir + "/shards").c_str(), 0755) == 0);
                write_embedding_file(dir + "/shards/a.safetensors", img.data(), txt.data(), 30, d, {}, "test-clip");
                write_embedding_file(dir + "/shards/b.safetensors", img.data() + 30 * d, txt.data() + 30 * d, 20, d, {},
                                     "test-clip");
            }
        }
    }
    ~TrainDir() { run_cmd("rm -rf '" + dir + "'"); }
    // reco train on `ranks` ranks (0: plain process, no launcher); returns the output.
    std::string train(int ranks, const std::string& args, int* rc = nullptr) const {
        std::string out;
        const std::string launcher = ranks > 0 ? testutil::mpirun(ranks) : "";
        const int st = run_cmd("cd '" + dir + "' && OMP_NUM_THREADS=1 " + launcher + testutil::reco_bin() +
                                   "train --data data.safetensors --memory mem.safetensors --k 3 --heads 2 " +
                                   "--schedule constant --log-every 1 " + args,
                               &out);
        if (rc) *rc = st;
        else {
            INFO(out);
            REQUIRE(st == 0);
        }
        return out;
    }
};

// The "step N loss X" lines (rank 0's stdout), in order.
std::vector<double> losses(const std::string& out) {
    std::vector<double> L;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        long long n;
        double x;
        if (line.rfind("step ", 0) == 0 && sscanf(line.c_str(), "step %lld loss %lf", &n, &x) == 2) L.push_back(x);
    }
    return L;
}

void check_same_losses(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); i++) {
        CAPTURE(i);
        CHECK(std::fabs(a[i] - b[i]) <= 1e-6 * std::fabs(b[i]));
    }
}

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs((double)a[i] - b[i]));
    return m;
}

void check_same_checkpoint(const std::string& a, const std::string& b) {
    Checkpoint x = load_checkpoint(a), y = load_checkpoint(b);
    CAPTURE(a);
    CHECK(x.step == y.step);
    CHECK(x.opt.t == y.opt.t);
    CHECK(max_abs(x.model.params, y.model.params) <= 1e-6);
    CHECK(max_abs(x.opt.m, y.opt.m) <= 1e-6);
    CHECK(max_abs(x.opt.v, y.opt.v) <= 1e-6);
}

int count(const std::string& s, const std::string& part) {
    int n = 0;
    for (size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) n++;
    return n;
}

}  // namespace

TEST_CASE("mpi train: 10 steps on 1, 2 and 3 ranks give the single-process losses and checkpoint") {
    REQUIRE_MPI();
    TrainDir t;
    const std::string args = "--batch 7 --steps 10 --no-shuffle ";
    // 2 ranks first: no neighbour cache yet, so rank 0 computes it and broadcasts it
    const std::string o2 = t.train(2, args + "--out r2.safetensors");
    CHECK(testutil::contains(o2, "data-parallel over 2 ranks"));
    CHECK(count(o2, "\nstep 1 loss") + (o2.rfind("step 1 loss", 0) == 0) == 1);  // only rank 0 prints
    CHECK(count(o2, "wrote r2.safetensors") == 1);
    const std::string o1 = t.train(0, args + "--out single.safetensors");
    const std::vector<double> L = losses(o1);
    REQUIRE(L.size() == 10);
    check_same_losses(losses(o2), L);
    check_same_checkpoint(t.dir + "/r2.safetensors", t.dir + "/single.safetensors");
    for (int R : {1, 3}) {
        CAPTURE(R);
        const std::string o = t.train(R, args + "--out r" + std::to_string(R) + ".safetensors");
        check_same_losses(losses(o), L);
        check_same_checkpoint(t.dir + "/r" + std::to_string(R) + ".safetensors", t.dir + "/single.safetensors");
    }
    // the memory as a directory of 2 shards on 3 ranks (a new neighbour cache, searched split over the ranks)
    const std::string o3 = t.train(3, args + "--memory shards --out shards.safetensors");
    check_same_losses(losses(o3), L);
    check_same_checkpoint(t.dir + "/shards.safetensors", t.dir + "/single.safetensors");
}

TEST_CASE("mpi train: stopped on 2 ranks with --save-every, resumed on 3, ends like the single process") {
    REQUIRE_MPI();
    TrainDir t;
    const std::string args = "--batch 6 --steps 10 ";  // shuffled: 6 steps per epoch, an epoch boundary inside
    const std::vector<double> L = losses(t.train(0, args + "--out single.safetensors"));
    REQUIRE(L.size() == 10);
    const std::string a = t.train(2, args + "--save-every 2 --stop-after 5 --out run.safetensors");
    CHECK(load_checkpoint(t.dir + "/run.safetensors").step == 5);
    const std::string b = t.train(3, "--resume run.safetensors");
    std::vector<double> both = losses(a), rest = losses(b);
    both.insert(both.end(), rest.begin(), rest.end());
    check_same_losses(both, L);
    check_same_checkpoint(t.dir + "/run.safetensors", t.dir + "/single.safetensors");
}

TEST_CASE("mpi train: more ranks than batch rows (an idle rank) and the shuffled sigmoid loss") {
    REQUIRE_MPI();
    TrainDir t;
    for (const std::string& args : {std::string("--batch 2 --steps 6 "), std::string("--batch 8 --steps 6 --loss sigmoid ")}) {
        CAPTURE(args);
        const std::vector<double> L = losses(t.train(0, args + "--out single.safetensors"));
        REQUIRE(L.size() == 6);
        check_same_losses(losses(t.train(3, args + "--out r3.safetensors")), L);
        check_same_checkpoint(t.dir + "/r3.safetensors", t.dir + "/single.safetensors");
    }
}

TEST_CASE("mpi train: a bad --out or data file, or no --data, stops every rank with the error, no hang") {
    REQUIRE_MPI();
    TrainDir t;
    int rc = 0;
    std::string o = t.train(2, "--batch 7 --steps 2 --out no/such/dir/x.safetensors", &rc);
    CHECK(rc != 0);
    CHECK(testutil::contains(o, "no/such/dir"));
    o = t.train(2, "--batch 7 --steps 2 --out x.safetensors --memory missing.safetensors", &rc);
    CHECK(rc != 0);
    CHECK(testutil::contains(o, "missing.safetensors"));
    CHECK(rc != 124);  // not the timeout
    // the synthetic benchmark is one process: said on every rank, not run R times
    rc = run_cmd("cd '" + t.dir + "' && " + testutil::mpirun(2) + testutil::reco_bin() + "train", &o);
    CHECK(rc != 0);
    CHECK(count(o, "runs as one process") == 2);
}
