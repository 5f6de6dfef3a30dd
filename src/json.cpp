// json.cpp — recursive-descent JSON parser (see json.h).
#include "json.h"

#include <cmath>
#include <cstdlib>

#include "common.h"

namespace reco {

// With a key given twice, the last one wins, as in Python's json (what transformers reads
// config.json with): reco must see the same value the reference does.
const Json* Json::find(const std::string& key) const {
    if (type != Object) return nullptr;
    for (auto it = obj.rbegin(); it != obj.rend(); ++it)
        if (it->first == key) return &it->second;
    return nullptr;
}

bool Json::is_int() const { return type == Number && std::floor(num) == num && std::fabs(num) < 9.0e15; }

namespace {

struct Parser {
    const std::string& s;
    const std::string& what;
    size_t i = 0;

    [[noreturn]] void error(const char* msg) { fail("%s: invalid JSON at byte %zu: %s", what.c_str(), i, msg); }

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    }

    void expect_word(const char* w) {
        for (size_t j = 0; w[j]; j++, i++)
            if (i >= s.size() || s[i] != w[j]) error("unexpected token");
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) out += (char)cp;
        else if (cp < 0x800) { out += (char)(0xC0 | (cp >> 6)); out += (char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            out += (char)(0xE0 | (cp >> 12)); out += (char)(0x80 | ((cp >> 6) & 0x3F)); out += (char)(0x80 | (cp & 0x3F));
        } else {
            out += (char)(0xF0 | (cp >> 18)); out += (char)(0x80 | ((cp >> 12) & 0x3F));
            out += (char)(0x80 | ((cp >> 6) & 0x3F)); out += (char)(0x80 | (cp & 0x3F));
        }
    }

    unsigned hex4() {
        if (i + 4 > s.size()) error("truncated \\u escape");
        unsigned v = 0;
        for (int j = 0; j < 4; j++) {
            char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
            else error("bad hex digit in \\u escape");
        }
        return v;
    }

    std::string string() {
        if (i >= s.size() || s[i] != '"') error("expected string");
        i++;
        std::string out;
        while (true) {
            if (i >= s.size()) error("unterminated string");
            unsigned char c = s[i++];
            if (c == '"') break;
            if (c < 0x20) error("control character in string");
            if (c != '\\') { out += (char)c; continue; }
            if (i >= s.size()) error("unterminated escape");
            char e = s[i++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {
                        if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') error("lone high surrogate");
                        i += 2;
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo >= 0xE000) error("bad low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        error("lone low surrogate");
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: error("bad escape");
            }
        }
        return out;
    }

    double number() {
        size_t start = i;
        if (s[i] == '-') i++;
        if (i >= s.size() || !isdigit((unsigned char)s[i])) error("bad number");
        while (i < s.size() && (isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                                s[i] == '+' || s[i] == '-'))
            i++;
        std::string tok = s.substr(start, i - start);
        char* end = nullptr;
        double v = strtod(tok.c_str(), &end);
        if (*end) error("bad number");
        return v;
    }

    Json value(int depth) {
        if (depth > 64) error("nesting too deep");
        ws();
        if (i >= s.size()) error("unexpected end of input");
        Json j;
        char c = s[i];
        if (c == '{') {
            j.type = Json::Object;
            i++;
            ws();
            if (i < s.size() && s[i] == '}') { i++; return j; }
            while (true) {
                ws();
                std::string k = string();
                ws();
                if (i >= s.size() || s[i] != ':') error("expected ':'");
                i++;
                j.obj.emplace_back(std::move(k), value(depth + 1));
                ws();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                if (i < s.size() && s[i] == '}') { i++; break; }
                error("expected ',' or '}'");
            }
        } else if (c == '[') {
            j.type = Json::Array;
            i++;
            ws();
            if (i < s.size() && s[i] == ']') { i++; return j; }
            while (true) {
                j.arr.push_back(value(depth + 1));
                ws();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                if (i < s.size() && s[i] == ']') { i++; break; }
                error("expected ',' or ']'");
            }
        } else if (c == '"') {
            j.type = Json::String;
            j.str = string();
        } else if (c == 't') {
            expect_word("true"); j.type = Json::Bool; j.b = true;
        } else if (c == 'f') {
            expect_word("false"); j.type = Json::Bool;
        } else if (c == 'n') {
            expect_word("null");
        } else if (c == 'N' || c == 'I') {
            // Python's json writes NaN/Infinity (e.g. in some config.json files)
            if (s.compare(i, 3, "NaN") == 0) { i += 3; j.num = NAN; }
            else { expect_word("Infinity"); j.num = INFINITY; }
            j.type = Json::Number;
        } else {
            if (c == '-' && s.compare(i, 9, "-Infinity") == 0) { i += 9; j.type = Json::Number; j.num = -INFINITY; return j; }
            j.type = Json::Number;
            j.num = number();
        }
        return j;
    }
};

}  // namespace

Json parse_json(const std::string& text, const std::string& what) {
    Parser p{text, what};
    // A leading UTF-8 byte order mark (Windows editors write one) is not part of the document;
    // RFC 8259 §8.1 lets parsers ignore it. Byte offsets in errors still count from the file start.
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) p.i = 3;
    Json j = p.value(0);
    p.ws();
    if (p.i != text.size()) p.error("trailing characters after the document");
    return j;
}

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) out += strformat("\\u%04x", c);
                else out += (char)c;
        }
    }
    return out + "\"";
}

}  // namespace reco
