// fuzz_npy.cpp — the .npy reader (magic, version, the header's Python dict, shape and size checks)
// and the row conversion of every array it accepts (first and last rows).
#include "fuzz_util.h"
#include "npy.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::as_file(data, size, ".npy");
    fuzz::expect_ok_or_error([&] {
        reco::NpyMatrix m(path);
        std::vector<float> row((size_t)m.cols());
        m.row_f32(0, row.data());
        m.row_f32(m.rows() - 1, row.data());
        fuzz::expect_ok_or_error([&] { m.row_f32(m.rows(), row.data()); });  // out of range: an Error
    });
    return 0;
}
