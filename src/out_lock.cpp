// out_lock.cpp — the exclusive output lock (see out_lock.h).
#include "out_lock.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

namespace reco {

OutputLock::OutputLock(const std::string& path, const char* who) : lock_path_(path + ".lock") {
    const char* lp = lock_path_.c_str();
    // The owner unlinks the lock file when it is done; a process that opened the old file just
    // before that would lock an unlinked inode. So after locking, the path must still name the
    // inode we hold, else we try again with the new file.
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) fail("%s: cannot create the lock file %s: %s", path.c_str(), lp, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int e = errno;
            char buf[32] = {0};
            const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            close(fd);
            if (e != EWOULDBLOCK) fail("%s: cannot lock %s: %s", path.c_str(), lp, strerror(e));
            const long pid = n > 0 ? strtol(buf, nullptr, 10) : 0;
            if (pid > 0)
                fail("%s: is being written by another %s (pid %ld); wait for it to finish or give another --out",
                     path.c_str(), who, pid);
            fail("%s: is being written by another %s (lock %s); wait for it to finish or give another --out",
                 path.c_str(), who, lp);
        }
        struct stat held, named;
        if (fstat(fd, &held) == 0 && stat(lp, &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev) {
            const std::string pid = std::to_string(getpid()) + "\n";
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != (ssize_t)pid.size()) {
                // the pid is only for the other process's message; the lock holds without it
            }
            fd_ = fd;
            return;
        }
        close(fd);  // we locked a lock file its owner has just removed: take the new one
    }
    fail("%s: cannot lock %s (it keeps being replaced)", path.c_str(), lp);
}

OutputLock::~OutputLock() {
    if (fd_ < 0) return;
    unlink(lock_path_.c_str());  // while still holding the lock (see the constructor)
    close(fd_);
}

}  // namespace reco
