// thread_collectives.h — R simulated ranks in one process, one std::thread each, for testing the
// data-parallel step (src/dist/data_parallel.h) without MPI. The collectives exchange pointers
// through a shared board between two barriers; the ordered sum reads the ranks' buffers in rank
// order 0..R−1, as the MPI implementation does.
#pragma once
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "dist/data_parallel.h"

namespace testutil {

class ThreadBoard {
public:
    explicit ThreadBoard(int R) : ptrs_(R, nullptr), out_(R, nullptr), R_(R) {}
    int size() const { return R_; }
    // A reusable barrier (generation counter).
    void barrier() {
        std::unique_lock<std::mutex> l(m_);
        const long gen = gen_;
        if (++waiting_ == R_) {
            waiting_ = 0;
            gen_++;
            cv_.notify_all();
        } else {
            cv_.wait(l, [&] { return gen_ != gen; });
        }
    }
    std::vector<const float*> ptrs_;
    std::vector<float*> out_;

private:
    int R_;
    std::mutex m_;
    std::condition_variable cv_;
    int waiting_ = 0;
    long gen_ = 0;
};

class ThreadCollectives : public reco::Collectives {
public:
    ThreadCollectives(ThreadBoard& b, int rank) : b_(b), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return b_.size(); }
    void allgather_rows(const float* mine, float* all, const std::vector<int>& rows, int width) override {
        b_.ptrs_[rank_] = mine;
        b_.barrier();
        size_t off = 0;
        for (int r = 0; r < size(); r++) {
            std::copy(b_.ptrs_[r], b_.ptrs_[r] + (size_t)rows[r] * width, all + off);
            off += (size_t)rows[r] * width;
        }
        b_.barrier();  // nobody reuses its buffer before every rank has copied it
    }
    void allreduce_sum_ordered(float* buf, size_t n) override {
        tmp_.assign(buf, buf + n);
        b_.ptrs_[rank_] = tmp_.data();
        b_.barrier();
        for (size_t i = 0; i < n; i++) {
            float s = b_.ptrs_[0][i];
            for (int r = 1; r < size(); r++) s += b_.ptrs_[r][i];
            buf[i] = s;
        }
        b_.barrier();
    }

private:
    ThreadBoard& b_;
    int rank_;
    std::vector<float> tmp_;
};

// Run fn(collectives) on R threads, one per simulated rank; rethrows the first exception.
inline void run_ranks(int R, const std::function<void(reco::Collectives&)>& fn) {
    ThreadBoard board(R);
    std::vector<std::thread> th;
    std::vector<std::exception_ptr> err(R);
    for (int r = 0; r < R; r++)
        th.emplace_back([&, r] {
            ThreadCollectives c(board, r);
            try {
                fn(c);
            } catch (...) {
                err[r] = std::current_exception();
            }
        });
    for (auto& t : th) t.join();
    for (auto& e : err)
        if (e) std::rethrow_exception(e);
}

}  // namespace testutil
