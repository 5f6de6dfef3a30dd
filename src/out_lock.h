// out_lock.h — one writer per output: an exclusive lock on PATH while a long job writes PATH.
//
// `reco train` saves its checkpoint many times over a run. Two runs with the same --out would
// interleave their saves, and a --resume between them would silently continue the other run; so
// a run holds flock(LOCK_EX) on PATH.lock (the file holds the owner's pid, for the message) from
// before it reads anything until it exits. The kernel drops a flock when its process dies, so a
// SIGKILL never leaves a stale lock; the lock file itself is removed on a normal exit.
#pragma once
#include <string>

namespace reco {

class OutputLock {
public:
    // Takes the lock or fails at once: "PATH: is being written by another <who> (pid N)".
    OutputLock(const std::string& path, const char* who);
    ~OutputLock();
    OutputLock(const OutputLock&) = delete;
    OutputLock& operator=(const OutputLock&) = delete;
    const std::string& lock_path() const { return lock_path_; }

private:
    std::string lock_path_;
    int fd_ = -1;
};

}  // namespace reco
