// sharded_search.cpp — streamed, rank-split exact top-k over a sharded memory (see the header).
#include "dist/sharded_search.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <memory>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dist/comm.h"
#include "topk.h"
#include "topk_device.h"

namespace reco {

const int kDefaultMemoryBudgetMB = 1024;

static uint64_t g_budget = (uint64_t)kDefaultMemoryBudgetMB << 20;
uint64_t default_memory_budget() { return g_budget; }
void set_default_memory_budget(uint64_t bytes) { g_budget = bytes; }

uint64_t memory_budget_bytes(long long mb) {
    if (mb < 1) fail("--memory-budget must be at least 1 (MB), got %lld", mb);
    return (uint64_t)mb << 20;
}

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Rows [r0, r1) of one shard's image_emb or text_emb, mapped read-only; unmapped when destroyed.
// The file is reopened and its size checked against the listing first: a shard that disappeared or
// was truncated is an error naming it (never a SIGBUS from touching pages past the end).
class TileMap {
public:
    TileMap(const ShardInfo& s, bool images, int r0, int r1) {
        const char* p = s.path.c_str();
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("memory shard %s disappeared since the memory was opened: %s", p, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != s.file_size) {
            long long now = fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
            close(fd);
            fail("memory shard %s was %s since the memory was opened (%llu bytes then, %lld now)", p,
                 now < (long long)s.file_size ? "truncated" : "changed", (unsigned long long)s.file_size, now);
        }
        const uint64_t row_bytes = (uint64_t)s.d * 2;
        const uint64_t begin = (images ? s.image_pos : s.text_pos) + row_bytes * r0;
        const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        const uint64_t aligned = begin / page * page;
        len_ = (size_t)(begin - aligned + row_bytes * (r1 - r0));
        map_ = mmap(nullptr, len_, PROT_READ, MAP_PRIVATE, fd, (off_t)aligned);
        const int e = errno;
        close(fd);
        if (map_ == MAP_FAILED) {
            map_ = nullptr;
            fail("memory shard %s: cannot map rows %d..%d (%zu bytes): %s (a smaller --memory-budget maps less at once)",
                 p, r0, r1 - 1, len_, strerror(e));
        }
        madvise(map_, len_, MADV_SEQUENTIAL);
        rows_ = (const uint16_t*)((const uint8_t*)map_ + (begin - aligned));
    }
    ~TileMap() {
        if (map_) munmap(map_, len_);
    }
    TileMap(const TileMap&) = delete;
    TileMap& operator=(const TileMap&) = delete;
    const uint16_t* rows() const { return rows_; }

private:
    void* map_ = nullptr;
    size_t len_ = 0;
    const uint16_t* rows_ = nullptr;
};

// topk.h's order: a ranks above b.
static inline bool better(float sa, int ia, float sb, int ib) {
    if (ia < 0) return false;
    if (ib < 0) return true;
    return sa > sb || (sa == sb && ia < ib);
}

void merge_topk_lists(int L, const int* const* idx, const float* const* score, int Q, int k_in, int k_out,
                      int* out_idx, float* out_score) {
    #pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        std::vector<int> pos(L, 0);  // each list is sorted: an L-way merge
        for (int j = 0; j < k_out; j++) {
            int best = -1;
            for (int l = 0; l < L; l++) {
                if (pos[l] >= k_in) continue;
                const size_t at = (size_t)q * k_in + pos[l];
                if (idx[l][at] < 0) continue;
                if (best < 0) { best = l; continue; }
                const size_t bt = (size_t)q * k_in + pos[best];
                if (better(score[l][at], idx[l][at], score[best][bt], idx[best][bt])) best = l;
            }
            if (best < 0) {
                out_idx[(size_t)q * k_out + j] = -1;
                out_score[(size_t)q * k_out + j] = -std::numeric_limits<float>::infinity();
                continue;
            }
            const size_t bt = (size_t)q * k_in + pos[best]++;
            out_idx[(size_t)q * k_out + j] = idx[best][bt];
            out_score[(size_t)q * k_out + j] = score[best][bt];
        }
    }
}

// First row of a tile holding a NaN or ±Inf, or -1.
static long long first_nonfinite_row(const uint16_t* x, int n, int d) {
    long long first = LLONG_MAX;
    #pragma omp parallel for schedule(static) reduction(min : first)
    for (int i = 0; i < n; i++) {
        const uint16_t* r = x + (size_t)i * d;
        unsigned bad = 0;
        for (int c = 0; c < d; c++) bad |= (r[c] & 0x7C00u) == 0x7C00u;
        if (bad && i < first) first = i;
    }
    return first == LLONG_MAX ? -1 : first;
}

