// fuzz_eval_lists.cpp — the two list files of `reco eval zeroshot --images`: --classes (one class name
// per line, in folder order) and --templates (one prompt per line with {} for the name), each filled in
// with a name taken from the input: a list or an error naming the file, never a crash or an empty entry.
#include "eval_zeroshot.h"
#include "fuzz_util.h"
#include "image_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::as_file(data, size, ".txt");
    fuzz::expect_ok_or_error([&] {
        for (const std::string& name : reco::read_class_names(path))
            if (name.empty() || name.find('\n') != std::string::npos) abort();  // promised: trimmed, non-empty lines
    });
    fuzz::expect_ok_or_error([&] {
        const std::string name(reinterpret_cast<const char*>(data), std::min<size_t>(size, 16));
        for (const std::string& t : reco::read_templates(path)) {
            if (t.find("{}") == std::string::npos) abort();  // promised: every template has a slot
            (void)reco::fill_template(t, name);
        }
    });
    return 0;
}
