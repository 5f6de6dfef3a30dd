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

}  // namespace evaltest
