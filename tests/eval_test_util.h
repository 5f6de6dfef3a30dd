// eval_test_util.h — what the `reco eval --images/--pairs` tests share: a temporary folder, the tiny CLIP
// model folder (fixture weights + the shared tokenizer), small file and text helpers.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "test_util.h"

namespace evaltest {

inline std::string tmp_dir() {
    static std::string d;
    if (d.empty()) {
        char t[] = "/tmp/reco_eval_XXXXXX";
        d = mkdtemp(t);
    }
    return d;
}

inline std::string sh(const std::string& cmd) {  // run, REQUIRE success
    int rc = system(cmd.c_str());
    REQUIRE_MESSAGE(rc == 0, cmd);
    return cmd;
}

inline std::string cwd() { return getenv("PWD") ? getenv("PWD") : "."; }

inline std::string shared_abs() {
    char* rp = realpath(testutil::shared_data().c_str(), nullptr);
    std::string s = rp ? rp : testutil::shared_data();
    free(rp);
    return s;
}

// The tiny quick_gelu CLIP as a model folder on the Hub's layout.
inline std::string tiny_clip() {
    std::string d = tmp_dir() + "/tiny_clip";
    if (!testutil::exists(d)) {
        const std::string fx = cwd() + "/tests/fixtures/tiny_clip_quickgelu_f32", tk = shared_abs() + "/clip/hf_tokenizer";
        sh("mkdir -p " + d + " && ln -sf " + fx + "/model.safetensors " + fx + "/config.json " + tk + "/vocab.json " + tk +
           "/merges.txt " + d + "/");
    }
    return d;
}
// A memory of `n` images of index.tsv from row `first` on (their captions), built with `reco memory build`,
// and a fusion checkpoint trained on it for a few steps with `train_args` (e.g. "--search cross"); cached
// per process by name. Returns {memory, checkpoint}.
inline std::pair<std::string, std::string> reco_parts(const std::string& name, const std::string& train_args,
                                                      int first = 60, int n = 40) {
    const std::string dir = tmp_dir() + "/parts_" + name, mem = dir + "/memory.safetensors",
                      ckpt = dir + "/fusion.safetensors";
    if (testutil::exists(ckpt)) return {mem, ckpt};
    std::string tsv, out;
    int row = 0;
    std::ifstream in(testutil::shared_data() + "/images/index.tsv");
    for (std::string l; std::getline(in, l);) {
        if (l.empty() || l[0] == '#' || l.rfind("path\t", 0) == 0) continue;
        if (row++ < first) continue;
        if (row > first + n) break;
        std::istringstream ls(l);
        std::string p, label, caption;
        std::getline(ls, p, '\t');
        std::getline(ls, label, '\t');
        std::getline(ls, caption, '\t');
        tsv += shared_abs() + "/images/" + p + "\t" + caption + "\n";
    }
    sh("mkdir -p " + dir);
    std::ofstream(dir + "/memory.tsv") << tsv;
    int rc = run_cmd(testutil::reco_bin() + "memory build --device cpu --model " + tiny_clip() + " --pairs " + dir +
                         "/memory.tsv --out " + mem, &out);
    REQUIRE_MESSAGE(rc == 0, out);
    rc = run_cmd(testutil::reco_bin() + "train --device cpu --data " + mem + " --memory " + mem +
                     " --k 3 --batch 16 --steps 5 --heads 4 " + train_args + " --out " + ckpt, &out);
    REQUIRE_MESSAGE(rc == 0, out);
    return {mem, ckpt};
}

inline std::string tiny_siglip() { return cwd() + "/tests/fixtures/tiny_siglip_f32"; }

inline void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string f;
    std::istringstream in(s);
    while (std::getline(in, f, sep)) out.push_back(f);
    return out;
}

// Non-comment, non-empty lines.
inline std::vector<std::string> data_lines(const std::string& text) {
    std::vector<std::string> out;
    for (auto& l : split(text, '\n'))
        if (!l.empty() && l[0] != '#') out.push_back(l);
    return out;
}

// `reco eval zeroshot --device cpu ARGS`, which must succeed; its output.
inline std::string run_ok(const std::string& args) {
    std::string out;
    int rc = run_cmd(testutil::reco_bin() + "eval zeroshot --device cpu " + args, &out);
    REQUIRE_MESSAGE(rc == 0, out);
    return out;
}

}  // namespace evaltest
