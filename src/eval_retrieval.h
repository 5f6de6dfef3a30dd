// eval_retrieval.h — `reco eval retrieval --pairs PAIRS.tsv`: image↔text retrieval on a COCO/Flickr30k
// layout (several captions per image: the same image path on several rows; pairs_tsv.h), frozen vs RECO.
//
// The gallery is every distinct image (by its path, in order of first appearance) and every row's
// caption. Recall@R, in percent:
//   image → text: an image is a hit when ANY of its captions is among the R best-scoring captions;
//   text → image: a caption is a hit when its image is among the R best-scoring images.
// Ranking by cosine; a tie goes to the lower index (as everywhere in reco), so equal scores never
// flatter the result.
#pragma once
#include <vector>

#include "cli.h"

namespace reco {

struct MultiRecall {
    double i2t[3] = {0, 0, 0}, t2i[3] = {0, 0, 0};  // recall@1, @5, @10 in percent
};

// img [n_img, d], txt [n_txt, d]; image_of_text[t] in 0..n_img-1 (every image needs ≥ 1 caption).
MultiRecall multi_caption_recall(const std::vector<float>& img, int n_img, const std::vector<float>& txt, int n_txt,
                                 const std::vector<int>& image_of_text, int d);

// `reco eval retrieval --pairs PAIRS.tsv ...` (cmd_eval.cpp dispatches here).
int eval_retrieval_pairs(Args& a);

}  // namespace reco
