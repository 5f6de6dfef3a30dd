// text_clean.cpp — CLIP's pre-BPE text cleaning (see text_clean.h for what it follows and where it
// differs from Python). The Unicode and HTML tables are generated: src/unicode_tables.inc.
#include "text_clean.h"

#include <algorithm>
#include <cstring>

namespace reco {

namespace {
struct CodeRange { char32_t lo, hi; };
struct LowerRun { char32_t first, last; int stride, delta; };
struct HtmlEntity { const char* name; char32_t cp; int legacy; };
#include "unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t c) {
    // binary search for the last range with lo <= c
    const CodeRange* it = std::upper_bound(table, table + N, c,
                                           [](char32_t v, const CodeRange& r) { return v < r.lo; });
    return it != table && c <= (it - 1)->hi;
}

char32_t lower_simple(char32_t c) {
    const LowerRun* end = kLowerRuns + sizeof kLowerRuns / sizeof kLowerRuns[0];
    const LowerRun* it = std::upper_bound(kLowerRuns, end, c,
                                          [](char32_t v, const LowerRun& r) { return v < r.first; });
    if (it == kLowerRuns) return c;
    const LowerRun& r = *(it - 1);
    if (c > r.last) return c;
    if (r.stride > 1 && (c - r.first) % r.stride != 0) return c;
    return (char32_t)((int)c + r.delta);
}

// Approximations of Unicode's Cased and Case_Ignorable properties, used only by the final-sigma rule.
bool approx_cased(char32_t c) {
    if (!uni_is_letter(c)) return false;
    if (lower_simple(c) != c) return true;  // an upper/title-case letter
    return (c >= 0x61 && c <= 0x7A) || c == 0xAA || c == 0xB5 || c == 0xBA ||
           (c >= 0xDF && c <= 0x2AF && c != 0x1BB && !(c >= 0x1C0 && c <= 0x1C3) && c != 0x294) ||
           (c >= 0x370 && c <= 0x52F) || (c >= 0x560 && c <= 0x588) || (c >= 0x10D0 && c <= 0x10FF) ||
           (c >= 0x1D00 && c <= 0x1DBF) || (c >= 0x1E00 && c <= 0x1FFF) || (c >= 0x2C00 && c <= 0x2D2F) ||
           (c >= 0xA640 && c <= 0xA7FF) || (c >= 0xFF41 && c <= 0xFF5A);
}
bool approx_case_ignorable(char32_t c) {
    static const char32_t singles[] = {0x27, 0x2E, 0x3A, 0x5E, 0x60, 0xA8, 0xAD, 0xAF, 0xB4, 0xB7, 0xB8,
                                       0x374, 0x375, 0x37A, 0x384, 0x385, 0x387, 0x559, 0x2018, 0x2019,
                                       0x2024, 0x2027, 0xFEFF};
    for (char32_t s : singles)
        if (c == s) return true;
    return (c >= 0x2B0 && c <= 0x36F) || (c >= 0x483 && c <= 0x489) || (c >= 0x1AB0 && c <= 0x1AFF) ||
           (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2060 && c <= 0x2064) || (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE00 && c <= 0xFE0F);
}

// CPython's handle_capital_sigma: Σ is final when  \p{Cased} \p{Case_Ignorable}* Σ  is not followed by
// \p{Case_Ignorable}* \p{Cased}.
bool sigma_is_final(const std::u32string& s, size_t i) {
    size_t j = i;
    while (j > 0 && approx_case_ignorable(s[j - 1])) j--;
    if (j == 0 || !approx_cased(s[j - 1])) return false;
    size_t k = i + 1;
    while (k < s.size() && approx_case_ignorable(s[k])) k++;
    return k == s.size() || !approx_cased(s[k]);
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Python html._invalid_charrefs for 0x80..0x9F: Windows-1252 (0x81 0x8D 0x8F 0x90 0x9D stay as they are).
const char32_t kCp1252[32] = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                              0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                              0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                              0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};

// html._replace_charref for a numeric reference; appends 0 or 1 code point.
void append_numeric_ref(std::u32string& out, unsigned long num) {
    if (num == 0) { out += 0xFFFD; return; }
    if (num == 0x0D) { out += U'\r'; return; }
    if (num >= 0x80 && num <= 0x9F) { out += kCp1252[num - 0x80]; return; }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { out += 0xFFFD; return; }
    bool invalid = (num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) ||
                   (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
                   (num & 0xFFFE) == 0xFFFE;
    if (!invalid) out += (char32_t)num;
}

// Lookup in kHtmlEntities. `with_semicolon`: the reference ended in ';' (then every name counts),
// otherwise only the legacy names do. Returns 0 when unknown.
char32_t find_entity(const std::string& name, bool with_semicolon) {
    const HtmlEntity* end = kHtmlEntities + sizeof kHtmlEntities / sizeof kHtmlEntities[0];
    auto less = [](const HtmlEntity& e, const std::string& n) { return strcmp(e.name, n.c_str()) < 0; };
    const HtmlEntity* it = std::lower_bound(kHtmlEntities, end, name, less);
    if (it == end || name != it->name) return 0;
    return (with_semicolon || it->legacy) ? it->cp : 0;
}
}  // namespace

bool uni_is_letter(char32_t c) { return in_ranges(kLetterRanges, c); }
bool uni_is_number(char32_t c) { return in_ranges(kNumberRanges, c); }
bool uni_is_space(char32_t c) { return in_ranges(kSpaceRanges, c); }
bool uni_is_py_space(char32_t c) {
    for (char32_t s : kPySpace)
        if (c == s) return true;
    return false;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += (char)cp;
    } else if (cp < 0x800) {
        out += (char)(0xC0 | (cp >> 6));
        out += (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += (char)(0xE0 | (cp >> 12));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    } else {
        out += (char)(0xF0 | (cp >> 18));
        out += (char)(0x80 | ((cp >> 12) & 0x3F));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    }
}

std::string u32_to_utf8(const std::u32string& s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) utf8_append(out, c);
    return out;
}

