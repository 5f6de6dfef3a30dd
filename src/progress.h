// progress.h — a progress report on stderr for long work: "label 1200/5000  310.2 items/s  ETA 12s".
// On a terminal it rewrites one line (\r) about 4 times a second; when stderr is a file or a pipe it
// prints a plain line every 10 s (and at the end), so logs stay readable.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace reco {

inline bool stderr_is_tty() {
    static const bool tty = isatty(2);
    return tty;
}

// true when a progress line is due now (call with the same `last` each time; updates it).
inline bool progress_due(std::chrono::steady_clock::time_point& last, bool final) {
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last).count();
    if (!final && since < (stderr_is_tty() ? 0.25 : 10.0)) return false;
    last = now;
    return true;
}

class Progress {
public:
    Progress(std::string label, long long total)
        : label_(std::move(label)), total_(total), t0_(clock::now()), last_(t0_) {}
    void update(long long done) {
        if (!progress_due(last_, done >= total_)) return;
        double el = std::chrono::duration<double>(clock::now() - t0_).count();
        double rate = el > 0 ? done / el : 0;
        double eta = rate > 0 ? (total_ - done) / rate : 0;
        const bool tty = stderr_is_tty();
        fprintf(stderr, "%s%s %lld/%lld  %.1f items/s  ETA %.0fs%s", tty ? "\r" : "", label_.c_str(), done, total_, rate,
                eta, tty ? "   " : "\n");
        if (tty && done >= total_) fprintf(stderr, "\n");
        fflush(stderr);
    }

private:
    using clock = std::chrono::steady_clock;
    std::string label_;
    long long total_;
    clock::time_point t0_, last_;
};

}  // namespace reco
