// safetensors.cpp — mmap reader with full header validation, atomic writer, fp16/bf16 conversion.
#include "safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "json.h"

namespace reco {

// ---------------------------------------------------------------------------------------------
// dtypes

static const struct { DType d; const char* name; size_t size; } kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const char* dtype_name(DType d) {
    for (auto& e : kDTypes)
        if (e.d == d) return e.name;
    return "?";
}
size_t dtype_size(DType d) {
    for (auto& e : kDTypes)
        if (e.d == d) return e.size;
    return 0;
}

// IEEE 754 binary16 → binary32, exact (subnormals, inf, nan included).
float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// binary32 → binary16 with round-to-nearest-even (what numpy / torch .half() do).
uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx > 0x7F800000) return (uint16_t)(sign | 0x7E00);       // NaN
    if (absx >= 0x477FF000) return (uint16_t)(sign | 0x7C00);      // rounds to ≥ 65520 → inf
    if (absx < 0x38800000) {                                        // < 2^-14: subnormal half (or 0)
        // value = absx as float; half subnormal unit = 2^-24
        float a;
        memcpy(&a, &absx, 4);
        float scaled = a * 16777216.0f;  // exact: multiply by 2^24
        // round half to even
        float r = std::nearbyint(scaled);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t exp = ((absx >> 23) - 127 + 15);
    uint32_t mant = absx & 0x7FFFFF;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;  // carry may bump the exponent: still correct
    return (uint16_t)(sign | h);
}

float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((x >> 16) | 0x40);  // quiet NaN
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7FFF + lsb;
    return (uint16_t)(x >> 16);
}

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
}

std::string TensorInfo::shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

static std::string shape_str(const std::vector<int64_t>& shape) {
    TensorInfo t;
    t.shape = shape;
    return t.shape_str();
}

// ---------------------------------------------------------------------------------------------
// reader

SafeTensors::SafeTensors(const std::string& path) : path_(path), file_(new MappedFile(path)) {
    const char* p = path.c_str();
    const size_t size_ = file_->size();
    if (size_ < 8) fail("%s: not a safetensors file (only %zu bytes; the 8-byte header length is missing)", p, size_);
    {
        const uint8_t* base = file_->data();
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
        if (hlen > size_ - 8)
            fail("%s: corrupt safetensors: header length %llu is beyond the end of the file (%zu bytes)", p,
                 (unsigned long long)hlen, size_);
        if (hlen > 100u * 1024 * 1024) fail("%s: corrupt safetensors: header length %llu is absurd", p, (unsigned long long)hlen);
        std::string header((const char*)base + 8, hlen);
        // trailing spaces are allowed as padding
        while (!header.empty() && header.back() == ' ') header.pop_back();
        Json j = parse_json(header, path + " (safetensors header)");
        if (j.type != Json::Object) fail("%s: corrupt safetensors: header is not a JSON object", p);
        data_ = base + 8 + hlen;
        size_t data_size = size_ - 8 - hlen;
        for (auto& kv : j.obj) {
            const std::string& name = kv.first;
            const Json& t = kv.second;
            if (name == "__metadata__") {
                if (t.type != Json::Object) fail("%s: __metadata__ is not an object", p);
                for (auto& m : t.obj) {
                    if (m.second.type != Json::String) fail("%s: __metadata__ value '%s' is not a string", p, m.first.c_str());
                    metadata_[m.first] = m.second.str;
                }
                continue;
            }
            if (t.type != Json::Object) fail("%s: tensor '%s': entry is not an object", p, name.c_str());
            const Json* jd = t.find("dtype");
            const Json* js = t.find("shape");
            const Json* jo = t.find("data_offsets");
            if (!jd || jd->type != Json::String) fail("%s: tensor '%s': missing or bad dtype", p, name.c_str());
            if (!js || js->type != Json::Array) fail("%s: tensor '%s': missing or bad shape", p, name.c_str());
            if (!jo || jo->type != Json::Array || jo->arr.size() != 2)
                fail("%s: tensor '%s': missing or bad data_offsets", p, name.c_str());
            TensorInfo ti;
            ti.name = name;
            bool found = false;
            for (auto& e : kDTypes)
                if (jd->str == e.name) { ti.dtype = e.d; found = true; }
            if (!found) fail("%s: tensor '%s': unknown dtype '%s'", p, name.c_str(), jd->str.c_str());
            __int128 numel = 1;
            for (auto& d : js->arr) {
                if (!d.is_int() || d.num < 0) fail("%s: tensor '%s': bad shape entry", p, name.c_str());
                ti.shape.push_back((int64_t)d.num);
                numel *= (int64_t)d.num;
                if (numel > ((__int128)1 << 50)) fail("%s: tensor '%s': shape is absurdly large", p, name.c_str());
            }
            for (auto& o : jo->arr)
                if (!o.is_int() || o.num < 0) fail("%s: tensor '%s': bad data_offsets", p, name.c_str());
            ti.begin = (size_t)jo->arr[0].num;
            ti.end = (size_t)jo->arr[1].num;
            if (ti.end < ti.begin) fail("%s: tensor '%s': data_offsets end before begin", p, name.c_str());
            if (ti.end > data_size)
                fail("%s: tensor '%s': data_offsets [%zu, %zu] are beyond the end of the file (data section %zu bytes; truncated?)",
                     p, name.c_str(), ti.begin, ti.end, data_size);
            if ((__int128)(ti.end - ti.begin) != numel * (__int128)dtype_size(ti.dtype))
                fail("%s: tensor '%s': shape %s of %s needs %lld bytes but data_offsets give %zu", p, name.c_str(),
                     ti.shape_str().c_str(), jd->str.c_str(), (long long)(numel * dtype_size(ti.dtype)),
                     ti.end - ti.begin);
            if (index_.count(name)) fail("%s: tensor '%s' appears twice", p, name.c_str());
            index_[name] = tensors_.size();
            tensors_.push_back(ti);
        }
        std::vector<TensorInfo> sorted = tensors_;
        std::sort(sorted.begin(), sorted.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.begin < b.begin; });
        for (size_t i = 1; i < sorted.size(); i++)
            if (sorted[i].begin < sorted[i - 1].end)
                fail("%s: tensors '%s' and '%s' overlap in the file", p, sorted[i - 1].name.c_str(), sorted[i].name.c_str());
        tensors_ = sorted;
        index_.clear();
        for (size_t i = 0; i < tensors_.size(); i++) index_[tensors_[i].name] = i;
    }
}