std::u32string utf8_to_u32(const std::string& s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0, n = s.size();
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
        bool ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; k++) {
            unsigned char cb = (unsigned char)s[i + k];
            if ((cb & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (cb & 0x3F);
        }
        static const char32_t kMinForLen[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
        if (!ok) {
            out += 0xFFFD;
            i += 1;
        } else {
            out += cp;
            i += len;
        }
    }
    return out;
}

std::u32string py_lower(const std::u32string& s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        char32_t c = s[i];
        if (c == 0x130) {                    // İ -> i + COMBINING DOT ABOVE
            out += U'i';
            out += 0x307;
        } else if (c == 0x3A3) {             // Σ -> ς at the end of a word, σ elsewhere
            out += sigma_is_final(s, i) ? 0x3C2 : 0x3C3;
        } else {
            out += lower_simple(c);
        }
    }
    return out;
}

// Python's html.unescape: the regex  &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// is scanned left to right; each match is replaced as html._replace_charref does.
std::u32string html_unescape(const std::u32string& s) {
    if (s.find(U'&') == std::u32string::npos) return s;
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0, n = s.size();
    while (i < n) {
        if (s[i] != U'&') {
            out += s[i++];
            continue;
        }
        size_t j = i + 1;
        if (j < n && s[j] == U'#') {
            // numeric: decimal, or hex after x/X; anything else leaves the '&' literal
            bool hex = j + 2 < n && (s[j + 1] == U'x' || s[j + 1] == U'X') && is_ascii_hex(s[j + 2]);
            bool dec = j + 1 < n && is_ascii_digit(s[j + 1]);
            if (!hex && !dec) {
                out += s[i++];
                continue;
            }
            size_t k = hex ? j + 2 : j + 1;
            unsigned long num = 0;
            for (; k < n && (hex ? is_ascii_hex(s[k]) : is_ascii_digit(s[k])); k++) {
                char32_t d = s[k];
                unsigned v = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
                if (num <= 0x10FFFF) num = num * (hex ? 16 : 10) + v;  // saturates above 0x10FFFF
            }
            if (k < n && s[k] == U';') k++;
            append_numeric_ref(out, num);
            i = k;
            continue;
        }
        // named: up to 32 characters outside [\t\n\f <&#;], then an optional ';'
        size_t k = j;
        while (k < n && k - j < 32 && s[k] != U'\t' && s[k] != U'\n' && s[k] != U'\f' && s[k] != U' ' &&
               s[k] != U'<' && s[k] != U'&' && s[k] != U'#' && s[k] != U';')
            k++;
        if (k == j) {
            out += s[i++];
            continue;
        }
        bool semi = k < n && s[k] == U';';
        std::string name;  // entity names are ASCII; a non-ASCII character simply never matches
        for (size_t q = j; q < k; q++) name += s[q] < 0x80 ? (char)s[q] : '\x01';
        char32_t cp = find_entity(name, semi);
        size_t end = semi ? k + 1 : k;
        if (cp) {
            out += cp;
            i = end;
            continue;
        }
        // the longest legacy name that is a prefix (length >= 2), the rest stays literal
        size_t len = name.size() + (semi ? 1 : 0);  // Python tries s[:x] for x = len(s)-1 .. 2
        bool found = false;
        for (size_t x = std::min(len - 1, name.size()); x >= 2; x--) {
            char32_t p = find_entity(name.substr(0, x), false);
            if (p) {
                out += p;
                out.append(s, j + x, end - (j + x));
                found = true;
                break;
            }
        }
        if (!found) out.append(s, i, end - i);
        i = end;
    }
    return out;
}

std::u32string clip_clean_text(const std::string& utf8) {
    std::u32string t = html_unescape(html_unescape(utf8_to_u32(utf8)));
    // basic_clean's strip(), then whitespace_clean: \s+ -> ' ', strip()
    std::u32string collapsed;
    collapsed.reserve(t.size());
    size_t a = 0, b = t.size();
    while (a < b && uni_is_py_space(t[a])) a++;
    while (b > a && uni_is_py_space(t[b - 1])) b--;
    for (size_t i = a; i < b; i++) {
        bool space = uni_is_space(t[i]);
        if (!space) collapsed += t[i];
        else if (i == a || !uni_is_space(t[i - 1])) collapsed += U' ';  // first of a run
    }
    a = 0, b = collapsed.size();
    while (a < b && uni_is_py_space(collapsed[a])) a++;
    while (b > a && uni_is_py_space(collapsed[b - 1])) b--;
    return py_lower(collapsed.substr(a, b - a));
}

}  // namespace reco
