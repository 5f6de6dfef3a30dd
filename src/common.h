// common.h — error handling and small helpers shared by every file.
//
// reco never aborts on bad input: every problem becomes a reco::Error whose
// message names the file and what is wrong; main() prints it and exits 1.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace reco {

struct Error : std::runtime_error {
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// printf-style formatting into a std::string.
std::string strformat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Throw reco::Error with a printf-style message.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Read a whole file into a string (throws Error naming the path on failure).
std::string read_file(const std::string& path);

// Write a file atomically: write to PATH.tmp.<pid>, fsync, rename over PATH.
// A crash or error never leaves a half-written PATH behind.
void write_file_atomic(const std::string& path, const void* data, size_t n);

bool file_exists(const std::string& path);

// A whole regular file mapped read-only (mmap); unmapped when destroyed. Errors name the file
// (cannot open, not a regular file, mmap failure). An empty file maps to size() == 0.
class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const uint8_t* data() const { return (const uint8_t*)map_; }
    size_t size() const { return size_; }

private:
    void* map_ = nullptr;
    size_t size_ = 0;
};

}  // namespace reco
