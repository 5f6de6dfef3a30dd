// decode_pipeline.cpp — see decode_pipeline.h.
#include "decode_pipeline.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace reco {

static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

PipelineStats run_decode_pipeline(size_t n, const std::function<void(size_t)>& produce,
                                  const std::function<void(size_t)>& consume, bool overlap, int depth) {
    PipelineStats st;
    const auto t0 = std::chrono::steady_clock::now();
    if (!overlap || n <= 1) {
        for (size_t i = 0; i < n; i++) {
            const auto t = std::chrono::steady_clock::now();
            produce(i);
            st.produce += seconds_since(t);
            consume(i);
        }
        st.wall = seconds_since(t0);
        return st;
    }
    if (depth < 1) depth = 1;

    std::mutex mu;
    std::condition_variable cv;
    size_t produced = 0, consumed = 0;  // batches finished by each side
    bool stop = false;                  // set by whichever side fails
    std::exception_ptr producer_error;
    double produce_seconds = 0;

    std::thread producer([&] {
        for (size_t i = 0; i < n; i++) {
            {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [&] { return stop || i < consumed + (size_t)depth; });  // slot i % depth is free
                if (stop) return;
            }
            const auto t = std::chrono::steady_clock::now();
            try {
                produce(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                producer_error = std::current_exception();
                stop = true;
                cv.notify_all();
                return;
            }
            std::lock_guard<std::mutex> lock(mu);
            produce_seconds += seconds_since(t);
            produced = i + 1;
            cv.notify_all();
        }
    });

    std::exception_ptr consumer_error;
    for (size_t i = 0; i < n; i++) {
        {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [&] { return stop || produced > i; });
            if (produced <= i) break;  // the producer failed before batch i
        }
        try {
            consume(i);
        } catch (...) {
            consumer_error = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(mu);
        if (consumer_error) {
            stop = true;
            cv.notify_all();
            break;
        }
        consumed = i + 1;
        cv.notify_all();
    }
    producer.join();
    st.produce = produce_seconds;
    st.wall = seconds_since(t0);
    if (consumer_error) std::rethrow_exception(consumer_error);
    if (producer_error) std::rethrow_exception(producer_error);
    return st;
}

}  // namespace reco
