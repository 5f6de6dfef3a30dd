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

class EmbeddingFile;
class ShardedMemory;
struct RetrievalMode;

struct SyntheticConfig {
    int d = 64;                   // embedding width
    int groups = 8;               // coarse categories
    int concepts_per_group = 24;  // fine-grained concepts in each group
    int heldout_per_group = 6;    // of which held out from training (evaluation classes)
    int val_per_group = 3;        // and held out for VALIDATION (choosing steps/settings; never the test)
    int train_per_concept = 64;   // training pairs per train concept
    int memory_per_concept = 32;  // memory pairs per concept (all concepts)
    int eval_per_concept = 16;    // evaluation images per held-out concept
    double coarse = 0.6;          // α: weight of the shared coarse direction
    double fine = 0.8;            // β: weight of the modality's fine direction
    double align = 0.3;           // γ: cos(a_c, b_c), the fine cross-modal alignment
    double noise = 1.0;           // σ: per-item noise
    double memory_noise = 1.0;    // σ_M: per-item noise of MEMORY items (retrieval precision)
    double caption_noise = 0.0;   // ρ: fraction of memory pairs whose caption is of another concept of
                                  // the same group (a wrong web caption); set by the benchmark below
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
    std::vector<int> heldout;  // concept ids held out of training for the TEST, ascending
    std::vector<int> val_concepts;  // concept ids held out of training for VALIDATION, ascending
    SyntheticPairs train;      // pairs of train concepts only
    SyntheticPairs memory;     // pairs of every concept (fresh samples)
    // Evaluation: image_emb = fresh images of held-out concepts; text_emb row i = the class prompt
    // p_c of its concept (identical for every item of a concept), captions = the concept's name,
    // so `reco eval zeroshot --data eval` (classes = distinct captions) scores exactly this.
    SyntheticPairs eval;
    SyntheticPairs val;        // the same for the validation concepts (classified among them)
    std::vector<int> memory_caption_concept;  // [memory.n] the concept memory text i describes
                                              // (≠ concept_id[i] for a wrong caption)
};

// The benchmark `reco train` runs (docs/synthetic.md "A noisy memory"): SyntheticConfig's geometry
// with a web-like memory (wrong captions, noisier memory items). SyntheticConfig{} keeps the clean one.
SyntheticConfig synthetic_benchmark_config();
extern const int kSyntheticSteps;  // training steps of the benchmark run

// Deterministic in cfg (own Gaussian sampler over std::mt19937_64). Throws on invalid settings.
SyntheticBenchmark make_synthetic(const SyntheticConfig& cfg);

// "synthetic:<seed>:<d>" — the model id written into the synthetic embedding files.
std::string synthetic_model_id(const SyntheticConfig& cfg);

// Write train.safetensors, memory.safetensors, eval.safetensors, val.safetensors into dir.
void write_synthetic(const SyntheticBenchmark& b, const std::string& dir);

// Of the top-k pairs each TEST image retrieves under `mode` (its searched side), the percentage whose
// caption describes the image's concept: what the fused texts can be trusted for (mem = b.memory
// as written by write_synthetic).
double synthetic_caption_precision(const SyntheticBenchmark& b, const ShardedMemory& mem,
                                   const RetrievalMode& mode);

}  // namespace reco
