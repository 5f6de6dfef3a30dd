// test_mpi_search.cpp — `mpirun -np 2|3 ./reco search` over a memory split into 1, 2 and 5 shards:
// the same indices and score bits as the plain reference over the unsplit memory (ties included),
// each rank searching only its contiguous share of the shards, idle ranks when there are more ranks
// than shards, and a shard failing on one rank ending every rank with the error (no hang).
#include <doctest/doctest.h>

#include <sstream>
#include <unistd.h>

#include "dist/comm.h"
#include "mpi_util.h"
#include "shard_fixture.h"
#include "test_util.h"

using namespace reco;
using namespace shardtest;
using testutil::contains;

// The output line that contains `part` ("" when none).
static std::string line_with(const std::string& out, const std::string& part) {
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (contains(line, part)) return line;
    return "";
}

TEST_CASE("mpi search: 2 and 3 ranks over 1, 2, 5 shards equal the unsplit reference (bits, ties)") {
    if (dist::launched_by_mpi()) return;
    REQUIRE_MPI();
    const std::string dir = make_tmp_dir("mpisearch"), bin = testutil::reco_bin();
    TieMemory m = tie_memory(83, 24, 21);
    const std::string file = write_memory(m, dir + "/memory.safetensors");
    const int Q = 12, k = 12;
    std::vector<float> q = tie_queries(m, Q, 4, true);
    write_npy(dir + "/q.npy", q, Q, m.d);
    std::vector<int> ri, gi;
    std::vector<float> rs, gs;
    reference(file, true, q, k, ri, rs);
    ShardedMemory whole(file);
    for (int P : {1, 2, 5}) {
        const std::string sd = dir + "/p" + std::to_string(P);
        split_memory(whole, P, sd, nullptr);
        for (int R : {2, 3}) {
            INFO("P=" << P << " R=" << R);
            const std::string res = dir + "/r.safetensors";
            std::string out;
            int rc = run_cmd(testutil::mpirun(R) + bin + "search --memory " + sd + " --query-npy " + dir +
                             "/q.npy --k 12 --out " + res, &out);
            INFO(out);
            REQUIRE(rc == 0);
            read_result(res, gi, gs);
            CHECK(gi == ri);
            CHECK(same_bits(gs, rs));
            unlink(res.c_str());
            // rank r searched exactly shards share(P, r, R), one line per shard
            for (int r = 0; r < R; r++) {
                int64_t s0, s1;
                dist::share(P, r, R, &s0, &s1);
                for (int s = 0; s < P; s++) {
                    std::string line = line_with(out, "search: shard " + std::to_string(s + 1) + "/" + std::to_string(P) + " ");
                    if (s >= s0 && s < s1) CHECK(contains(line, "on rank " + std::to_string(r)));
                }
            }
        }
    }
    run_cmd("rm -rf " + dir);
}

TEST_CASE("mpi search: a shard failing on one rank stops every rank with the error, no hang") {
    if (dist::launched_by_mpi()) return;
    REQUIRE_MPI();
    const std::string dir = make_tmp_dir("mpibad"), bin = testutil::reco_bin();
    TieMemory m = tie_memory(50, 8, 2);
    ShardedMemory whole(write_memory(m, dir + "/memory.safetensors"));
    split_memory(whole, 5, dir + "/s", nullptr);
    write_npy(dir + "/q.npy", tie_queries(m, 3, 1, true), 3, 8);
    // the last shard (rank 2's of 3) gets a NaN row: only that rank finds it, while searching
    {
        SafeTensorsWriter w;
        std::vector<uint16_t> x((size_t)10 * 8, 0x3000);
        x[3 * 8 + 1] = 0x7E00;
        w.add("image_emb", DType::F16, {10, 8}, x.data(), x.size() * 2);
        w.add("text_emb", DType::F16, {10, 8}, x.data(), x.size() * 2);
        w.set_metadata("model", "clip-test");
        w.write(dir + "/s/shard-00004.safetensors");
    }
    std::string out;
    int rc = run_cmd(testutil::mpirun(3, 60) + bin + "search --memory " + dir + "/s --query-npy " + dir +
                     "/q.npy --k 3 --out " + dir + "/r.safetensors", &out);
    INFO(out);
    CHECK(rc != 0);
    CHECK(rc != 124);  // not the timeout: no rank hung
    for (int r = 0; r < 3; r++) {
        std::string line = line_with(out, "[rank " + std::to_string(r) + " of 3]");
        CHECK(contains(line, "searching the memory shards failed on 1 of 3 ranks: rank 2: memory shard " + dir +
                                 "/s/shard-00004.safetensors: tensor 'image_emb' row 3 contains NaN or Inf"));
    }
    CHECK(!testutil::exists(dir + "/r.safetensors"));
    // a truncated shard: every rank refuses the memory when listing it
    REQUIRE(truncate((dir + "/s/shard-00001.safetensors").c_str(), 300) == 0);
    rc = run_cmd(testutil::mpirun(2, 60) + bin + "search --memory " + dir + "/s --query-npy " + dir +
                 "/q.npy --k 3 --out " + dir + "/r.safetensors", &out);
    CHECK(rc != 0);
    CHECK(rc != 124);
    CHECK(contains(out, dir + "/s/shard-00001.safetensors"));
    CHECK(!testutil::exists(dir + "/r.safetensors"));
    run_cmd("rm -rf " + dir);
}
