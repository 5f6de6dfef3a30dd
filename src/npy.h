// npy.h — read 2-D float arrays from NumPy .npy files (format versions 1.0, 2.0, 3.0).
//
// This is how precomputed embeddings arrive (the clip-retrieval / LAION convention: an
// `img_emb_*.npy` and a `text_emb_*.npy` of shape (N, d), float16 or float32, row i of both
// from the same pair; SPEC §5). Format (numpy.lib.format):
//   "\x93NUMPY"  major  minor  header_len (u16 LE for 1.x, u32 LE for 2.x/3.x)
//   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, d), }
//           padded with spaces and a final '\n'
//   then N·d little-endian values in C (row-major) order, to the end of the file.
// Accepted: descr '<f2' or '<f4', fortran_order False, a 2-D shape with N ≥ 1, d ≥ 1, and a
// file whose size matches the shape exactly. Everything else is an error naming the file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common.h"

namespace reco {

class NpyMatrix {
public:
    explicit NpyMatrix(const std::string& path);  // mmap + validate; throws reco::Error
    ~NpyMatrix();
    NpyMatrix(const NpyMatrix&) = delete;
    NpyMatrix& operator=(const NpyMatrix&) = delete;

    const std::string& path() const { return path_; }
    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }
    bool is_f16() const { return itemsize_ == 2; }
    const std::string& descr() const { return descr_; }  // "<f2" or "<f4"
    // Row i converted to fp32 (exact for both dtypes); out has cols() floats.
    void row_f32(int64_t i, float* out) const;

private:
    std::string path_, descr_;
    int64_t rows_ = 0, cols_ = 0;
    int itemsize_ = 0;
    std::unique_ptr<MappedFile> file_;
    const uint8_t* data_ = nullptr;
};

}  // namespace reco
