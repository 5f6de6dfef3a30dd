// cli.cpp — argument parsing and the subcommand registry (see cli.h).
#include "cli.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "common.h"

namespace reco {

const char* kDefaultModelDir = "weights/clip-vit-base-patch32";

static bool in(const std::vector<std::string>& v, const std::string& s) {
    for (auto& x : v)
        if (x == s) return true;
    return false;
}

Args::Args(int argc, char** argv, const std::vector<std::string>& value_opts,
           const std::vector<std::string>& flag_opts) {
    for (int i = 0; i < argc; i++) {
        std::string s = argv[i];
        if (s.size() > 2 && s[0] == '-' && s[1] == '-') {
            std::string name = s.substr(2), value;
            size_t eq = name.find('=');
            bool inline_value = eq != std::string::npos;
            if (inline_value) { value = name.substr(eq + 1); name = name.substr(0, eq); }
            if (in(value_opts, name)) {
                if (!inline_value) {
                    if (i + 1 >= argc) fail("option --%s needs a value", name.c_str());
                    value = argv[++i];
                }
                vals_[name].push_back(value);
                ordered_.push_back({name, value});
            } else if (in(flag_opts, name)) {
                if (inline_value) fail("option --%s takes no value", name.c_str());
                vals_[name].push_back("");
                ordered_.push_back({name, ""});
            } else {
                fail("unknown option --%s (see 'reco help')", name.c_str());
            }
        } else {
            pos_.push_back(s);
        }
    }
}

bool Args::has(const std::string& name) const { return vals_.count(name) > 0; }

std::string Args::get(const std::string& name, const std::string& def) const {
    auto it = vals_.find(name);
    return it == vals_.end() ? def : it->second.back();
}

const std::vector<std::string>& Args::all(const std::string& name) const {
    static const std::vector<std::string> empty;
    auto it = vals_.find(name);
    return it == vals_.end() ? empty : it->second;
}

long long Args::get_i64(const std::string& name, long long def) const {
    if (!has(name)) return def;
    std::string s = get(name);
    errno = 0;
    char* end = nullptr;
    long long v = strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno) fail("option --%s: '%s' is not an integer", name.c_str(), s.c_str());
    return v;
}

int Args::get_int(const std::string& name, int def) const {
    long long v = get_i64(name, def);
    if (v < -2147483647LL || v > 2147483647LL) fail("option --%s: %lld is out of range", name.c_str(), v);
    return (int)v;
}

double Args::get_double(const std::string& name, double def) const {
    if (!has(name)) return def;
    std::string s = get(name);
    char* end = nullptr;
    double v = strtod(s.c_str(), &end);
    if (s.empty() || *end || !std::isfinite(v)) fail("option --%s: '%s' is not a number", name.c_str(), s.c_str());
    return v;
}

std::map<std::string, Command>& command_registry() {
    static std::map<std::string, Command> r;
    return r;
}

CommandRegistrar::CommandRegistrar(Command c) { command_registry()[c.name] = c; }

std::string model_dir_or_default(const Args& a) {
    std::string dir = a.get("model", kDefaultModelDir);
    if (!file_exists(dir))
        fail("model directory '%s' not found. Get the default model with\n"
             "    weights/download.sh            (openai/clip-vit-base-patch32, ~600 MB)\n"
             "or pass --model DIR (a folder with model.safetensors, config.json, vocab.json, merges.txt)",
             dir.c_str());
    return dir;
}

}  // namespace reco
