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
#include <vector>

namespace reco {

struct Error : std::runtime_error {
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// printf-style formatting into a std::string.
std::string strformat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Throw reco::Error with a printf-style message.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Read a whole regular file into a string (throws Error naming the path on failure). A directory,
// FIFO, socket or device is refused before it is opened for reading (a FIFO would block forever).
std::string read_file(const std::string& path);

// Open `path` read-only for reading it whole: refuses anything but a regular file, naming the path
// and what it is ("is a directory", "is a FIFO, not a regular file"). The type is checked with
// stat() before opening (a device is never opened) and with fstat() after an O_NONBLOCK open (so a
// file swapped for a FIFO in between cannot block). Returns the descriptor; *size = its size.
int open_regular_file(const std::string& path, size_t* size);

// "a directory", "a FIFO", ... for a stat() mode that is not a regular file.
const char* file_type_name(unsigned mode);

// Text files saved by some editors start with a UTF-8 byte order mark (EF BB BF). It is not part
// of the first field: every reader of user text files (pairs TSV, captions, labels) strips it.
void strip_utf8_bom(std::string& text);

// The lines of a text: split at '\n', a trailing '\r' removed from each ("\r\n" files), no extra
// empty line after a final newline (line i is line number i + 1).
std::vector<std::string> split_lines(const std::string& text);
// A user text file's lines: read_file, strip_utf8_bom, split_lines (errors name the path).
std::vector<std::string> read_text_lines(const std::string& path);
// s without leading and trailing spaces, tabs and '\r'.
std::string trim_blanks(const std::string& s);

// Write a file atomically: write to PATH.tmp.<pid>, fsync, rename over PATH.
// A crash or error never leaves a half-written PATH behind. Errors name PATH (the temporary file
// only as detail). Temporary files of PATH left by processes that died mid-write (SIGKILL) are
// removed first (remove_stale_temp_files), so they do not accumulate.
void write_file_atomic(const std::string& path, const void* data, size_t n);

// Remove PATH.tmp.<pid> files whose writer is gone: the pid is not a live process AND nobody holds
// the flock that write_file_atomic keeps on its temporary file while writing (this second test also
// covers a writer in another pid namespace). A live writer's temporary file is never touched.
void remove_stale_temp_files(const std::string& path);

// Check, before any work, that an output file can be written where `what` (e.g. "--out") says:
// its folder exists, is a folder and accepts new files (tried for real: create and remove the
// temporary file write_file_atomic will use, so a read-only mount is caught even for root), and
// PATH itself is not a folder or another non-regular file. Errors name PATH and the option.
void check_output_path(const std::string& path, const char* what);

// splitmix64 (Steele, Lea, Flood 2014): decorrelates a seed before it seeds a generator.
inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// The folder part of a path ("." for a bare file name, "/" for "/x").
std::string parent_dir(const std::string& path);

// The absolute, canonical form of an existing path (realpath); `path` unchanged if that fails.
std::string absolute_path(const std::string& path);

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
