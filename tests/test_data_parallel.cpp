// test_data_parallel.cpp — the data-parallel training step (src/dist/data_parallel.h) on R ranks
// simulated by threads (tests/thread_collectives.h) against the single-process fusion_loss /
// fusion_train_step: uneven slices, more ranks than rows, both losses; loss ≤ 1e-6 relative,
// gradients and weights ≤ 1e-6 absolute, and every rank's weights bit-identical.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>
#include <vector>

#include "device.h"
#include "dist/data_parallel.h"
#include "dist/local_device.h"
#include "fusion_train.h"
#include "impl.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "trainer.h"
#include "sigmoid_loss.h"
#include "test_util.h"
#include "thread_collectives.h"

using namespace reco;

namespace {

struct Batch {
    int B, k, d;
    std::vector<float> V, T, nbr_txt_for_img, nbr_img_for_txt;  // [B,d], [B,d], [B,k,d], [B,k,d]
};

using testutil::unit_rows;

Batch make_batch(int B, int k, int d, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Batch b{B, k, d, std::vector<float>((size_t)B * d), std::vector<float>((size_t)B * d),
            std::vector<float>((size_t)B * k * d), std::vector<float>((size_t)B * k * d)};
    for (auto* v : {&b.V, &b.T, &b.nbr_txt_for_img, &b.nbr_img_for_txt}) unit_rows(*v, d, rng);
    return b;
}

FusionModel make_model(int d, int heads, LossKind loss) {
    FusionDims dims;
    dims.d = d;
    dims.heads = heads;
    dims.logit_bias = loss == LossKind::sigmoid;
    FusionModel m;
    if (loss == LossKind::sigmoid) m.init(dims, kSigmoidInitLogitScale, 7, kSigmoidInitLogitBias);
    else m.init(dims, 2.65926003f, 7);
    return m;
}

// Rank c's rows of the batch.
struct Slice {
    int b0, b1;
    const float *V, *T, *nbr_txt_for_img, *nbr_img_for_txt;
};
Slice slice_of(const Batch& b, int R, int r) {
    Slice s;
    batch_slice(b.B, R, r, &s.b0, &s.b1);
    const size_t d = b.d, kd = (size_t)b.k * b.d;
    s.V = b.V.data() + s.b0 * d;
    s.T = b.T.data() + s.b0 * d;
    s.nbr_txt_for_img = b.nbr_txt_for_img.data() + s.b0 * kd;
    s.nbr_img_for_txt = b.nbr_img_for_txt.data() + s.b0 * kd;
    return s;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs((double)a[i] - b[i]));
    return m;
}

}  // namespace

TEST_CASE("batch_slice: contiguous, uneven by at most one row, every row once, idle ranks when B < R") {
    for (int B : {1, 5, 7, 64})
        for (int R : {1, 2, 3, 8}) {
            int next = 0;
            for (int r = 0; r < R; r++) {
                int b0, b1;
                batch_slice(B, R, r, &b0, &b1);
                CHECK(b0 == next);
                CHECK(b1 - b0 >= B / R);
                CHECK(b1 - b0 <= B / R + 1);
                next = b1;
            }
            CHECK(next == B);
        }
    CHECK(batch_slice_rows(7, 3) == std::vector<int>{3, 2, 2});
    CHECK(batch_slice_rows(2, 3) == std::vector<int>{1, 1, 0});
}

