// image_memory.cpp — stb_image's accounted allocator and the process-wide budget of decode memory in
// flight (see image_memory.h).
#include "image_memory.h"

#include "image.h"

#include <condition_variable>
#include <cstdlib>
#include <mutex>

namespace reco::image_memory {

// ---------------------------------------------------------------------------------------------
// Per-thread accounting of stb's allocations. Each block carries its size in a 16-byte header (stb frees
// without a size; 16 keeps malloc's alignment).

namespace {
constexpr size_t kHeader = 16;
thread_local int64_t t_live = 0, t_peak = 0, t_cap = INT64_MAX;
}  // namespace

void stb_begin(int64_t cap) {
    t_live = t_peak = 0;  // a decode that threw (stb assert) leaks its blocks; do not charge them again
    t_cap = cap;
}
int64_t stb_peak() { return t_peak; }
int64_t stb_cap() { return t_cap; }

static void charge(int64_t delta) {
    t_live += delta;
    if (t_live > t_peak) t_peak = t_live;
}

void* stb_malloc(size_t n) {
    if ((int64_t)n > t_cap - t_live) return nullptr;
    void* b = malloc(n + kHeader);
    if (!b) return nullptr;
    *(size_t*)b = n;
    charge((int64_t)n);
    return (char*)b + kHeader;
}

void* stb_realloc(void* p, size_t n) {
    if (!p) return stb_malloc(n);
    char* b = (char*)p - kHeader;
    const size_t old = *(size_t*)b;
    // Charged as the growth only: glibc moves large blocks with mremap, without a second copy.
    if (n > old && (int64_t)(n - old) > t_cap - t_live) return nullptr;
    char* nb = (char*)realloc(b, n + kHeader);
    if (!nb) return nullptr;
    *(size_t*)nb = n;
    charge((int64_t)n - (int64_t)old);
    return nb + kHeader;
}

void stb_free(void* p) {
    if (!p) return;
    char* b = (char*)p - kHeader;
    charge(-(int64_t)*(size_t*)b);
    free(b);
}

// ---------------------------------------------------------------------------------------------
// The process-wide budget.

namespace {
std::mutex g_mu;
std::condition_variable g_cv;
int64_t g_used = 0, g_peak = 0;
}  // namespace

DecodeReservation::DecodeReservation(int64_t bytes) : bytes_(bytes) {
    std::unique_lock<std::mutex> lk(g_mu);
    g_cv.wait(lk, [&] { return g_used == 0 || g_used + bytes_ <= kDecodeBytesInFlight; });
    g_used += bytes_;
    if (g_used > g_peak) g_peak = g_used;
}

DecodeReservation::~DecodeReservation() {
    {
        std::lock_guard<std::mutex> lk(g_mu);
        g_used -= bytes_;
    }
    g_cv.notify_all();
}

int64_t in_flight_bytes() {
    std::lock_guard<std::mutex> lk(g_mu);
    return g_used;
}
int64_t in_flight_peak() {
    std::lock_guard<std::mutex> lk(g_mu);
    return g_peak;
}

}  // namespace reco::image_memory
