// topk_bf16_filter.cpp — exact top-k (SPEC §5) at bf16 dot-product speed: a bf16 filter with a
// proven error bound, then exact re-scoring of the few items that could reach the top k.
//
// The result is bit-identical to topk_search_reference() (topk.h): every returned score is the
// reference fmaf chain itself, recomputed for each surviving candidate; the filter only decides
// which items need it. (The CUDA path does the same with tensor cores: kernels/topk.cu.)
//
// THE BOUND. For a query q (fp32) and a memory row m (fp16, exact in fp32), let S = Σ_c q_c·m_c
// (real arithmetic), A = Σ_c |q_c·m_c| ≤ ‖q‖₂·‖m‖₂ (Cauchy–Schwarz), u = 2⁻²⁴, γ_n = n·u/(1−n·u).
//  1. The reference R (one fmaf chain, one rounding per step) is recursive summation of exact
//     products:                                |R − S| ≤ γ_d·A            (+ d·2⁻¹⁴⁹ for underflow)
//  2. The filter rounds q and m to bf16 (8 significand bits, round-to-nearest-even: relative error
//     ≤ 2⁻⁸; a query value below 2⁻¹²⁶ may become 0, an absolute error < 2⁻¹²⁶):
//       q' = q(1+α), m' = m(1+β), |α|,|β| ≤ 2⁻⁸  ⇒  |S' − S| ≤ Σ|q m|·|α+β+αβ| ≤ (2⁻⁷ + 2⁻¹⁶)·A
//     where S' = Σ q'_c·m'_c, and A' = Σ|q'_c m'_c| ≤ (1+2⁻⁸)²·A.
//  3. vdpbf16ps forms each bf16·bf16 product exactly in fp32 (8+8 significand bits ≤ 24) and adds
//     them into one fp32 accumulator per (query, row) lane, a rounding per addition, flushing
//     results below 2⁻¹²⁶ to zero (DAZ/FTZ):    |F − S'| ≤ γ_d·A' + 2d·2⁻¹²⁶
//  Together: |F − R| ≤ ε_d·‖q‖·‖m‖ + τ with ε_d = 2⁻⁷ + 2⁻¹⁶ + γ_d·(1 + (1+2⁻⁸)²), τ covering
//  the underflow terms (≤ d·(65504·2⁻¹²⁶ + 2⁻¹²⁴) < 2⁻⁸⁰ for any d < 2²⁰). In code, ε is taken
//  1% larger and 2⁻²⁰ is added to it, which covers the fp32 roundings of computing the norms, E and
//  F ± E themselves; norms are computed rounded up. For unit vectors at d = 512: E ≈ 0.0079.
//
// THE SELECTION. With E = ε·‖q‖·‖m‖ + τ, every item has R ∈ [L, U] = [F − E, F + E]. Let θ be the
// k-th largest L over all items a query may retrieve. At least k items have R ≥ L ≥ θ, so an item
// with U < θ has R < θ and k items rank strictly above it: it is not in the top k. Each thread
// keeps, per query, a min-heap of its k largest L (its θ_t ≤ θ) and a list of the items with
// U ≥ θ_t at the time they were scored (θ_t only grows, so this is a superset); the merge takes the
// global θ, keeps the candidates with U ≥ θ, re-scores them with the reference chain and sorts them
// in the reference order. Near-ties (many items within 2E of the k-th score) only make the list
// longer: past kCandCap entries a query falls back to the exact fp32 kernel, as does a chunk whose
// queries are so large (‖q‖ > 2⁶⁰) that F could overflow.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "topk_blocked.h"

namespace reco {
namespace topk_detail {
namespace {

constexpr int kCandCap = 16384;  // per query per thread before the fallback (kept ≥ 4k below)

uint32_t bf16_rne(float x) {  // finite x → bf16 bits, round to nearest even
    uint32_t b;
    memcpy(&b, &x, 4);
    b += 0x7FFFu + ((b >> 16) & 1u);
    return b >> 16;
}

// Per-thread state for one chunk of queries (see THE SELECTION).
struct FilterState {
    int k = 0;
    std::vector<float> lheap, thr;   // [nq][k] min-heaps of lower bounds; thr = root once full
    std::vector<int> lsize;
    std::vector<std::vector<std::pair<float, int>>> cand;  // per query: (U, item)
    std::vector<char> overflow;
    size_t cap = kCandCap;

