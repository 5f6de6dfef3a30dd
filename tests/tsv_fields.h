// tsv_fields.h — reading the tokenizer fixtures' TSV rows (tests/fixtures/tokenizer_openai_unicode.tsv,
// tests/fixtures/siglip_tokenizer.tsv): fields, escapes, id lists.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "text_clean.h"

namespace tsv {

inline std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    size_t a = 0;
    while (true) {
        size_t b = s.find(sep, a);
        parts.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
        if (b == std::string::npos) break;
        a = b + 1;
    }
    return parts;
}

// Field escapes: \\ \t \n \r and \u{HEX}. Any other backslash pair is kept as it is, unless strict
// (then it fails the test: the fixture's generator never writes one).
inline std::string unescape_field(const std::string& s, bool strict) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        char c = s[++i];
        if (c == '\\') out += '\\';
        else if (c == 't') out += '\t';
        else if (c == 'n') out += '\n';
        else if (c == 'r') out += '\r';
        else if (c == 'u' && i + 1 < s.size() && s[i + 1] == '{') {
            size_t close = s.find('}', i);
            REQUIRE(close != std::string::npos);
            reco::utf8_append(out, (char32_t)strtoul(s.substr(i + 2, close - i - 2).c_str(), nullptr, 16));
            i = close;
        } else if (strict) {
            FAIL("bad escape in a TSV field: \\" << c);
        } else {
            out += '\\';
            out += c;
        }
    }
    return out;
}

inline std::vector<int> parse_ids(const std::string& s) {
    std::vector<int> ids;
    std::istringstream in(s);
    int v;
    while (in >> v) ids.push_back(v);
    return ids;
}

inline std::string join_ids(const std::vector<int>& ids) {
    std::string s;
    for (size_t k = 0; k < ids.size(); k++) s += (k ? " " : "") + std::to_string(ids[k]);
    return s;
}

}  // namespace tsv
