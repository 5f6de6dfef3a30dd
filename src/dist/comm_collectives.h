// comm_collectives.h — the data-parallel step's collectives (data_parallel.h) over the process
// communication layer (comm.h: MPI under a launcher, one local process otherwise).
#pragma once
#include <cstring>
#include <vector>

#include "common.h"
#include "dist/comm.h"
#include "dist/data_parallel.h"

namespace reco {

class CommCollectives : public Collectives {
public:
    int rank() const override { return dist::rank(); }
    int size() const override { return dist::size(); }
    void allgather_rows(const float* mine, float* all, const std::vector<int>& rows, int width) override {
        std::vector<size_t> counts;
        const std::vector<float> v = dist::allgatherv(mine, (size_t)rows.at(rank()) * width, &counts);
        for (int r = 0; r < size(); r++)
            if (counts[r] != (size_t)rows[r] * width)
                fail("data-parallel step: rank %d sent %zu values, expected %zu (ranks out of step)", r, counts[r],
                     (size_t)rows[r] * width);
        if (!v.empty()) std::memcpy(all, v.data(), v.size() * sizeof(float));
    }
    void allreduce_sum_ordered(float* buf, size_t n) override { dist::sum_in_rank_order(buf, n); }
};

}  // namespace reco