TEST_CASE("data-parallel loss and gradients on 1, 2, 3, 4 and 9 simulated ranks equal the single-process ones") {
    for (LossKind loss : {LossKind::nce, LossKind::sigmoid}) {
        const int B = 7, k = 3, d = 32;
        const Batch b = make_batch(B, k, d, 11);
        const FusionModel model = make_model(d, 4, loss);
        FusionLossWorkspace<float> ws1;
        std::vector<float> g1(model.params.size(), 0.0f);
        const float L1 = fusion_loss<float>(model.dims, model.params.data(), g1.data(), b.V.data(), b.T.data(),
                                            b.nbr_txt_for_img.data(), b.nbr_img_for_txt.data(), B, k, ws1, false, loss);
        double gmax = 0;
        for (float g : g1) gmax = std::max(gmax, (double)std::fabs(g));
        REQUIRE(gmax > 1e-3);  // gradients that can show a difference
        for (int R : {1, 2, 3, 4, 9}) {
            CAPTURE(R);
            CAPTURE(loss_name(loss));
            std::vector<float> L(R);
            std::vector<std::vector<float>> g(R);
            testutil::run_ranks(R, [&](Collectives& c) {
                DataParallelWorkspace ws;
                const Slice s = slice_of(b, R, c.rank());
                L[c.rank()] = data_parallel_loss_and_grads(c, model, ws, s.V, s.T, s.nbr_txt_for_img, s.nbr_img_for_txt,
                                                           B, k, loss, g[c.rank()]);
            });
            for (int r = 0; r < R; r++) {
                CHECK(std::fabs(L[r] - L1) <= 1e-6 * std::fabs(L1));
                CHECK(max_abs_diff(g[r], g1) <= 1e-6);
                CHECK(g[r] == g[0]);  // bit-identical on every rank
            }
        }
    }
}

TEST_CASE("data-parallel loss and gradients under --impl reference equal the single-process reference") {
    ImplScope scope(Impl::reference);
    const int B = 5, k = 2, d = 16;
    const Batch b = make_batch(B, k, d, 21);
    const FusionModel model = make_model(d, 2, LossKind::nce);
    FusionLossWorkspace<float> ws1;
    std::vector<float> g1(model.params.size(), 0.0f);
    const float L1 = fusion_loss<float>(model.dims, model.params.data(), g1.data(), b.V.data(), b.T.data(),
                                        b.nbr_txt_for_img.data(), b.nbr_img_for_txt.data(), B, k, ws1, true);
    const int R = 2;
    std::vector<float> L(R);
    std::vector<std::vector<float>> g(R);
    testutil::run_ranks(R, [&](Collectives& c) {
        DataParallelWorkspace ws;
        const Slice s = slice_of(b, R, c.rank());
        L[c.rank()] = data_parallel_loss_and_grads(c, model, ws, s.V, s.T, s.nbr_txt_for_img, s.nbr_img_for_txt, B, k,
                                                   LossKind::nce, g[c.rank()]);
    });
    for (int r = 0; r < R; r++) {
        CHECK(std::fabs(L[r] - L1) <= 1e-6 * std::fabs(L1));
        CHECK(max_abs_diff(g[r], g1) <= 1e-6);
    }
}

TEST_CASE("data-parallel training: 10 AdamW steps on 2 and 3 simulated ranks follow the single-process run") {
    for (LossKind loss : {LossKind::nce, LossKind::sigmoid}) {
        const int B = 8, k = 2, d = 16, steps = 10;
        std::vector<Batch> batches;
        for (int s = 0; s < steps; s++) batches.push_back(make_batch(B, k, d, 100 + s));
        FusionModel m1 = make_model(d, 2, loss);
        AdamW o1(m1.table, m1.params.size());
        FusionTrainWorkspace w1;
        std::vector<float> L1;
        for (int s = 0; s < steps; s++)
            L1.push_back(fusion_train_step(m1, o1, w1, batches[s].V.data(), batches[s].T.data(),
                                           batches[s].nbr_txt_for_img.data(), batches[s].nbr_img_for_txt.data(), B, k,
                                           1e-2, loss));
        for (int R : {2, 3}) {
            CAPTURE(R);
            CAPTURE(loss_name(loss));
            std::vector<FusionModel> m(R, make_model(d, 2, loss));
            std::vector<AdamW> o;
            for (int r = 0; r < R; r++) o.emplace_back(m[r].table, m[r].params.size());
            std::vector<std::vector<float>> L(R);
            testutil::run_ranks(R, [&](Collectives& c) {
                const int r = c.rank();
                DataParallelWorkspace ws;
                for (int s = 0; s < steps; s++) {
                    const Slice sl = slice_of(batches[s], R, r);
                    L[r].push_back(data_parallel_train_step(c, m[r], o[r], ws, sl.V, sl.T, sl.nbr_txt_for_img,
                                                            sl.nbr_img_for_txt, B, k, 1e-2, loss));
                }
            });
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < steps; s++) CHECK(std::fabs(L[r][s] - L1[s]) <= 1e-6 * std::fabs(L1[s]));
                CHECK(max_abs_diff(m[r].params, m1.params) <= 1e-6);
                CHECK(m[r].params == m[0].params);
                CHECK(o[r].m == o[0].m);
                CHECK(o[r].v == o[0].v);
            }
        }
    }
}

