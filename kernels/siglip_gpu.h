// siglip_gpu.h — the frozen SigLIP towers on a CUDA device (SPEC §8; the CLIP ones are clip_gpu.h).
//
// The same forward passes as siglip_encode_images / siglip_encode_texts (siglip_model.h), on the
// machinery the CLIP towers use (kernels/tower_gpu.cuh): weights uploaded ONCE in fp16 (default) or
// bf16, every activation on the device, host↔device copies only at the edges. What SigLIP adds:
// bidirectional text attention, gelu_pytorch_tanh, patch bias and no class token, post_layernorm over
// every token followed by the MAP attention-pooling head (images), last-position pooling and the
// `head` Linear with bias (texts). Outputs are the UN-normalised features [B, embed_dim].
//
// Only exists in CUDA builds: include it under #if RECO_CUDA. All CUDA types stay behind the pimpl.
#pragma once
#if RECO_CUDA
#include <cstddef>
#include <memory>

#include "siglip/siglip_model.h"

namespace reco {

class SiglipGpu {
public:
    // Uploads the weights of m (which may be freed afterwards). bf16 = true stores weights and
    // activations as bfloat16. max_batch: items per device pass (0 = 256 images, 1024 texts).
    explicit SiglipGpu(const SiglipModel& m, bool bf16 = false, int max_batch = 0);
    ~SiglipGpu();
    SiglipGpu(const SiglipGpu&) = delete;
    SiglipGpu& operator=(const SiglipGpu&) = delete;

    // pixels [B,3,S,S] preprocessed (SiglipImageProcessor), host memory → out [B,E] host memory.
    void encode_images(const float* pixels, int B, float* out);
    // ids [B, max_positions] (64, padded), host memory; pooled at the last position. Every id is
    // checked against the vocabulary first (reco::Error, the CPU's message).
    void encode_texts(const int* ids, int B, float* out);
    // Benchmarks: pixels and out are DEVICE pointers; synchronous.
    void encode_images_device(const float* pixels_dev, int B, float* out_dev);

    size_t weight_bytes() const;  // device memory held by the weights
    bool bf16() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace reco
#endif
