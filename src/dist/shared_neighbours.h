// shared_neighbours.h — the training-neighbour index (neighbour_cache.h) on every rank of a
// data-parallel run (SPEC §9): rank 0 reuses the cache or computes and writes it (so ranks never race
// on the cache file), then broadcasts the indices; every rank gets the same [N,k] img/txt lists.
// Each rank then reads, through its own mmap of the memory, only the neighbour rows of its slices of
// the batches (the pages it touches), not the whole memory.
// One process: exactly load_or_compute_neighbours.
#pragma once
#include <cstdio>

#include "memory.h"
#include "neighbour_cache.h"

namespace reco {

// Collective: every rank calls it with the same files and k. An error on rank 0 (a bad memory, k too
// large) reaches every rank (dist::collectively). Notes go to `log` on rank 0.
NeighbourIndex shared_neighbours(const EmbeddingFile& data, const EmbeddingFile& mem, int k, FILE* log = stderr);

}  // namespace reco
