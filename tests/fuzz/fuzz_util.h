// fuzz_util.h — what every harness shares: the fuzz input as a file (the parsers read paths),
// and "a reco::Error is a correct answer to bad input; anything else is a finding".
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "common.h"

namespace fuzz {

// Writes the input to a per-process file under /dev/shm (or /tmp) and returns its path.
inline std::string as_file(const uint8_t* data, size_t size, const char* suffix = "") {
    static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string path = dir + "/reco-fuzz-" + std::to_string(getpid()) + suffix;
    FILE* f = fopen(path.c_str(), "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

// Runs f(); a reco::Error (bad input, clearly reported) is fine, any other exception is a finding.
template <class F>
void expect_ok_or_error(F f) {
    try {
        f();
    } catch (const reco::Error&) {
    }
}

}  // namespace fuzz
