// image_memory.h — the two bounds on the memory image decoding uses (limits in image.h):
//   - per decode: every allocation stb_image makes goes through stb_malloc/stb_realloc/stb_free, which
//     charge the calling thread's decode and refuse (NULL, which stb reports as "outofmem") anything past the
//     bound that decode was given — the bound its header implies. So a file whose data inflates to more than
//     its header says (a PNG zlib bomb) cannot grow memory, whatever stb_image does with it;
//   - in flight: a DecodeReservation holds a decode's bound in a process-wide budget (kDecodeBytesInFlight)
//     and waits until it fits, so any number of threads decoding at once (reco memory build decodes one
//     image per OpenMP thread) stay within that budget together.
#pragma once
#include <cstddef>
#include <cstdint>

namespace reco::image_memory {

// stb_image's allocator (STBI_MALLOC / STBI_REALLOC / STBI_FREE).
void* stb_malloc(size_t n);
void* stb_realloc(void* p, size_t n);
void stb_free(void* p);

// Starts charging the calling thread's stb allocations against `cap` bytes (live bytes, not cumulative).
void stb_begin(int64_t cap);
// The most stb held at once in the calling thread's current/last decode, and the cap it ran under.
int64_t stb_peak();
int64_t stb_cap();

// `bytes` of the in-flight budget, from construction (which waits until they fit, or until nothing else is
// in flight: a single decode is never refused for the budget alone) to destruction.
class DecodeReservation {
public:
    explicit DecodeReservation(int64_t bytes);
    ~DecodeReservation();
    DecodeReservation(const DecodeReservation&) = delete;
    DecodeReservation& operator=(const DecodeReservation&) = delete;

private:
    int64_t bytes_;
};

// Bytes reserved by all threads right now, and the most ever reserved at once (for tests).
int64_t in_flight_bytes();
int64_t in_flight_peak();

}  // namespace reco::image_memory