    void reset(int nq, int nq_padded, int k_) {
        k = k_;
        cap = std::max<size_t>(kCandCap, (size_t)4 * k);
        lheap.assign((size_t)nq * k, 0.0f);
        lsize.assign(nq, 0);
        thr.assign(nq_padded + 64, std::numeric_limits<float>::infinity());
        std::fill(thr.begin(), thr.begin() + nq, -std::numeric_limits<float>::infinity());
        cand.resize(nq);
        for (auto& c : cand) c.clear();
        overflow.assign(nq, 0);
    }

    void push(int q, float L, float U, int i) {
        float* h = &lheap[(size_t)q * k];
        int n = lsize[q];
        if (n < k) {  // min-heap: sift up
            int j = n;
            while (j > 0 && h[(j - 1) / 2] > L) h[j] = h[(j - 1) / 2], j = (j - 1) / 2;
            h[j] = L;
            lsize[q] = ++n;
            if (n == k) thr[q] = h[0];
        } else if (L > h[0]) {  // replace the root, sift down
            int j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, c = l;
                if (l >= k) break;
                if (r < k && h[r] < h[l]) c = r;
                if (!(h[c] < L)) break;
                h[j] = h[c];
                j = c;
            }
            h[j] = L;
            thr[q] = h[0];
        }
        if (overflow[q]) return;
        auto& c = cand[q];
        c.push_back({U, i});
        if (c.size() >= cap) {  // drop what the grown threshold rules out; give up if still long
            const float t = thr[q];
            c.erase(std::remove_if(c.begin(), c.end(), [t](const std::pair<float, int>& e) { return e.first < t; }),
                    c.end());
            if (c.size() >= cap / 2) overflow[q] = 1, c.clear(), c.shrink_to_fit();
        }
    }
};

}  // namespace

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,avx2")
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized (its `__m512 __Y = __Y;` idiom) when the
// intrinsics are inlined into a target-pragma function: a false positive, silenced for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// fp16 rows → bf16 pairs tile[r][p] (row stride dpp = ⌈d/32⌉·16 pairs, zeros past d) and ‖m_r‖
// rounded up. 64 components a step, the sum of squares in four independent accumulators: with one,
// every step waited on the previous FMA, and converting 1M rows of d = 512 took 25 ms on one core
// instead of 12. Any order of the additions has the same rounding bound, which f_sum covers.
void convert_tile_bf16(const uint16_t* src, int nr, int d, int dpp, uint32_t* tile, float* norm) {
    const float f_sum = 1.0f + (float)(d + 8) * 0x1p-22f;  // covers the fp32 sum of squares' rounding
    for (int r = 0; r < nr; r++) {
        const uint16_t* s = src + (size_t)r * d;
        uint32_t* t = tile + (size_t)r * dpp;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        auto load16 = [&](int c) {  // components c .. c+15 as fp32 (exact), zeros past d
            const int n = std::max(0, std::min(16, d - c));
            return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), s + c));
        };
        int c0 = 0;
        for (; c0 + 64 <= d; c0 += 64) {
            _mm_prefetch((const char*)(s + c0) + 4096, _MM_HINT_T0);  // both lines of the step, a tile ahead
            _mm_prefetch((const char*)(s + c0) + 4096 + 64, _MM_HINT_T0);  // (past the end of the memory: harmless)
            const __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(s + c0)));
            const __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(s + c0 + 16)));
            const __m512 x2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(s + c0 + 32)));
            const __m512 x3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(s + c0 + 48)));
            a0 = _mm512_fmadd_ps(x0, x0, a0);
            a1 = _mm512_fmadd_ps(x1, x1, a1);
            a2 = _mm512_fmadd_ps(x2, x2, a2);
            a3 = _mm512_fmadd_ps(x3, x3, a3);
            _mm512_store_si512(t + c0 / 2, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
            _mm512_store_si512(t + c0 / 2 + 16, (__m512i)_mm512_cvtne2ps_pbh(x3, x2));
        }
        for (; c0 < d; c0 += 32) {  // the last < 64 components, 32 at a time (masked loads)
            const __m512 x0 = load16(c0), x1 = load16(c0 + 16);
            a0 = _mm512_fmadd_ps(x0, x0, a0);
            a1 = _mm512_fmadd_ps(x1, x1, a1);
            _mm512_store_si512(t + c0 / 2, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
        }
        alignas(64) float lanes[16];
        _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        float sum = 0.0f;
        for (int j = 0; j < 16; j++) sum += lanes[j];
        norm[r] = std::sqrt(sum * f_sum) * (1.0f + 0x1p-20f);
    }
}