TEST_CASE("Trainer with use_data_parallel on 3 simulated ranks (shuffled, B=7) follows the single-process Trainer") {
    char tmpl[] = "/tmp/reco_dp_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl, data_path = dir + "/data.safetensors", mem_path = dir + "/mem.safetensors";
    const int n = 30, m = 40, d = 16;
    for (int f = 0; f < 2; f++) {
        std::mt19937_64 rng(f + 1);
        const int rows = f == 0 ? n : m;
        std::vector<float> img((size_t)rows * d), txt((size_t)rows * d);
        unit_rows(img, d, rng);
        unit_rows(txt, d, rng);
        write_embedding_file(f == 0 ? data_path : mem_path, img.data(), txt.data(), rows, d, {}, "test-clip");
    }
    {
        EmbeddingFile data(data_path), mem(mem_path);
        TrainSettings s;
        s.k = 3;
        s.batch = 7;
        s.heads = 2;
        s.total_steps = 8;  // two epochs of 4 steps: crosses an epoch's reshuffle
        s.schedule = "constant";
        s.lr = 1e-2;
        const NeighbourIndex nb = compute_neighbours(data, mem, s.k, false);
        FusionModel m0 = make_model(d, 2, LossKind::nce);
        AdamW o0(m0.table, m0.params.size());
        Trainer one(data, mem, nb, s, m0, o0, 0);
        std::vector<float> L1;
        for (int i = 0; i < s.total_steps; i++) L1.push_back(one.step());
        const int R = 3;
        std::vector<std::vector<float>> L(R), P(R);
        testutil::run_ranks(R, [&](Collectives& c) {
            Trainer t(data, mem, nb, s, m0, o0, 0);
            t.use_data_parallel(&c);
            for (int i = 0; i < s.total_steps; i++) L[c.rank()].push_back(t.step());
            P[c.rank()] = t.model.params;
        });
        for (int r = 0; r < R; r++) {
            for (int i = 0; i < s.total_steps; i++) CHECK(std::fabs(L[r][i] - L1[i]) <= 1e-6 * std::fabs(L1[i]));
            CHECK(max_abs_diff(P[r], one.model.params) <= 1e-6);
        }
    }
    unlink(data_path.c_str());
    unlink(mem_path.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("launcher_local_rank: OpenMPI, Slurm and MPICH variables; none or garbage → -1") {
    const char* vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"};
    std::vector<std::pair<std::string, std::string>> saved;
    for (const char* v : vars) {
        if (const char* s = getenv(v)) saved.push_back({v, s});
        unsetenv(v);
    }
    CHECK(launcher_local_rank() == -1);
    setenv("SLURM_LOCALID", "3", 1);
    CHECK(launcher_local_rank() == 3);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1);  // OpenMPI's wins
    CHECK(launcher_local_rank() == 5);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "x1", 1);  // not a number: the next variable
    CHECK(launcher_local_rank() == 3);
    unsetenv("SLURM_LOCALID");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    setenv("MPI_LOCALRANKID", "-2", 1);
    CHECK(launcher_local_rank() == -1);
    unsetenv("MPI_LOCALRANKID");
    for (auto& kv : saved) setenv(kv.first.c_str(), kv.second.c_str(), 1);
    if (cuda_device_count() == 0) CHECK(bind_local_device() == -1);  // no device: nothing to bind
}
