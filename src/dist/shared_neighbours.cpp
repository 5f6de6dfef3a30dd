// shared_neighbours.cpp — rank 0's neighbour index broadcast to every rank (see shared_neighbours.h).
#include "dist/shared_neighbours.h"

#include <cstdint>

#include "dist/comm.h"

namespace reco {

NeighbourIndex shared_neighbours(const EmbeddingFile& data, const EmbeddingFile& mem, int k, FILE* log) {
    if (dist::size() == 1) return load_or_compute_neighbours(data, mem, k, log);
    NeighbourIndex nb;
    dist::collectively("finding the training neighbours", [&] {
        if (dist::is_root()) nb = load_or_compute_neighbours(data, mem, k, log);
    });
    int64_t head[4] = {nb.n, nb.k, nb.self_excluded ? 1 : 0, nb.from_cache ? 1 : 0};
    dist::broadcast(head, sizeof head, 0);
    nb.n = (int)head[0];
    nb.k = (int)head[1];
    nb.self_excluded = head[2] != 0;
    nb.from_cache = head[3] != 0;
    const size_t nk = (size_t)nb.n * nb.k;
    nb.img.resize(nk);
    nb.txt.resize(nk);
    dist::broadcast(nb.img.data(), nk * sizeof(int32_t), 0);
    dist::broadcast(nb.txt.data(), nk * sizeof(int32_t), 0);
    dist::broadcast(nb.cache_path, 0);
    return nb;
}

}  // namespace reco
