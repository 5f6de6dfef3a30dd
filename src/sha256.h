// sha256.h — SHA-256 (FIPS 180-4), for content keys: the image-embedding cache keys each image by the
// SHA-256 of its file bytes (embedding_cache.h), the same digest `sha256sum` prints.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace reco {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    void update(const std::string& s) { update(s.data(), s.size()); }
    void final(uint8_t out[32]);  // the object must not be updated afterwards
    std::string hex();            // final() as 64 lowercase hex digits

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buf_[64];
    size_t used_ = 0;
    uint64_t bytes_ = 0;
};

std::string sha256_hex(const void* data, size_t n);
inline std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }

}  // namespace reco
