// clip_gpu.h — the frozen CLIP towers on a CUDA device (SPEC §7, issue 4 "tower kernels").
//
// The same forward passes as clip_encode_images / clip_encode_texts (clip_model.h), with the
// weights uploaded ONCE in fp16 (default) or bf16, every activation kept on the device, and
// host↔device copies only at the edges (pixels or token ids in, projected features out).
// GEMMs: cuBLAS, 16-bit inputs, fp32 accumulation on tensor cores. Everything else: our kernels
// (kernels/tower_kernels.cuh). The residual stream and every reduction are fp32.
// Outputs are the projected, UN-normalised features, exactly as the CPU functions return them.
//
// Only exists in CUDA builds: include it under #if RECO_CUDA. All CUDA types stay behind the pimpl.
#pragma once
#if RECO_CUDA
#include <cstddef>
#include <memory>

#include "clip_model.h"

namespace reco {

class ClipGpu {
public:
    // Uploads the weights of m (which may be freed afterwards). bf16 = true stores weights and
    // activations as bfloat16 instead of fp16. max_batch: items per device pass (0 = 256 images,
    // 1024 texts); larger calls are split into passes of that size.
    explicit ClipGpu(const ClipModel& m, bool bf16 = false, int max_batch = 0);
    ~ClipGpu();
    ClipGpu(const ClipGpu&) = delete;
    ClipGpu& operator=(const ClipGpu&) = delete;

    // pixels [B,3,S,S] preprocessed (clip_preprocess), host memory → out [B,E] host memory.
    void encode_images(const float* pixels, int B, float* out);
    // ids [B,77] (OpenAI convention, zero-padded), host memory; pooled at the first 49407 (else the
    // argmax, as the CPU). Every id is checked against the vocabulary first (reco::Error).
    void encode_texts(const int* ids, int B, float* out);

    // Benchmarks: pixels and out are DEVICE pointers (no host copies at all); synchronous.
    void encode_images_device(const float* pixels_dev, int B, float* out_dev);

    size_t weight_bytes() const;  // device memory held by the weights
    bool bf16() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace reco
#endif