SafeTensors::~SafeTensors() = default;

const TensorInfo& SafeTensors::info(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail("%s: missing tensor '%s'", path_.c_str(), name.c_str());
    return tensors_[it->second];
}

std::string SafeTensors::meta(const std::string& key, const std::string& def) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? def : it->second;
}

const uint8_t* SafeTensors::raw(const std::string& name) const { return data_ + info(name).begin; }

void SafeTensors::check_shape(const std::string& name, const std::vector<int64_t>& expect) const {
    const TensorInfo& ti = info(name);
    if (ti.shape != expect)
        fail("%s: tensor '%s' has shape %s, expected %s", path_.c_str(), name.c_str(), ti.shape_str().c_str(),
             shape_str(expect).c_str());
}

std::vector<float> SafeTensors::to_f32(const std::string& name, const std::vector<int64_t>& expect) const {
    const TensorInfo& ti = info(name);
    if (!expect.empty()) check_shape(name, expect);
    size_t n = (size_t)ti.numel();
    std::vector<float> out(n);
    const uint8_t* src = data_ + ti.begin;
    switch (ti.dtype) {
        case DType::F32: memcpy(out.data(), src, n * 4); break;
        case DType::F16:
            for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, src + 2 * i, 2); out[i] = half_to_float(h); }
            break;
        case DType::BF16:
            for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, src + 2 * i, 2); out[i] = bf16_to_float(h); }
            break;
        case DType::F64:
            for (size_t i = 0; i < n; i++) { double d; memcpy(&d, src + 8 * i, 8); out[i] = (float)d; }
            break;
        default:
            fail("%s: tensor '%s' has dtype %s, expected a float type (F32, F16, BF16)", path_.c_str(), name.c_str(),
                 dtype_name(ti.dtype));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// writer

void SafeTensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes) {
    int64_t numel = 1;
    for (auto s : shape) numel *= s;
    if ((size_t)numel * dtype_size(dtype) != nbytes)
        fail("internal: tensor '%s' shape %s does not match %zu bytes", name.c_str(), shape_str(shape).c_str(), nbytes);
    entries_.push_back({name, dtype, shape, std::string((const char*)data, nbytes)});
}

void SafeTensorsWriter::add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    add(name, DType::F32, shape, data, (size_t)n * 4);
}

void SafeTensorsWriter::add_f16(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<uint16_t> h((size_t)n);
    for (int64_t i = 0; i < n; i++) h[i] = float_to_half(data[i]);
    add(name, DType::F16, shape, h.data(), (size_t)n * 2);
}

std::string SafeTensorsWriter::serialize() const {
    std::string header = "{";
    bool first = true;
    if (!metadata_.empty()) {
        header += "\"__metadata__\":{";
        bool f2 = true;
        for (auto& kv : metadata_) {
            header += (f2 ? "" : ",") + json_quote(kv.first) + ":" + json_quote(kv.second);
            f2 = false;
        }
        header += "}";
        first = false;
    }
    size_t off = 0;
    for (auto& e : entries_) {
        header += (first ? "" : ",") + json_quote(e.name) + ":{\"dtype\":\"" + dtype_name(e.dtype) + "\",\"shape\":" +
                  shape_str(e.shape).c_str() + ",\"data_offsets\":[" + std::to_string(off) + "," +
                  std::to_string(off + e.bytes.size()) + "]}";
        // shape_str puts ", " between entries: valid JSON
        off += e.bytes.size();
        first = false;
    }
    header += "}";
    while ((8 + header.size()) % 8) header += ' ';  // align the data section to 8 bytes
    std::string out;
    out.reserve(8 + header.size() + off);
    uint64_t hl = header.size();
    for (int i = 0; i < 8; i++) out += (char)((hl >> (8 * i)) & 0xFF);
    out += header;
    for (auto& e : entries_) out += e.bytes;
    return out;
}

void SafeTensorsWriter::write(const std::string& path) const {
    std::string bytes = serialize();
    write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace reco
