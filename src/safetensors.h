// safetensors.h — read (mmap) and write the safetensors format; fp16/bf16 conversion.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
// Every field is validated on open: the error names the file and the problem.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace reco {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);
size_t dtype_size(DType d);

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even, overflow → ±inf
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);  // round to nearest even

struct TensorInfo {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t begin = 0, end = 0;  // byte range relative to the data section
    int64_t numel() const;
    std::string shape_str() const;  // "[50, 768]"
};

class SafeTensors {
public:
    explicit SafeTensors(const std::string& path);  // mmap + validate; throws reco::Error
    ~SafeTensors();
    SafeTensors(const SafeTensors&) = delete;
    SafeTensors& operator=(const SafeTensors&) = delete;

    const std::string& path() const { return path_; }
    bool has(const std::string& name) const { return index_.count(name) > 0; }
    // Throws "FILE: missing tensor NAME".
    const TensorInfo& info(const std::string& name) const;
    // Tensors in file (offset) order.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    std::string meta(const std::string& key, const std::string& def = "") const;

    const uint8_t* raw(const std::string& name) const;
    // Convert any float dtype (F32/F16/BF16/F64) to fp32. expect_shape (if non-empty) is
    // checked: "FILE: tensor NAME has shape [..], expected [..]".
    std::vector<float> to_f32(const std::string& name, const std::vector<int64_t>& expect_shape = {}) const;
    // Check shape without converting.
    void check_shape(const std::string& name, const std::vector<int64_t>& expect_shape) const;

private:
    std::string path_;
    std::unique_ptr<MappedFile> file_;
    const uint8_t* data_ = nullptr;  // start of the tensor data section
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Builds a safetensors file in memory and writes it atomically (temp file + rename).
class SafeTensorsWriter {
public:
    void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
             const void* data, size_t nbytes);
    void add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data);
    void add_f16(const std::string& name, const std::vector<int64_t>& shape, const float* data);  // converts
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
    std::string serialize() const;
    void write(const std::string& path) const;

private:
    struct Entry {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        std::string bytes;
    };
    std::vector<Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace reco
