// synthetic.h — the built-in synthetic benchmark: paired image/text embeddings in which fine-grained
// concepts are tight WITHIN a modality but poorly aligned ACROSS modalities (the situation RECO's
// paper argues retrieval fixes; see docs/synthetic.md for the math and the parameters).
//
// Generator (all vectors in R^d; N(0, I/d) noise has norm ≈ 1; normalise = L2):
//   coarse direction   u_g  ~ unit, one per group g (shared by both modalities: CLIP gets "bird" right)
//   image fine dir     a_c  ~ unit, one per concept c (in group g(c))
//   text fine dir      b_c  = normalise(γ·a_c + √(1−γ²)·e_c),  e_c ~ unit   (cos(a_c, b_c) ≈ γ, small)
//   image of c         v    = normalise(α·u_g + β·a_c + σ·z),   z ~ N(0, I/d)
//   text of c          t    = normalise(α·u_g + β·b_c + σ·z')
//   class prompt of c  p_c  = normalise(α·u_g + β·b_c + σ·z'')  (one text of the concept)
// Concepts are split into TRAIN concepts (training pairs come from these) and HELD-OUT concepts
// (never in training). The memory holds fresh pairs of EVERY concept; evaluation classifies fresh
// images of the held-out concepts among the held-out classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace reco {

struct SyntheticConfig {
    int d = 64;                   // embedding width
    int groups = 8;               // coarse categories
    int concepts_per_group = 24;  // fine-grained concepts in each group
    int heldout_per_group = 6;    // of which held out from training (evaluation classes)
    int train_per_concept = 64;   // training pairs per train concept
    int memory_per_concept = 32;  // memory pairs per concept (all concepts)
    int eval_per_concept = 16;    // evaluation images per held-out concept
    double coarse = 0.6;          // α: weight of the shared coarse direction
    double fine = 0.8;            // β: weight of the modality's fine direction
    double align = 0.3;           // γ: cos(a_c, b_c), the fine cross-modal alignment
    double noise = 1.0;           // σ: per-item noise
    uint64_t seed = 1;
};

// One set of pairs: image_emb/text_emb [n,d] (L2-normalised), concept id and caption per pair.
struct SyntheticPairs {
    int n = 0;
    std::vector<float> image_emb, text_emb;
    std::vector<int> concept_id;
    std::vector<std::string> captions;  // "group G concept C"
};

struct SyntheticBenchmark {
    SyntheticConfig cfg;
    int concepts = 0;
    std::vector<int> heldout;  // concept ids held out of training, ascending
    SyntheticPairs train;      // pairs of train concepts only
    SyntheticPairs memory;     // pairs of every concept (fresh samples)
    // Evaluation: image_emb = fresh images of held-out concepts; text_emb row i = the class prompt
    // p_c of its concept (identical for every item of a concept), captions = the concept's name,
    // so `reco eval zeroshot --data eval` (classes = distinct captions) scores exactly this.
    SyntheticPairs eval;
};

// Deterministic in cfg (own Gaussian sampler over std::mt19937_64). Throws on invalid settings.
SyntheticBenchmark make_synthetic(const SyntheticConfig& cfg);

// "synthetic:<seed>:<d>" — the model id written into the synthetic embedding files.
std::string synthetic_model_id(const SyntheticConfig& cfg);

// Write train.safetensors, memory.safetensors, eval.safetensors into dir (created if absent).
void write_synthetic(const SyntheticBenchmark& b, const std::string& dir);

}  // namespace reco
