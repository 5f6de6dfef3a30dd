// fuzz_image.cpp — image decoding (every format stb_image is built with, and our header, completeness and
// JPEG-table checks) and the whole CLIP preprocessing of every image it accepts, as `reco` runs it.
#include <cmath>

#include "fuzz_util.h"
#include "image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::as_file(data, size, ".img");
    fuzz::expect_ok_or_error([&] {
        std::vector<float> pv = reco::load_and_preprocess(path, 224);
        if (pv.size() != (size_t)3 * 224 * 224) abort();
        for (float v : pv)
            if (!std::isfinite(v)) abort();  // normalised uint8 values: always finite
    });
    return 0;
}
