// eval_zeroshot.h — `reco eval zeroshot --images DIR`: zero-shot classification of an ImageFolder
// (image_folder.h), frozen CLIP/SigLIP vs RECO (SPEC §1 "Inference").
//
// Class embeddings by CLIP's prompt ensembling (Radford et al. 2021, §3.1.4; openai/CLIP's
// Prompt_Engineering_for_ImageNet notebook): every template's "{}" is replaced by the class name, each
// prompt is embedded and L2-normalised, and the class embedding is the L2-normalised mean of them
// (default: the one template "a photo of a {}."). Images are ranked against the classes by cosine;
// ties go to the lower class index. With --memory/--fusion the images and/or the class embeddings are
// refined (reco_eval.h) before ranking, as --refine says (default both).
#pragma once
#include <string>
#include <vector>

#include "cli.h"

namespace reco {

class Encoder;

// The --templates file: one prompt per line, each with "{}" where the class name goes; empty lines
// skipped, "\r" and a UTF-8 BOM removed. A line without "{}" is an error naming the file and line.
std::vector<std::string> read_templates(const std::string& path);

// Every "{}" of `tmpl` replaced by `name` (as Python's str.format(name) does for templates with "{}").
std::string fill_template(const std::string& tmpl, const std::string& name);

// [C, d]: per class the L2-normalised mean of its L2-normalised prompt embeddings (prompt ensembling).
std::vector<float> ensembled_class_embeddings(Encoder& enc, const std::vector<std::string>& classes,
                                              const std::vector<std::string>& templates);

// The `top` best classes of each image (ties → lower class index): [n, top]; scores [n, top] cosines.
void rank_classes(const float* img, int n, const float* cls, int C, int d, int top, std::vector<int>& idx,
                  std::vector<float>& score);

// `reco eval zeroshot --images DIR ...` (cmd_eval.cpp dispatches here).
int eval_zeroshot_images(Args& a);

}  // namespace reco
