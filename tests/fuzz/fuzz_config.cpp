// fuzz_config.cpp — config.json end to end: the JSON parser, config → ClipConfig validation, the
// derived sizes, and the config checked against a real checkpoint (the tiny fp16 fixture, whose
// weights then load when the config matches). Run from the repository root (tests/fuzz/run.sh does).
#include <cerrno>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#include "clip_model.h"
#include "fuzz_util.h"
#include "json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A model directory whose config.json is the input and whose model.safetensors is the fixture's.
    static const std::string dir = [] {
        std::string d = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + std::string("/reco-fuzz-config-") +
                        std::to_string(getpid());
        if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) abort();
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) abort();
        std::string st = std::string(cwd) + "/tests/fixtures/tiny_clip_gelu_f16/model.safetensors";
        unlink((d + "/model.safetensors").c_str());
        if (symlink(st.c_str(), (d + "/model.safetensors").c_str()) != 0) abort();
        return d;
    }();
    const std::string text((const char*)data, size);
    fuzz::expect_ok_or_error([&] {
        reco::Json j = reco::parse_json(text, "config.json");
        reco::ClipConfig c = reco::clip_config_from_json(j, "config.json");
        // what the towers compute from an accepted config must be sane (the range checks promise it)
        if (c.grid() < 1 || c.vision_tokens() < 2 || c.vision.hidden % c.vision.heads || c.text.hidden % c.text.heads ||
            !(c.vision.eps > 0) || !(c.text.eps > 0))
            abort();
        FILE* f = fopen((dir + "/config.json").c_str(), "wb");
        if (!f) abort();
        if (size && fwrite(data, 1, size, f) != size) abort();
        fclose(f);
        reco::ClipModel m = reco::ClipModel::load(dir);
        if (m.parameter_count() < 2) abort();
    });
    return 0;
}
