// reco_eval.h — evaluation of frozen CLIP vs RECO side by side (SPEC §1 "Inference", §6 `reco eval`).
//
// Zero-shot classification: each image is assigned the class whose prompt embedding has the largest
// cosine (ties → the lower class index); top-1 accuracy is reported for
//   frozen   v · t_c
//   image    v̄ · t_c     v̄ = φ_img(v, T^M[knn(v, V^M)])   (image → image search, fuse texts)
//   text     v · t̄_c     t̄ = φ_txt(t, V^M[knn(t, T^M)])   (text → text search, fuse images)
//   both     v̄ · t̄_c
// Image–text retrieval over N pairs: recall@R of the paired item among all N, image→text and
// text→image, frozen and RECO (both sides refined).
#pragma once
#include <string>
#include <vector>

#include "fusion.h"
#include "dist/sharded_memory.h"
#include "memory.h"
#include "retrieval_mode.h"

namespace reco {

// Refine n embeddings of modality m in place with memory + fusion (uni-modal search, cross-modal
// fusion). exclude: optional [n] memory row each query must not retrieve (-1 = none).
void reco_refine(const FusionModel& fusion, const ShardedMemory& mem, Modality m, int k, std::vector<float>& emb,
                 int n, const int* exclude = nullptr);

// The same under an ablation mode (retrieval_mode.h: searched side, fused side, k, memory subset);
// k = 0 runs the fusion module on the query alone.
void reco_refine(const FusionModel& fusion, const ModeMemory& mem, Modality m, std::vector<float>& emb, int n,
                 const int* exclude = nullptr);

// The same, never letting query q retrieve a memory row carrying its own label (row_label[r] ==
// query_label[q]; retrieval.h retrieve_excluding_labels): evaluation with the data as the memory.
void reco_refine(const FusionModel& fusion, const ModeMemory& mem, Modality m, std::vector<float>& emb, int n,
                 const int* query_label, const std::vector<int>& row_label);

// Index of the best class per image: argmax_c img[i]·cls[c], ties → lower c.
std::vector<int> classify_top1(const float* img, int n, const float* cls, int C, int d);
double accuracy_pct(const std::vector<int>& pred, const std::vector<int>& label);

struct ZeroShotResult {
    int n = 0, classes = 0;
    double frozen = 0, image = 0, text = 0, both = 0;  // top-1 accuracy in percent
};
// img [n,d], label [n] in 0..C-1, cls [C,d]; img_exclude / cls_exclude: optional memory rows to skip.
ZeroShotResult zeroshot_eval(const FusionModel& fusion, const ShardedMemory& mem, int k, const std::vector<float>& img,
                             const std::vector<int>& label, const std::vector<float>& cls, int C,
                             const int* img_exclude = nullptr, const int* cls_exclude = nullptr);

ZeroShotResult zeroshot_eval(const FusionModel& fusion, const ModeMemory& mem, const std::vector<float>& img,
                             const std::vector<int>& label, const std::vector<float>& cls, int C,
                             const int* img_exclude = nullptr, const int* cls_exclude = nullptr);

// When the evaluation data is the memory, every memory row carries a label (its caption's class):
// an image of class c must not retrieve rows of class c (their texts ARE c's prompt), nor may c's
// prompt retrieve them (its own copies). row_label [mem n], img labels = `label`, prompt c → c.
ZeroShotResult zeroshot_eval(const FusionModel& fusion, const ModeMemory& mem, const std::vector<float>& img,
                             const std::vector<int>& label, const std::vector<float>& cls, int C,
                             const std::vector<int>& row_label);

struct RecallResult {
    double i2t[3] = {0, 0, 0}, t2i[3] = {0, 0, 0};  // recall@1, @5, @10 in percent
};
// Pairs (img[i], txt[i]), i < n.
RecallResult retrieval_recall(const std::vector<float>& img, const std::vector<float>& txt, int n, int d);

// Classes from an embedding file's captions (`reco eval zeroshot`, the synthetic benchmark): every
// distinct caption is a class, in order of first appearance; its prompt embedding is the text
// embedding of its first item; item i's label is the class of its caption.
struct CaptionClasses {
    std::vector<std::string> names;  // [C]
    std::vector<int> first;          // [C] first item of each class
    std::vector<int> label;          // [n]
    std::vector<float> prompt_emb;   // [C,d]
};
CaptionClasses classes_from_captions(const EmbeddingFile& data);  // errors: no captions, < 2 classes

}  // namespace reco
