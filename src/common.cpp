#include "common.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <dirent.h>
#include <csignal>
#include <cstdlib>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace reco {

static std::string vformat(const char* fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(nullptr, 0, fmt, ap2);
    va_end(ap2);
    std::string s(n > 0 ? n : 0, '\0');
    if (n > 0) vsnprintf(&s[0], n + 1, fmt, ap);
    return s;
}

std::string strformat(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    throw Error(s);
}

const char* file_type_name(unsigned mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symbolic link";
    return S_ISREG(mode) ? "a regular file" : "not a regular file";
}

[[noreturn]] static void fail_not_regular(const char* p, unsigned mode) {
    if (S_ISDIR(mode)) fail("%s: is a directory, not a file", p);
    fail("%s: is %s, not a regular file", p, file_type_name(mode));
}

int open_regular_file(const std::string& path, size_t* size) {
    const char* p = path.c_str();
    struct stat st;
    if (stat(p, &st) != 0) fail("%s: cannot open: %s", p, strerror(errno));
    if (!S_ISREG(st.st_mode)) fail_not_regular(p, st.st_mode);
    // O_NONBLOCK: should the path have become a FIFO since the stat, open() does not wait for a writer.
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fail("%s: cannot open: %s", p, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const unsigned mode = st.st_mode;
        close(fd);
        fail_not_regular(p, mode);
    }
    *size = (size_t)st.st_size;
    return fd;
}

std::string read_file(const std::string& path) {
    size_t size = 0;
    int fd = open_regular_file(path, &size);
    std::string out;
    out.reserve(size);
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            close(fd);
            fail("%s: read error: %s", path.c_str(), strerror(e));
        }
        out.append(buf, (size_t)n);
    }
    close(fd);
    return out;
}

void strip_utf8_bom(std::string& text) {
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t p = 0;
    while (p < text.size()) {
        size_t e = text.find('\n', p);
        if (e == std::string::npos) e = text.size();
        lines.push_back(text.substr(p, e - p));
        if (!lines.back().empty() && lines.back().back() == '\r') lines.back().pop_back();
        p = e + 1;
    }
    return lines;
}

std::vector<std::string> read_text_lines(const std::string& path) {
    std::string text = read_file(path);
    strip_utf8_bom(text);
    return split_lines(text);
}

std::string trim_blanks(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string parent_dir(const std::string& path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string absolute_path(const std::string& path) {
    char* r = realpath(path.c_str(), nullptr);
    if (!r) return path;
    std::string out = r;
    free(r);
    return out;
}

static std::string temp_path_for(const std::string& path) { return path + ".tmp." + std::to_string(getpid()); }

// True when `pid` may be a live process (kill(pid, 0) succeeds or is refused for permission).
static bool pid_alive(long pid) { return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

void remove_stale_temp_files(const std::string& path) {
    const std::string dir = parent_dir(path);
    const size_t slash = path.rfind('/');
    const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    std::vector<std::string> stale;
    while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const long pid = strtol(digits.c_str(), nullptr, 10);
        if (pid == (long)getpid() || pid_alive(pid)) continue;
        stale.push_back(dir + "/" + name);
    }
    closedir(d);
    for (const std::string& f : stale) {
        // Only regular files we can lock: a writer holds LOCK_EX on its temporary file until it is
        // renamed, so getting the lock means no process (in any pid namespace) is writing it.
        int fd = open(f.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0) unlink(f.c_str());
        close(fd);
    }
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    remove_stale_temp_files(path);
    const std::string tmp = temp_path_for(path);
    const char* p = path.c_str();
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("%s: cannot write (creating the temporary file %s: %s)", p, tmp.c_str(), strerror(errno));
    flock(fd, LOCK_EX | LOCK_NB);  // marks the temporary file as being written (remove_stale_temp_files)
    const char* q = static_cast<const char*>(data);
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, q, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp.c_str());
            fail("%s: write failed: %s", p, strerror(e));
        }
        q += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp.c_str());
        fail("%s: write failed: %s", p, strerror(e));
    }
    if (rename(tmp.c_str(), p) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp.c_str());
        fail("%s: cannot rename the temporary file %s into place: %s", p, tmp.c_str(), strerror(e));
    }
    close(fd);  // after the rename: the lock covers the whole life of the temporary name
}

void check_output_path(const std::string& path, const char* what) {
    const char* p = path.c_str();
    if (path.empty()) fail("%s: the output file name is empty", what);
    if (path.back() == '/') fail("%s %s: names a directory; give the file to write", what, p);
    struct stat st;
    if (stat(p, &st) == 0) {
        if (S_ISDIR(st.st_mode)) fail("%s %s: is a directory; give the file to write", what, p);
        if (!S_ISREG(st.st_mode))
            fail("%s %s: is %s, not a regular file; reco writes its outputs as regular files", what, p,
                 file_type_name(st.st_mode));
    }
    const std::string dir = parent_dir(path);
    if (stat(dir.c_str(), &st) != 0)
        fail("%s %s: cannot write it: the directory '%s' does not exist", what, p, dir.c_str());
    if (!S_ISDIR(st.st_mode)) fail("%s %s: cannot write it: '%s' is not a directory", what, p, dir.c_str());
    // Try it: permissions (root ignores them) and read-only mounts are only known by doing.
    const std::string tmp = temp_path_for(path);
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        const int e = errno;
        if (e != EEXIST)
            fail("%s %s: cannot write into the directory '%s': %s", what, p, dir.c_str(), strerror(e));
        return;  // our own temporary name is taken (an earlier write of this process failed to clean up)
    }
    close(fd);
    unlink(tmp.c_str());
}

bool file_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

MappedFile::MappedFile(const std::string& path) {
    const char* p = path.c_str();
    int fd = open_regular_file(path, &size_);
    if (size_ > 0) {
        map_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map_ == MAP_FAILED) {
            int e = errno;
            close(fd);
            map_ = nullptr;
            fail("%s: mmap failed: %s", p, strerror(e));
        }
    }
    close(fd);
}

MappedFile::~MappedFile() {
    if (map_) munmap(map_, size_);
}

}  // namespace reco
