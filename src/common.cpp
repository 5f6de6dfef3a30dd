#include "common.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
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

std::string read_file(const std::string& path) {
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) fail("%s: cannot open: %s", path.c_str(), strerror(errno));
    std::string out;
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    bool err = ferror(f);
    fclose(f);
    if (err) fail("%s: read error", path.c_str());
    return out;
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("%s: cannot create: %s", tmp.c_str(), strerror(errno));
    const char* p = static_cast<const char*>(data);
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp.c_str());
            fail("%s: write failed: %s", path.c_str(), strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        fail("%s: write failed: %s", path.c_str(), strerror(e));
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        fail("%s: cannot rename temporary file into place: %s", path.c_str(), strerror(e));
    }
}

bool file_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

MappedFile::MappedFile(const std::string& path) {
    const char* p = path.c_str();
    int fd = open(p, O_RDONLY);
    if (fd < 0) fail("%s: cannot open: %s", p, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        fail("%s: not a regular file", p);
    }
    size_ = (size_t)st.st_size;
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