// The filter kernel for batches: QV vectors of 16 queries × RB rows, fp32 accumulators; per step one pair of
// components (c = 2p, 2p+1) of every lane: acc += q'[2p]·m'[2p] + q'[2p+1]·m'[2p+1] (vdpbf16ps).
template <int QV>
struct FilterKernel {
    static constexpr int G = 16 * QV, RB = 24 / QV;

    // qp[p][l]: the pair p of lane l (queries of one group, zero lanes pad).
    static size_t pack_size(int dpp) { return (size_t)dpp * G; }
    static void pack(const uint32_t* qrows, int lanes, int dpp, uint32_t* qp) {
        for (int l = 0; l < lanes; l++)
            for (int p = 0; p < dpp; p++) qp[(size_t)p * G + l] = qrows[(size_t)l * dpp + p];
    }

    static void run(const uint32_t* rows, const uint32_t* qp, int dp, int dpp, int, float* out) {
        __m512 acc[RB][QV];
#pragma GCC unroll 24
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) acc[r][v] = _mm512_setzero_ps();
        for (int p = 0; p < dp; p++) {
            __m512bh q[QV];
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) q[v] = (__m512bh)_mm512_load_si512(qp + (size_t)p * G + 16 * v);
#pragma GCC unroll 24
            for (int r = 0; r < RB; r++) {
                const __m512bh m = (__m512bh)_mm512_set1_epi32((int)rows[(size_t)r * dpp + p]);
#pragma GCC unroll 4
                for (int v = 0; v < QV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], q[v], m);
            }
        }
#pragma GCC unroll 24
        for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++) _mm512_store_ps(out + r * G + 16 * v, acc[r][v]);
    }
};

    // Offer every (row, lane) whose upper bound reaches the lane's threshold. eq[l] = ε·‖q_l‖.
template <int G>
void select_bounds(const float* out, int rows, int i0, int q0, const float* mn, const float* eq, float tau,
                   FilterState& st, const int* excl) {
    for (int r = 0; r < rows; r++) {
        const float* sr = out + r * G;
        const int i = i0 + r;
        const __m512 mr = _mm512_set1_ps(mn[r]), vt = _mm512_set1_ps(tau);
        for (int v = 0; v < G / 16; v++) {
            const __m512 e = _mm512_fmadd_ps(_mm512_loadu_ps(eq + q0 + 16 * v), mr, vt);
            const __m512 u = _mm512_add_ps(_mm512_load_ps(sr + 16 * v), e);
            __mmask16 m = _mm512_cmp_ps_mask(u, _mm512_loadu_ps(&st.thr[q0 + 16 * v]), _CMP_GE_OQ);
            while (m) {
                const int l = __builtin_ctz(m) + 16 * v;
                m &= m - 1;
                if (excl && excl[q0 + l] == i) continue;
                const float el = std::fma(eq[q0 + l], mn[r], tau);
                st.push(q0 + l, sr[l] - el, sr[l] + el, i);
            }
        }
    }
}

// The filter kernel for interactive batches (≤ 16 queries): dot products along the pairs, so no
// vector lane idles when there is one query. Blocks of 4 rows × 4 queries, 16 accumulators of 16
// pairs each, summed across lanes at the end (reduce16); the memory tile is read straight from L2.
struct RowDotKernel {
    static constexpr int G = 16, RB = 4;

    // qp[l][p]: the queries of the group as rows (stride dpp), as converted.
    static size_t pack_size(int dpp) { return (size_t)dpp * G; }
    static void run_one(const uint32_t* rows, const uint32_t* q, int dpp, float* out);  // lanes == 1, below
    static void pack(const uint32_t* qrows, int lanes, int dpp, uint32_t* qp) {
        memcpy(qp, qrows, (size_t)lanes * dpp * sizeof(uint32_t));
    }

