// topk_params.cuh — the sizes every piece of the GPU top-k shares (kernels/topk.cu and its parts).
#pragma once

namespace reco {
namespace topk {

constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kScoreChunk = 4096;  // scores per block in select_scores_kernel (32 KiB of keys)
constexpr int kPending = 512;      // rows awaiting exact re-scoring in the fused kernel
constexpr int kMaxK = 1024;
constexpr int kMaxFusedK = 256;
constexpr int kSampleRows = 16384;  // rows of the exact pre-pass that seeds θ
constexpr int kRowPad = 8;          // fp16 padding per shared row: conflict-free wmma fragment loads
constexpr int kQueryChunk = 8192;   // queries per pass (bounds every buffer)

}  // namespace topk
}  // namespace reco
