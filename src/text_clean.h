// text_clean.h — the text cleaning that OpenAI CLIP's tokenizer does before BPE, and the Unicode
// facts it needs (UTF-8, letter/number/space classes, lowercase, HTML character references).
//
// openai/CLIP clip/simple_tokenizer.py encodes   whitespace_clean(basic_clean(text)).lower()
//   basic_clean(t)      = ftfy.fix_text(t) -> html.unescape(html.unescape(.)) -> .strip()
//   whitespace_clean(t) = regex.sub(r'\s+', ' ', t).strip()
// clip_clean_text() does exactly this except for these documented differences:
//   * ftfy.fix_text is NOT applied (no mojibake repair, no NFC normalisation, curly quotes and
//     full-width forms stay as they are, control characters are kept, U+0085 stays a space instead
//     of becoming "…"). On text that ftfy leaves unchanged (all plain ASCII, most clean Unicode text)
//     the result is identical.
//   * html.unescape knows the 2,231 HTML5 names; we know 259 of them: the 252 HTML 4.01 names
//     (&amp; &lt; &gt; &quot; &nbsp; &eacute; &mdash; &hellip; &alpha; &euro; ...), &apos; and the 106
//     legacy names that also work without ';' (&amp &lt &AMP &copy ...). Numeric references
//     (&#NN; &#xHH;, ';' optional) follow Python exactly, including its replacement rules
//     (&#0; and surrogates -> U+FFFD, &#128;..&#159; -> Windows-1252, invalid code points -> nothing).
//   * str.lower(), the regex classes \p{L} \p{N} \s and str.isspace() come from tables generated from
//     Python 3.11 / unicodedata 14 / regex 2026.5.9 (src/unicode_tables.inc, tools/gen_unicode_tables.py),
//     so they are exact for every code point, except Python's final-sigma rule (Σ -> ς at the end of a
//     word), whose "cased" / "case-ignorable" tests are approximated for Latin, Greek, Cyrillic,
//     Armenian and Georgian (they differ from Unicode's Cased / Case_Ignorable on 20 code points below
//     U+0590, mostly modifier letters such as U+02B0; see approx_cased in text_clean.cpp).
//   Checked against openai's simple_tokenizer (ftfy off) on 467 Unicode/HTML texts
//   (tests/fixtures/tokenizer_openai_unicode.tsv, made by tools/make_tokenizer_fixture.py).
//   * invalid UTF-8 input (which Python could not hold in a str) decodes to U+FFFD, one per bad byte.
#pragma once
#include <string>

namespace reco {

// UTF-8 <-> code points. Invalid or overlong sequences and surrogates give U+FFFD per bad byte.
std::u32string utf8_to_u32(const std::string& s);
std::string u32_to_utf8(const std::u32string& s);
void utf8_append(std::string& out, char32_t cp);

// Character classes as CLIP's pre-tokenizer regex (module `regex`, IGNORECASE) sees them.
bool uni_is_letter(char32_t c);   // [\p{L}]
bool uni_is_number(char32_t c);   // [\p{N}]
bool uni_is_space(char32_t c);    // \s
bool uni_is_py_space(char32_t c); // str.isspace(): \s plus U+001C..U+001F

// Python's str.lower() (full mapping: U+0130 becomes "i" + U+0307; final sigma).
std::u32string py_lower(const std::u32string& s);

// Python's html.unescape() for the names listed above.
std::u32string html_unescape(const std::u32string& s);

// whitespace_clean(basic_clean(text)).lower() without ftfy (see above); returns code points.
std::u32string clip_clean_text(const std::string& utf8);

}  // namespace reco
