// cli.h — the command registry and a small argument parser shared by all subcommands.
//
// Each subcommand lives in its own src/cmd_<name>.cpp and registers itself:
//     static int run_tokenize(Args& a, int argc, char** argv) { ... }
//     REGISTER_COMMAND(tokenize, "tokenize --model DIR TEXT...", run_tokenize, {"model"}, {});
// main.cpp looks the name up; no central list to edit.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace reco {

// Parsed command line: "--name value" options (repeatable, order kept), "--switch" flags,
// and positionals. Which names take a value is declared by the command up front so that
// "--no-shuffle img.jpg" is never misread.
class Args {
public:
    // argv excludes the program and the subcommand name.
    // value_opts: options that take a value; flag_opts: switches without a value.
    Args(int argc, char** argv, const std::vector<std::string>& value_opts,
         const std::vector<std::string>& flag_opts);

    bool has(const std::string& name) const;                 // option or flag given at least once
    std::string get(const std::string& name, const std::string& def = "") const;  // last value
    const std::vector<std::string>& all(const std::string& name) const;           // every value
    int get_int(const std::string& name, int def) const;     // validated integer
    long long get_i64(const std::string& name, long long def) const;
    double get_double(const std::string& name, double def) const;
    const std::vector<std::string>& positional() const { return pos_; }
    // Options in command-line order (name, value); flags have an empty value.
    const std::vector<std::pair<std::string, std::string>>& ordered() const { return ordered_; }

private:
    std::map<std::string, std::vector<std::string>> vals_;
    std::vector<std::string> pos_;
    std::vector<std::pair<std::string, std::string>> ordered_;
};

using CommandFn = int (*)(Args&, int argc, char** argv);

struct Command {
    const char* name;
    const char* usage;
    CommandFn fn;
    // options the parser accepts; --device and --help are added for every command
    std::vector<std::string> value_opts;
    std::vector<std::string> flag_opts;
};

std::map<std::string, Command>& command_registry();

struct CommandRegistrar {
    explicit CommandRegistrar(Command c);
};

#define RECO_CAT2(a, b) a##b
#define RECO_CAT(a, b) RECO_CAT2(a, b)
// REGISTER_COMMAND(name, usage, fn, {value options}, {flag options})
//   e.g. REGISTER_COMMAND(embed, "embed ...", run_embed, {"model", "image"}, {"skip-bad"});
//        REGISTER_COMMAND(info, "info FILE", run_info, {}, {});
// (variadic so that the commas inside the two brace lists need no extra parentheses)
#define REGISTER_COMMAND(NAME, USAGE, FN, ...)                 \
    static ::reco::CommandRegistrar RECO_CAT(reco_cmd_, NAME)( \
        ::reco::Command{#NAME, USAGE, FN, __VA_ARGS__})

// The default model directory and the error that tells how to get it.
extern const char* kDefaultModelDir;
std::string model_dir_or_default(const Args& a);

}  // namespace reco
