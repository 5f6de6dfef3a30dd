// progress.h — a one-line progress report on stderr for long work: "label 1200/5000  310.2 items/s  ETA 12s".
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace reco {

class Progress {
public:
    Progress(std::string label, long long total) : label_(std::move(label)), total_(total), t0_(clock::now()) {}
    // Update at most ~4 times a second (and always at the end).
    void update(long long done) {
        auto now = clock::now();
        double el = std::chrono::duration<double>(now - t0_).count();
        if (done < total_ && std::chrono::duration<double>(now - last_).count() < 0.25) return;
        last_ = now;
        double rate = el > 0 ? done / el : 0;
        double eta = rate > 0 ? (total_ - done) / rate : 0;
        fprintf(stderr, "\r%s %lld/%lld  %.1f items/s  ETA %.0fs   ", label_.c_str(), done, total_, rate, eta);
        if (done >= total_) fprintf(stderr, "\n");
        fflush(stderr);
    }

private:
    using clock = std::chrono::steady_clock;
    std::string label_;
    long long total_;
    clock::time_point t0_, last_{};
};

}  // namespace reco