    // z[j] = Σ lanes of v[(j % 4)·4 + j / 4]: a transposing tree of 45 instructions for 16 sums.
    static __m512 reduce16(const __m512* v) {
        __m512 t[8], u[4], w[2];
        for (int i = 0; i < 8; i++)
            t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                                 _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
        for (int i = 0; i < 4; i++)
            u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x88),
                                 _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xDD));
        for (int i = 0; i < 2; i++)
            w[i] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * i], u[2 * i + 1], 0x44),
                                 _mm512_shuffle_ps(u[2 * i], u[2 * i + 1], 0xEE));
        return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
    }

    static void run(const uint32_t* rows, const uint32_t* qp, int, int dpp, int lanes, float* out) {
        if (lanes == 1) return run_one(rows, qp, dpp, out);
        for (int qb = 0; qb < lanes; qb += 4) {
            __m512 acc[16];  // acc[q·4 + r]
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
            for (int p = 0; p < dpp; p += 16) {
                __m512bh m[4];
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) m[r] = (__m512bh)_mm512_load_si512(rows + (size_t)r * dpp + p);
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    const __m512bh x = (__m512bh)_mm512_load_si512(qp + (size_t)(qb + q) * dpp + p);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++) acc[q * 4 + r] = _mm512_dpbf16_ps(acc[q * 4 + r], m[r], x);
                }
            }
            // lane j of z = (query j % 4, row j / 4): row r's four queries are lanes 4r..4r+3
            const __m512 z = reduce16(acc);
            _mm_store_ps(out + 0 * G + qb, _mm512_extractf32x4_ps(z, 0));
            _mm_store_ps(out + 1 * G + qb, _mm512_extractf32x4_ps(z, 1));
            _mm_store_ps(out + 2 * G + qb, _mm512_extractf32x4_ps(z, 2));
            _mm_store_ps(out + 3 * G + qb, _mm512_extractf32x4_ps(z, 3));
        }
    }
};

// One query (q = 1, the interactive case): 4 rows × 1 query instead of 4 × 4 with three idle query
// slots (a quarter of the vdpbf16ps); two accumulators per row so consecutive steps do not wait on
// each other.
void RowDotKernel::run_one(const uint32_t* rows, const uint32_t* q, int dpp, float* out) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) acc[j] = _mm512_setzero_ps();
    int p = 0;
    for (; p + 32 <= dpp; p += 32) {
        const __m512bh x0 = (__m512bh)_mm512_load_si512(q + p), x1 = (__m512bh)_mm512_load_si512(q + p + 16);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_load_si512(rows + (size_t)r * dpp + p), x0);
            acc[4 + r] = _mm512_dpbf16_ps(acc[4 + r], (__m512bh)_mm512_load_si512(rows + (size_t)r * dpp + p + 16), x1);
        }
    }
    if (p < dpp) {  // dpp is a multiple of 16
        const __m512bh x0 = (__m512bh)_mm512_load_si512(q + p);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_load_si512(rows + (size_t)r * dpp + p), x0);
    }
    for (int r = 0; r < 4; r++) out[r * G] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc[4 + r]));
}

// The reference chain for one (query, row): fmaf over c in order, fp16 converted exactly.
float exact_score(const float* q, const uint16_t* m, int d) {
    float acc = 0.0f;
    int c = 0;
    alignas(64) float mf[16];
    for (; c + 16 <= d; c += 16) {
        _mm512_store_ps(mf, _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256((const __m256i*)(m + c))));
        for (int j = 0; j < 16; j++) acc = std::fma(q[c + j], mf[j], acc);
    }
    for (; c < d; c++) acc = std::fma(q[c], _cvtsh_ss(m[c]), acc);
    return acc;
}

