// json.h — a small, strict JSON parser (RFC 8259) for config.json, vocab.json and
// safetensors headers. Errors name the file (`what`) and the byte offset.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace reco {

struct Json {
    enum Type { Null, Bool, Number, String, Array, Object };
    Type type = Null;
    bool b = false;
    double num = 0;
    std::string str;                                  // UTF-8, escapes decoded
    std::vector<Json> arr;
    std::vector<std::pair<std::string, Json>> obj;    // in file order

    const Json* find(const std::string& key) const;   // null if absent or not an object; last if repeated
    bool is_int() const;                              // a Number with an integral value
};

// Parse a whole document; trailing garbage, depth > 64 and invalid UTF-16 escapes are errors.
// A leading UTF-8 BOM is skipped.
Json parse_json(const std::string& text, const std::string& what);

// Serialise a string as a JSON string literal (quotes and escapes added).
std::string json_quote(const std::string& s);

}  // namespace reco