// This rank's part: shards [s0, s1) searched tile by tile into best_idx/best_score [Q, k].
static void search_shards(const ShardedMemory& mem, int s0, int s1, bool images, const float* queries, int Q, int k,
                          const int* exclude, const ShardSearchOptions& opt, std::vector<int>& best_idx,
                          std::vector<float>& best_score, ShardSearchStats& st) {
    const int d = mem.d();
    best_idx.assign((size_t)Q * k, -1);
    best_score.assign((size_t)Q * k, -std::numeric_limits<float>::infinity());
    const int64_t tile_rows64 = std::max<int64_t>(1, (int64_t)(opt.budget_bytes / ((uint64_t)d * 2)));
    const int tile_rows = (int)std::min<int64_t>(tile_rows64, INT_MAX);
    std::vector<int> tidx, ex(Q), merged_idx((size_t)Q * k);
    std::vector<float> tscore, merged_score((size_t)Q * k);
    for (int s = s0; s < s1; s++) {
        const ShardInfo& sh = mem.shards()[s];
        if (opt.progress)
            fprintf(stderr, "search: shard %d/%zu %s (%d rows)%s\n", s + 1, mem.shards().size(), sh.path.c_str(), sh.n,
                    dist::size() > 1 ? strformat(" on rank %d", dist::rank()).c_str() : "");
        // a shard already open (mapped and validated whole) is searched in place, in one piece
        const EmbeddingFile* open = mem.open_shard(s);
        const int step = open ? sh.n : tile_rows;
        for (int r0 = 0; r0 < sh.n; r0 += step) {
            const int r1 = (int)std::min<int64_t>(sh.n, (int64_t)r0 + step), rows = r1 - r0;
            const int64_t base = sh.offset + r0;
            std::unique_ptr<TileMap> tile;
            const uint16_t* tile_rows_f16 = nullptr;
            if (open) {
                tile_rows_f16 = images ? open->image_emb_f16() : open->text_emb_f16();
            } else {
                tile.reset(new TileMap(sh, images, r0, r1));
                tile_rows_f16 = tile->rows();
                long long bad = first_nonfinite_row(tile_rows_f16, rows, d);
                if (bad >= 0)
                    fail("memory shard %s: tensor '%s' row %lld contains NaN or Inf", sh.path.c_str(),
                         images ? "image_emb" : "text_emb", (long long)r0 + bad);
            }
            // Excluded rows: search one more without exclusion, then drop the excluded one (exact).
            bool any_ex = false;
            for (int q = 0; q < Q && exclude; q++) {
                ex[q] = exclude[q] >= base && exclude[q] < base + rows ? (int)(exclude[q] - base) : -1;
                any_ex = any_ex || ex[q] >= 0;
            }
            const int kk = std::min(rows, any_ex ? k + 1 : k);
            tidx.resize((size_t)Q * kk);
            tscore.resize((size_t)Q * kk);
            // on the GPU with --device cuda (or auto with a device): the same indices and score bits
            topk_search_on(search_device(), queries, tile_rows_f16, Q, rows, d, kk, tidx.data(), tscore.data());
            // to global indices, the excluded row dropped, padded with -1 to k per query
            std::vector<int> gidx((size_t)Q * k, -1);
            std::vector<float> gscore((size_t)Q * k, -std::numeric_limits<float>::infinity());
            for (int q = 0; q < Q; q++) {
                int j = 0;
                for (int t = 0; t < kk && j < k; t++) {
                    const int li = tidx[(size_t)q * kk + t];
                    if (any_ex && li == ex[q]) continue;
                    gidx[(size_t)q * k + j] = (int)(base + li);
                    gscore[(size_t)q * k + j] = tscore[(size_t)q * kk + t];
                    j++;
                }
            }
            const int* il[2] = {best_idx.data(), gidx.data()};
            const float* sl[2] = {best_score.data(), gscore.data()};
            merge_topk_lists(2, il, sl, Q, k, k, merged_idx.data(), merged_score.data());
            best_idx.swap(merged_idx);
            best_score.swap(merged_score);
            st.tiles++;
        }
        st.shards_searched++;
    }
}

void sharded_topk(const ShardedMemory& mem, bool search_images, const float* queries, int Q, int k, int* out_idx,
                  float* out_score, const int* exclude, const ShardSearchOptions& opt, ShardSearchStats* stats) {
    if (k < 1) fail("k must be at least 1 (got %d)", k);
    if (Q < 0) fail("negative number of queries (%d)", Q);
    const int limit = exclude ? mem.n() - 1 : mem.n();
    if (k > limit)
        fail("k=%d is larger than the memory %s (%d items%s)", k, mem.path().c_str(), mem.n(),
             exclude ? ", minus each query's own pair" : "");
    for (size_t i = 0; i < (size_t)Q * mem.d(); i++)
        if (!std::isfinite(queries[i])) fail("query %zu has a non-finite value at position %zu", i / mem.d(), i % mem.d());
    ShardSearchStats st;
    const int S = (int)mem.shards().size();
    const bool split = opt.across_ranks && dist::size() > 1;
    int64_t s0 = 0, s1 = S;
    if (split) dist::share(S, dist::rank(), dist::size(), &s0, &s1);
    std::vector<int> idx;
    std::vector<float> score;
    double t0 = now_s();
    if (split)
        dist::collectively("searching the memory shards", [&] {
            search_shards(mem, (int)s0, (int)s1, search_images, queries, Q, k, exclude, opt, idx, score, st);
        });
    else
        search_shards(mem, 0, S, search_images, queries, Q, k, exclude, opt, idx, score, st);
    st.search_s = now_s() - t0;
    if (!split) {
        std::copy(idx.begin(), idx.end(), out_idx);
        std::copy(score.begin(), score.end(), out_score);
    } else {
        // every rank's [Q, k] list (none from a rank without shards), merged in rank order
        const size_t mine = s1 > s0 ? (size_t)Q * k : 0;
        t0 = now_s();
        std::vector<size_t> counts;
        std::vector<int32_t> all_idx = dist::allgatherv((const int32_t*)idx.data(), mine, &counts);
        std::vector<float> all_score = dist::allgatherv(score.data(), mine);
        st.comm_s = now_s() - t0;
        t0 = now_s();
        std::vector<const int*> il;
        std::vector<const float*> sl;
        size_t off = 0;
        for (size_t c : counts) {
            if (c) {
                il.push_back(all_idx.data() + off);
                sl.push_back(all_score.data() + off);
            }
            off += c;
        }
        merge_topk_lists((int)il.size(), il.data(), sl.data(), Q, k, k, out_idx, out_score);
        st.merge_s = now_s() - t0;
    }
    if (stats) *stats = st;
}

}  // namespace reco