template <class K>
void search_filtered(const float* queries, const uint16_t* mem, int Q, int N, int d, int k, int* out_idx,
                     float* out_score, const int* exclude) {
    constexpr int G = K::G, RB = K::RB;
    static_assert(kTileRows % RB == 0, "tile rows must be a multiple of the kernel's row block");
    const int T = omp_get_max_threads();
    const int ntiles = (N + kTileRows - 1) / kTileRows, dp = (d + 1) / 2, dpp = (d + 31) / 32 * 16;
    long long chunk = std::min<long long>(kChunkQueries, std::max<long long>(G, (1LL << 24) / ((long long)T * k)));
    chunk = std::max<long long>(G, chunk / G * G);
    const double gamma = d * 0x1p-24 / (1.0 - d * 0x1p-24);
    const float eps = (float)(1.01 * (0x1p-7 + 0x1p-16 + gamma * (1.0 + (1.0 + 0x1p-8) * (1.0 + 0x1p-8))) + 0x1p-20);
    const float tau = 0x1p-80f;

    std::vector<FilterState> states(T);
    std::vector<int> fallback;  // queries (global index) the exact kernel answers
    for (int q0 = 0; q0 < Q; q0 += (int)chunk) {
        const int nq = (int)std::min<long long>(chunk, Q - q0);
        const int ngroups = (nq + G - 1) / G;
        // ε·‖q‖ per query, rounded up; a query too large for the bound's no-overflow premise → exact path.
        std::vector<float> eq((size_t)ngroups * G + 64, 0.0f);
        bool too_large = false;
        for (int l = 0; l < nq; l++) {
            const float* x = queries + (size_t)(q0 + l) * d;
            double s = 0;
            for (int c = 0; c < d; c++) s += (double)x[c] * x[c];
            const double n = std::sqrt(s) * (1.0 + 1e-12);
            if (n > 0x1p60) too_large = true;
            eq[l] = (float)(eps * n * (1.0 + 1e-6));
        }
        if (too_large) {
            for (int l = 0; l < nq; l++) fallback.push_back(q0 + l);
            continue;
        }
        // The chunk's queries as bf16 pairs (rows of dpp pairs, zero padded), then per group in the
        // kernel's layout.
        std::vector<uint32_t> qrows((size_t)ngroups * G * dpp, 0);
        for (int l = 0; l < nq; l++) {
            const float* x = queries + (size_t)(q0 + l) * d;
            for (int p = 0; p < dp; p++) {
                const uint32_t lo = bf16_rne(x[2 * p]), hi = 2 * p + 1 < d ? bf16_rne(x[2 * p + 1]) : 0;
                qrows[(size_t)l * dpp + p] = lo | hi << 16;
            }
        }
        Aligned<uint32_t> qp((size_t)ngroups * K::pack_size(dpp));
        for (int g = 0; g < ngroups; g++)
            K::pack(&qrows[(size_t)g * G * dpp], std::min(G, nq - g * G), dpp, qp.p + (size_t)g * K::pack_size(dpp));
        const int* excl = exclude ? exclude + q0 : nullptr;
        const int nslices = ntiles >= 2 * T ? 1 : std::min(ngroups, T);
        const int nitems = ntiles * nslices;
        for (FilterState& s : states) s.reset(nq, ngroups * G, k);
        #pragma omp parallel num_threads(T)
        {
            FilterState& st = states[omp_get_thread_num()];
            Aligned<uint32_t> tile((size_t)kTileRows * dpp);
            Aligned<float> out((size_t)RB * G), norm(kTileRows);
            #pragma omp for schedule(dynamic, 1)
            for (int item = 0; item < nitems; item++) {
                const int t = item / nslices, slice = item % nslices;
                const int g_begin = (int)((long long)slice * ngroups / nslices);
                const int g_end = (int)((long long)(slice + 1) * ngroups / nslices);
                const int r0 = t * kTileRows, nr = std::min(kTileRows, N - r0);
                const int nr_padded = (nr + RB - 1) / RB * RB;
                if (g_end - g_begin == 1) {
                    // One query group in this work item (interactive batches; or a small memory whose
                    // tiles are split by group): convert each block of RB rows just before the
                    // kernel runs on it, so the reads from RAM are spread over the whole computation
                    // instead of bunched into one convert phase per tile (the memory bus idled while
                    // the kernel ran).
                    const int g = g_begin;
                    const uint32_t* qg = qp.p + (size_t)g * K::pack_size(dpp);
                    const int real = std::min(G, nq - g * G), lanes = real == 1 ? 1 : (real + 3) / 4 * 4;
                    for (int rb = 0; rb < nr_padded; rb += RB) {
                        const int rows = std::min(RB, nr - rb);
                        convert_tile_bf16(mem + (size_t)(r0 + rb) * d, rows, d, dpp, tile.p, norm.p);
                        if (rows < RB) memset(tile.p + (size_t)rows * dpp, 0, (size_t)(RB - rows) * dpp * sizeof(uint32_t));
                        K::run(tile.p, qg, dp, dpp, lanes, out.p);
                        select_bounds<G>(out.p, rows, r0 + rb, g * G, norm.p, eq.data(), tau, st, excl);
                    }
                    continue;
                }
                convert_tile_bf16(mem + (size_t)r0 * d, nr, d, dpp, tile.p, norm.p);
                memset(tile.p + (size_t)nr * dpp, 0, (size_t)(nr_padded - nr) * dpp * sizeof(uint32_t));
                for (int g = g_begin; g < g_end; g++) {
                    const uint32_t* qg = qp.p + (size_t)g * K::pack_size(dpp);
                    const int lanes = (std::min(G, nq - g * G) + 3) / 4 * 4;
                    for (int rb = 0; rb < nr_padded; rb += RB) {
                        K::run(tile.p + (size_t)rb * dpp, qg, dp, dpp, lanes, out.p);
                        select_bounds<G>(out.p, std::min(RB, nr - rb), r0 + rb, g * G, norm.p + rb, eq.data(), tau, st,
                                  excl);
                    }
                }
            }
        }

        // Merge: global θ per query, surviving candidates re-scored with the reference chain.
        std::vector<char> fell(nq, 0);
        #pragma omp parallel for schedule(dynamic, 16)
        for (int q = 0; q < nq; q++) {
            std::vector<float> lows;
            bool over = false;
            for (int t = 0; t < T; t++) {
                over = over || states[t].overflow[q];
                lows.insert(lows.end(), states[t].lheap.begin() + (size_t)q * k,
                            states[t].lheap.begin() + (size_t)q * k + states[t].lsize[q]);
            }
            if (over || (int)lows.size() < k) { fell[q] = 1; continue; }
            std::nth_element(lows.begin(), lows.begin() + (k - 1), lows.end(), std::greater<float>());
            const float theta = lows[k - 1];
            std::vector<std::pair<float, int>> sc;
            const float* x = queries + (size_t)(q0 + q) * d;
            for (int t = 0; t < T; t++)
                for (const auto& c : states[t].cand[q])
                    if (c.first >= theta) sc.push_back({exact_score(x, mem + (size_t)c.second * d, d), c.second});
            if ((int)sc.size() < k) { fell[q] = 1; continue; }  // cannot happen (see THE SELECTION); be safe
            std::partial_sort(sc.begin(), sc.begin() + k, sc.end(),
                              [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
                                  return better(a.first, a.second, b.first, b.second);
                              });
            for (int j = 0; j < k; j++) {
                out_idx[(size_t)(q0 + q) * k + j] = sc[j].second;
                out_score[(size_t)(q0 + q) * k + j] = sc[j].first;
            }
        }
        for (int q = 0; q < nq; q++)
            if (fell[q]) fallback.push_back(q0 + q);
    }
    states.clear();

    // Queries the filter could not settle: the exact fp32 kernel, on a gathered sub-problem.
    if (!fallback.empty()) {
        const int nf = (int)fallback.size();
        std::vector<float> fq((size_t)nf * d);
        std::vector<int> fx(exclude ? nf : 0), fi((size_t)nf * k);
        std::vector<float> fs((size_t)nf * k);
        for (int j = 0; j < nf; j++) {
            memcpy(&fq[(size_t)j * d], queries + (size_t)fallback[j] * d, (size_t)d * sizeof(float));
            if (exclude) fx[j] = exclude[fallback[j]];
        }
        search_exact_avx512(fq.data(), mem, nf, N, d, k, fi.data(), fs.data(), exclude ? fx.data() : nullptr);
        for (int j = 0; j < nf; j++) {
            memcpy(out_idx + (size_t)fallback[j] * k, &fi[(size_t)j * k], (size_t)k * sizeof(int));
            memcpy(out_score + (size_t)fallback[j] * k, &fs[(size_t)j * k], (size_t)k * sizeof(float));
        }
    }
}

}  // namespace

void search_filtered_bf16(const float* queries, const uint16_t* mem, int Q, int N, int d, int k, int* out_idx,
                          float* out_score, const int* exclude) {
    if (Q <= 16) search_filtered<RowDotKernel>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
    else search_filtered<FilterKernel<4>>(queries, mem, Q, N, d, k, out_idx, out_score, exclude);
}

}  // namespace topk_detail
}  // namespace reco

#pragma GCC pop_options
