// decode_pipeline.h — overlap the CPU work that prepares a batch (image decoding and preprocessing)
// with the towers that embed the previous one (reco memory build / embed --pairs).
//
//   producer thread:  produce(0) produce(1) produce(2) ...          (at most `depth` batches ahead)
//   calling thread:              consume(0) consume(1) consume(2) ...
//
// produce(i) fills slot i % depth, consume(i) reads it; produce(i) starts only after consume(i − depth)
// has returned, so `depth` slots suffice. consume runs in order on the calling thread (progress,
// errors and output order stay as in the sequential loop). An exception in either stops both and is
// rethrown on the calling thread once the producer has stopped. overlap = false runs the plain
// sequential loop produce(i); consume(i) (the baseline, and what --decode-threads 0 asks for).
#pragma once
#include <cstddef>
#include <functional>

namespace reco {

struct PipelineStats {
    double wall = 0;     // seconds, first produce to last consume
    double produce = 0;  // seconds spent inside produce (decoding + preprocessing)
};

PipelineStats run_decode_pipeline(size_t n, const std::function<void(size_t)>& produce,
                                  const std::function<void(size_t)>& consume, bool overlap, int depth = 2);

}  // namespace reco
