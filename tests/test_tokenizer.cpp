// test_tokenizer.cpp — the CLIP BPE tokenizer against OpenAI's own outputs:
//   * the 98 vectors of ../shared/data/clip/tokenizer_vectors.tsv (each re-derived with openai/CLIP),
//   * the anchors of research/anchors.md B, and the one vector where HF and openai disagree (&amp;),
//   * tests/fixtures/tokenizer_openai_unicode.tsv: 467 texts whose cleaned text, pre-tokenizer pieces and
//     encode() ids (no SOT/EOT, no truncation) were produced by openai's simple_tokenizer.py itself with
//     ftfy.fix_text replaced by the identity, as reco does not apply ftfy (tools/make_tokenizer_fixture.py),
//     on HTML references, Unicode case/letter/number/space edge cases and random mixed-script strings;
//     ftfy would change 260 of these texts, so they say nothing about ftfy's repairs,
//   * the O(n log n) BPE against openai's bpe() loop ported line for line (tokenizer_reference.h), on the
//     real merges and on random merge tables, and its time on a 200,000-letter word,
//   * clip.tokenize's zero padding and truncate=True, the `reco tokenize` command, and bad or mismatched
//     vocab.json / merges.txt / config.json files.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "common.h"
#include "test_util.h"
#include "tsv_fields.h"
#include "text_clean.h"
#include "tokenizer.h"
#include "tokenizer_reference.h"

using namespace reco;
using testutil::contains;
using testutil::error_of;

namespace {

using tsv::join_ids;
using tsv::parse_ids;
using tsv::split;
// the OpenAI fixture keeps unknown backslash pairs as they are
std::string unescape_field(const std::string& s) { return tsv::unescape_field(s, false); }

std::string vocab_dir() { return testutil::shared_data() + "/clip/hf_tokenizer"; }

const Tokenizer& shared_tokenizer() {
    static Tokenizer tok = Tokenizer::from_model_dir(vocab_dir());
    return tok;
}

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> lines = split(read_file(path), '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

std::vector<int> padded(std::vector<int> ids) {
    ids.resize(kContext, 0);
    return ids;
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/reco_tok_XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { run_cmd("rm -rf '" + path + "'"); }
    std::string file(const std::string& name, const std::string& content) const {
        std::string p = path + "/" + name;
        write_file_atomic(p, content.data(), content.size());
        return p;
    }
};

std::string abs_path(const std::string& p) {
    char* r = realpath(p.c_str(), nullptr);
    std::string s = r ? r : p;
    free(r);
    return s;
}

}  // namespace

TEST_CASE("tokenizer: loads the real 49408-token vocab.json and 48894 merges in well under 0.5 s") {
    REQUIRE_SHARED_DATA();
    auto t0 = std::chrono::steady_clock::now();
    Tokenizer tok = Tokenizer::from_model_dir(vocab_dir());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("tokenizer: vocab.json + merges.txt loaded in %.3f s\n", s);
    CHECK(tok.vocab_size() == 49408);
    CHECK(s < 0.5);
}

TEST_CASE("tokenizer: every vector of shared/data/clip/tokenizer_vectors.tsv") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    int total = 0, matched = 0;
    for (const std::string& line : read_lines(testutil::shared_data() + "/clip/tokenizer_vectors.tsv")) {
        if (!line.empty() && line[0] == '#') continue;
        size_t tab = line.rfind('\t');
        REQUIRE(tab != std::string::npos);
        std::string text = unescape_field(line.substr(0, tab));
        std::vector<int> want = parse_ids(line.substr(tab + 1));
        std::vector<int> got = tok.tokenize(text);
        total++;
        if (got == padded(want)) {
            matched++;
        } else {
            INFO("text: " << text);
            INFO("want: " << join_ids(want));
            CHECK(join_ids(got) == join_ids(padded(want)));
        }
    }
    printf("tokenizer: %d/%d shared tokenizer vectors match exactly\n", matched, total);
    CHECK(total == 98);
    CHECK(matched == total);
}

TEST_CASE("tokenizer: anchors.md B test vectors") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    struct Case { const char* text; std::vector<int> ids; };
    const Case cases[] = {
        {"a photo of a cat", {49406, 320, 1125, 539, 320, 2368, 49407}},
        {"a photo of a dog", {49406, 320, 1125, 539, 320, 1929, 49407}},
        {"a diagram", {49406, 320, 22697, 49407}},
        {"a dog", {49406, 320, 1929, 49407}},
        {"a cat", {49406, 320, 2368, 49407}},
        {"Hello, world!", {49406, 3306, 267, 1002, 256, 49407}},
        {"A PHOTO of  a Cat!", {49406, 320, 1125, 539, 320, 2368, 256, 49407}},
        {"don't stop 42 times", {49406, 847, 713, 1691, 275, 273, 1661, 49407}},
        {"", {49406, 49407}},
    };
    for (const Case& c : cases) {
        INFO("text: '" << c.text << "'");
        CHECK(tok.tokenize(c.text) == padded(c.ids));
        CHECK(tok.encode(c.text) == std::vector<int>(c.ids.begin() + 1, c.ids.end() - 1));
    }
    // special tokens typed in the text map to their ids, as openai's bpe cache does
    CHECK(tok.encode("<|endoftext|>") == std::vector<int>{kEOT});
    CHECK(tok.encode("a cat<|startoftext|>") == std::vector<int>{320, 2368, kSOT});
}

TEST_CASE("tokenizer: zero padding to 77 and truncate=True") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    std::vector<int> t = tok.tokenize("a cat");
    REQUIRE(t.size() == 77);
    for (size_t k = 4; k < 77; k++) CHECK(t[k] == 0);

    // "a photo " repeated: 320 1125 320 1125 ... (ids from anchors.md B)
    auto repeat = [](int n_ids) {
        std::string s;
        for (int k = 0; k < n_ids; k++) s += (k % 2 == 0) ? "a " : "photo ";
        return s;
    };
    for (int n_ids : {74, 75, 76, 120}) {
        INFO("ids in text: " << n_ids);
        std::string text = repeat(n_ids);
        REQUIRE(tok.encode(text).size() == (size_t)n_ids);
        std::vector<int> out = tok.tokenize(text);
        REQUIRE(out.size() == 77);
        CHECK(out[0] == kSOT);
        int kept = std::min(n_ids, 75);
        for (int k = 0; k < kept; k++) CHECK(out[1 + k] == (k % 2 == 0 ? 320 : 1125));
        CHECK(out[1 + kept] == kEOT);
        for (int k = 2 + kept; k < 77; k++) CHECK(out[k] == 0);
    }
}

TEST_CASE("tokenizer: &amp; gives openai's answer, not the Hugging Face one (tokenizer_vectors_hf_only.tsv)") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    std::vector<int> openai_ids, hf_ids;
    std::string text;
    const std::string marker = "# openai/CLIP simple_tokenizer gives instead:";
    for (const std::string& line : read_lines(testutil::shared_data() + "/clip/tokenizer_vectors_hf_only.tsv")) {
        if (line.compare(0, marker.size(), marker) == 0) openai_ids = parse_ids(line.substr(marker.size()));
        else if (!line.empty() && line[0] != '#') {
            size_t tab = line.rfind('\t');
            text = unescape_field(line.substr(0, tab));
            hf_ids = parse_ids(line.substr(tab + 1));
        }
    }
    REQUIRE(text == "&amp;");
    REQUIRE(openai_ids == std::vector<int>{49406, 261, 49407});
    CHECK(tok.tokenize(text) == padded(openai_ids));
    CHECK(tok.tokenize(text) != padded(hf_ids));
}

// The fixture's reference is simple_tokenizer with ftfy.fix_text replaced by the identity (see
// tools/make_tokenizer_fixture.py): it checks reco's documented no-ftfy pipeline, not ftfy's repairs.
TEST_CASE("tokenizer: cleaning, pieces and ids equal openai simple_tokenizer (ftfy off) on Unicode/HTML fixture") {
    std::string path = "tests/fixtures/tokenizer_openai_unicode.tsv";
    REQUIRE(testutil::exists(path));
    const Tokenizer* tok = testutil::have_shared() ? &shared_tokenizer() : nullptr;
    if (!tok) printf("tokenizer fixture: ids SKIPPED, ../shared/data not found (cleaning and pieces checked)\n");
    int rows = 0, clean_ok = 0, pieces_ok = 0, ids_ok = 0;
    for (const std::string& line : read_lines(path)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> f = split(line, '\t');
        REQUIRE(f.size() == 4);
        std::string text = unescape_field(f[0]), cleaned = unescape_field(f[1]), pieces = unescape_field(f[2]);
        std::vector<int> ids = parse_ids(f[3]);
        rows++;
        INFO("row " << rows << " text: " << f[0]);
        std::u32string c = clip_clean_text(text);
        std::string got_clean = u32_to_utf8(c);
        std::string got_pieces;
        for (const std::string& p : clip_pre_tokenize(c)) got_pieces += (got_pieces.empty() ? "" : " ") + p;
        CHECK(got_clean == cleaned);
        CHECK(got_pieces == pieces);
        clean_ok += got_clean == cleaned;
        pieces_ok += got_pieces == pieces;
        if (tok) {
            std::vector<int> got = tok->encode(text);
            CHECK(join_ids(got) == join_ids(ids));
            ids_ok += got == ids;
        }
    }
    printf("tokenizer fixture: %d rows; cleaned %d, pieces %d, ids %d match openai\n", rows, clean_ok, pieces_ok,
           tok ? ids_ok : -1);
    CHECK(rows > 400);
}

TEST_CASE("tokenizer: text cleaning closed cases (Python facts)") {
    auto clean = [](const std::string& s) { return u32_to_utf8(clip_clean_text(s)); };
    CHECK(clean("  A\t\nB  ") == "a b");
    CHECK(clean("&amp;amp;") == "&");                 // unescaped twice
    CHECK(clean("&lt;b&gt;&#65;&#x42;") == "<b>ab");  // lowercased after unescaping
    CHECK(clean("&#0;") == "\xEF\xBF\xBD");            // U+FFFD
    CHECK(clean("&#150;") == "\xE2\x80\x93");          // Windows-1252 0x96 = EN DASH
    CHECK(clean("a&nbsp;&nbsp;b") == "a b");           // NBSP is \s
    CHECK(clean("ΟΔΟΣ") == "οδος");                    // final sigma
    CHECK(clean("İ") == "i\xCC\x87");                  // i + U+0307
    // invalid UTF-8 never crashes: one U+FFFD per bad byte
    CHECK(utf8_to_u32(std::string("a\xC3(\xFF\xE2\x82", 6)) == U"a\uFFFD(\uFFFD\uFFFD\uFFFD");
    CHECK(utf8_to_u32("\xED\xA0\x80") == U"\uFFFD\uFFFD\uFFFD");  // a UTF-8-encoded surrogate
    CHECK(utf8_to_u32("\xC0\xAF") == U"\uFFFD\uFFFD");            // overlong '/'
}

TEST_CASE("tokenizer: invalid UTF-8 input is tokenized, not a crash") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    std::vector<int> ids = tok.tokenize(std::string("caf\xE9 \xFF\xFE", 7));
    CHECK(ids[0] == kSOT);
    CHECK(ids.size() == 77);
}

TEST_CASE("tokenizer: reco tokenize command") {
    REQUIRE_SHARED_DATA();
    TempDir d;
    REQUIRE(symlink(abs_path(vocab_dir() + "/vocab.json").c_str(), (d.path + "/vocab.json").c_str()) == 0);
    REQUIRE(symlink(abs_path(vocab_dir() + "/merges.txt").c_str(), (d.path + "/merges.txt").c_str()) == 0);
    std::string out;
    int rc = run_cmd(testutil::reco_bin() + "tokenize --model " + d.path + " 'a photo of a cat' '' 'Hello, world!'", &out);
    INFO(out);
    REQUIRE(rc == 0);
    std::vector<std::string> lines = split(out, '\n');
    REQUIRE(lines.size() == 4);
    CHECK(lines[3].empty());
    CHECK(lines[0] == join_ids(padded({49406, 320, 1125, 539, 320, 2368, 49407})));
    CHECK(lines[1] == join_ids(padded({49406, 49407})));
    CHECK(lines[2] == join_ids(padded({49406, 3306, 267, 1002, 256, 49407})));

    // no text, missing directory, missing vocab.json: clear errors, exit status 1
    CHECK(run_cmd(testutil::reco_bin() + "tokenize --model " + d.path, &out) == 1);
    CHECK(contains(out, "TEXT"));
    CHECK(run_cmd(testutil::reco_bin() + "tokenize --model " + d.path + "/nope x", &out) == 1);
    CHECK(contains(out, "/nope"));
    TempDir only_merges;
    REQUIRE(symlink(abs_path(vocab_dir() + "/merges.txt").c_str(), (only_merges.path + "/merges.txt").c_str()) == 0);
    CHECK(run_cmd(testutil::reco_bin() + "tokenize --model " + only_merges.path + " x", &out) == 1);
    CHECK(contains(out, only_merges.path + "/vocab.json"));
}

TEST_CASE("tokenizer: bad vocab.json files are clear errors naming the file") {
    TempDir d;
    std::string merges = d.file("merges.txt", "#version: 0.2\ni n\n");
    CHECK(contains(error_of([&] { Tokenizer(d.path + "/missing.json", merges); }), d.path + "/missing.json"));
    std::string corrupt = d.file("corrupt.json", "{\"a\": 1, \"b\": ");
    std::string e = error_of([&] { Tokenizer(corrupt, merges); });
    CHECK(contains(e, corrupt));
    CHECK(contains(e, "invalid JSON"));
    std::string array = d.file("array.json", "[1, 2, 3]");
    CHECK(contains(error_of([&] { Tokenizer(array, merges); }), array));
    std::string bad_id = d.file("bad_id.json", "{\"a\": 0, \"b\": \"one\"}");
    CHECK(contains(error_of([&] { Tokenizer(bad_id, merges); }), "\"b\""));
    std::string dup_id = d.file("dup_id.json", "{\"a\": 0, \"b\": 0}");
    CHECK(contains(error_of([&] { Tokenizer(dup_id, merges); }), "more than one token"));
    std::string no_bytes = d.file("no_bytes.json", "{\"a\": 0, \"b\": 1}");
    CHECK(contains(error_of([&] { Tokenizer(no_bytes, merges); }), "byte-level BPE"));
}

TEST_CASE("tokenizer: bad merges.txt files and a vocabulary without CLIP's special tokens") {
    REQUIRE_SHARED_DATA();
    TempDir d;
    std::string vocab = vocab_dir() + "/vocab.json";
    std::string bad_line = d.file("merges.txt", "#version: 0.2\ni n\nthis is bad\n");
    std::string e = error_of([&] { Tokenizer(vocab, bad_line); });
    CHECK(contains(e, bad_line));
    CHECK(contains(e, "line 3"));
    std::string unknown = d.file("unknown.txt", "#version: 0.2\ni n\nqqqqzzzz xxxxyyyy\n");
    e = error_of([&] { Tokenizer(vocab, unknown); });
    CHECK(contains(e, unknown));
    CHECK(contains(e, "line 3"));
    std::string blank = d.file("blank.txt", "#version: 0.2\ni n\n\nt h\n");
    CHECK(contains(error_of([&] { Tokenizer(vocab, blank); }), "line 3 is empty"));
    std::string empty = d.file("empty.txt", "#version: 0.2\n");
    CHECK(contains(error_of([&] { Tokenizer(vocab, empty); }), "no merges"));
    CHECK(contains(error_of([&] { Tokenizer(vocab, d.path + "/none.txt"); }), d.path + "/none.txt"));
    // the real merges with CRLF line ends and a trailing blank line load
    std::string crlf_text;
    for (const std::string& line : read_lines(vocab_dir() + "/merges.txt")) crlf_text += line + "\r\n";
    std::string crlf = d.file("crlf.txt", crlf_text + "\r\n");
    CHECK(error_of([&] { Tokenizer(vocab, crlf); }).empty());

    std::string text = read_file(vocab);
    size_t at = text.find("\"<|endoftext|>\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, 15, "\"<|end_of_text|>\"");
    std::string renamed = d.file("vocab_renamed.json", text);
    e = error_of([&] { Tokenizer(renamed, vocab_dir() + "/merges.txt"); });
    CHECK(contains(e, renamed));
    CHECK(contains(e, "<|endoftext|>"));
}

// Words that are one pre-tokenizer piece each (letters only): repeated letters and pairs, long runs,
// random mixes from small and large alphabets, multi-byte letters; lengths up to a few thousand bytes.
static std::vector<std::string> adversarial_words(uint32_t seed, int n_random) {
    std::vector<std::string> words;
    auto rep = [](const std::string& s, int n) {
        std::string out;
        for (int k = 0; k < n; k++) out += s;
        return out;
    };
    for (int n : {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 100, 255, 256, 1000, 2500}) {
        words.push_back(rep("a", n));
        words.push_back(rep("ab", n));
    }
    for (int n : {3, 10, 50, 400}) {
        words.push_back(rep("aab", n));
        words.push_back(rep("abc", n));
        words.push_back(rep("é", n));        // 2-byte letters
        words.push_back(rep("ß", n) + "s");
        words.push_back(rep("中", n));       // 3-byte letters
        words.push_back(rep("the", n) + "re");
        words.push_back(rep("an", n) + "a");
    }
    std::mt19937 rng(seed);
    const std::vector<std::string> small = {"a", "b", "c"}, latin = {"e", "r", "s", "t", "i", "n", "o", "a"};
    const std::vector<std::string> mixed = {"a", "z", "q", "é", "ß", "ж", "я", "中", "ğ", "ı", "ω", "ک", "ก"};
    for (int k = 0; k < n_random; k++) {
        const auto& alphabet = k % 3 == 0 ? small : k % 3 == 1 ? latin : mixed;
        int len = k % 10 == 0 ? 500 + (int)(rng() % 2500) : 1 + (int)(rng() % 40);
        std::string w;
        for (int i = 0; i < len; i++) w += alphabet[rng() % alphabet.size()];
        words.push_back(w);
    }
    for (int k = 0; k < n_random / 2; k++) {  // any lowercase letters
        std::string w;
        for (int i = 0, len = 1 + (int)(rng() % 30); i < len; i++) w += (char)('a' + rng() % 26);
        words.push_back(w);
    }
    return words;
}

TEST_CASE("tokenizer: the O(n log n) BPE equals openai's bpe() loop on random and adversarial words") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    tokref::OpenAiBpe ref(read_file(vocab_dir() + "/merges.txt"));
    int checked = 0, same = 0;
    for (const std::string& w : adversarial_words(1234, 300)) {
        REQUIRE(clip_pre_tokenize(clip_clean_text(w)).size() == 1);  // one piece: this is one bpe() call
        std::vector<int> want = ref.encode_piece(w), got = tok.encode(w);
        checked++;
        same += got == want;
        if (got != want) {
            INFO("word (" << w.size() << " bytes): " << w.substr(0, 80));
            CHECK(join_ids(got) == join_ids(want));
        }
    }
    printf("tokenizer: fast BPE = openai bpe() on %d/%d words (real merges)\n", same, checked);
    CHECK(same == checked);
}

TEST_CASE("tokenizer: the O(n log n) BPE equals openai's bpe() loop on merge tables in random rank order") {
    // Merges over a, b, c in random order: merging a pair often makes a pair of LOWER rank, which the
    // reference only takes after the current pass. Every table is CLIP-shaped so the loader accepts it.
    TempDir d;
    int checked = 0, same = 0;
    for (uint32_t seed : {1u, 2u, 3u, 4u}) {
        tokref::write_synthetic_tokenizer(d.path, seed, 20 + 20 * (int)seed);
        Tokenizer tok(d.path + "/vocab.json", d.path + "/merges.txt");
        tokref::OpenAiBpe ref(read_file(d.path + "/merges.txt"));
        std::mt19937 rng(seed);
        for (int k = 0; k < 400; k++) {
            std::string w;
            for (int i = 0, len = k % 20 == 0 ? 300 + (int)(rng() % 700) : 1 + (int)(rng() % 30); i < len; i++)
                w += (char)('a' + rng() % (k % 2 ? 2 : 3));
            std::vector<int> want = ref.encode_piece(w), got = tok.encode(w);
            checked++;
            same += got == want;
            if (got != want) {
                INFO("seed " << seed << " word: " << w.substr(0, 80));
                CHECK(join_ids(got) == join_ids(want));
            }
        }
    }
    printf("tokenizer: fast BPE = openai bpe() on %d/%d words (random merge tables)\n", same, checked);
    CHECK(same == checked);
}

TEST_CASE("tokenizer: a 200,000-letter word takes well under a second, not quadratic time") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    // openai's loop makes one pass over the word per distinct merge it applies: on random letters or
    // running text without spaces that is thousands of passes over 200,000 symbols (the old code took
    // about 20 s). The bound is loose enough for sanitizer builds and still catches the quadratic loop.
    std::mt19937 rng(7);
    std::string random_letters, run_on, a_run(200000, 'a');
    while (random_letters.size() < 200000) random_letters += (char)('a' + rng() % 26);
    while (run_on.size() < 200000) run_on += "thequickbrownfoxjumpsoverthelazydogwhilecaptionsgrowlonger";
    for (const std::string* w : {&random_letters, &run_on, &a_run}) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<int> ids = tok.tokenize(*w);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        printf("tokenizer: a %zu-letter word \"%.12s...\" tokenized in %.3f s\n", w->size(), w->c_str(), s);
        CHECK(s < 2.0);
        REQUIRE(ids.size() == 77);
        CHECK(ids[0] == kSOT);
        CHECK(ids[76] == kEOT);
        for (int k = 1; k < 76; k++) CHECK(ids[k] != 0);  // 75 ids of the word, no padding
    }
    // many words: tokenize stops once 75 ids exist
    std::string many;
    for (int k = 0; k < 200000; k++) many += "photo ";
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int> ids = tok.tokenize(many);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("tokenizer: 200,000 words tokenized in %.3f s\n", s);
    CHECK(s < 2.0);
    CHECK(ids[1] == 1125);
    CHECK(ids[76] == kEOT);
}

TEST_CASE("tokenizer: encode(text, max_ids) keeps the first max_ids ids of encode(text)") {
    REQUIRE_SHARED_DATA();
    const Tokenizer& tok = shared_tokenizer();
    std::string text = "a photo of a cat, extraordinarily photogenic; ";
    for (int k = 0; k < 6; k++) text += text;
    std::vector<int> all = tok.encode(text);
    for (size_t m : {0, 1, 2, 5, 75, 76, 200}) {
        std::vector<int> some = tok.encode(text, m);
        REQUIRE(some.size() >= std::min(m, all.size()));
        CHECK(std::equal(some.begin(), some.end(), all.begin()));
    }
}

TEST_CASE("tokenizer: vocab.json and merges.txt must match each other as simple_tokenizer builds them") {
    REQUIRE_SHARED_DATA();
    TempDir d;
    std::string vocab = vocab_dir() + "/vocab.json";
    std::vector<std::string> lines = read_lines(vocab_dir() + "/merges.txt");
    REQUIRE(lines.size() == 48895);
    auto merges_file = [&](const std::string& name, const std::vector<std::string>& ls) {
        std::string t;
        for (const std::string& l : ls) t += l + "\n";
        return d.file(name, t);
    };
    // truncated: the last merges missing (every remaining line is valid on its own)
    std::string trunc = merges_file("trunc.txt", std::vector<std::string>(lines.begin(), lines.end() - 100));
    std::string e = error_of([&] { Tokenizer(vocab, trunc); });
    CHECK(contains(e, trunc));
    CHECK(contains(e, "48794 merges"));
    CHECK(contains(e, "truncated"));
    // cut mid-line: the last line is a prefix of a merge
    std::string whole = read_file(vocab_dir() + "/merges.txt");
    std::string cut = d.file("cut.txt", whole.substr(0, whole.size() / 2));
    CHECK(!error_of([&] { Tokenizer(vocab, cut); }).empty());
    // two merges swapped: the count is right, the ids are not
    std::vector<std::string> swapped = lines;
    std::swap(swapped[1000], swapped[2000]);
    std::string sw = merges_file("swapped.txt", swapped);
    e = error_of([&] { Tokenizer(vocab, sw); });
    CHECK(contains(e, sw));
    CHECK(contains(e, "line 1001"));
    // a merge repeated in place of another
    std::vector<std::string> repeated = lines;
    repeated[3000] = repeated[10];
    std::string rp = merges_file("repeated.txt", repeated);
    CHECK(contains(error_of([&] { Tokenizer(vocab, rp); }), "line 3001"));
    // no header: simple_tokenizer would drop the first merge
    std::string nohead = merges_file("nohead.txt", std::vector<std::string>(lines.begin() + 1, lines.end()));
    e = error_of([&] { Tokenizer(vocab, nohead); });
    CHECK(contains(e, nohead));
    CHECK(contains(e, "#version"));
    CHECK(contains(error_of([&] { Tokenizer(vocab, d.file("empty0.txt", "")); }), "empty"));

    // vocab.json with two ids exchanged
    std::string vt = read_file(vocab);
    size_t a = vt.find("\"photo</w>\": 1125"), b = vt.find("\"cat</w>\": 2368");
    REQUIRE(a != std::string::npos);
    REQUIRE(b != std::string::npos);
    vt.replace(b, 15, "\"cat</w>\": 1125");
    vt.replace(a, 17, "\"photo</w>\": 2368");
    std::string ex = d.file("exchanged.json", vt);
    e = error_of([&] { Tokenizer(ex, vocab_dir() + "/merges.txt"); });
    CHECK(contains(e, ex));
    CHECK(contains(e, "id"));
    // byte symbols in another order
    std::string bt = read_file(vocab);
    size_t x = bt.find("\"!\": 0"), y = bt.find("\"\\\"\": 1");
    REQUIRE(x != std::string::npos);
    REQUIRE(y != std::string::npos);
    bt.replace(y, 7, "\"\\\"\": 0");
    bt.replace(x, 6, "\"!\": 1");
    std::string bo = d.file("byte_order.json", bt);
    e = error_of([&] { Tokenizer(bo, vocab_dir() + "/merges.txt"); });
    CHECK(contains(e, bo));
    CHECK(contains(e, "byte 0x21"));
}

TEST_CASE("tokenizer: from_model_dir checks config.json's text vocab_size") {
    REQUIRE_SHARED_DATA();
    TempDir d;
    REQUIRE(symlink(abs_path(vocab_dir() + "/vocab.json").c_str(), (d.path + "/vocab.json").c_str()) == 0);
    REQUIRE(symlink(abs_path(vocab_dir() + "/merges.txt").c_str(), (d.path + "/merges.txt").c_str()) == 0);
    CHECK(error_of([&] { Tokenizer::from_model_dir(d.path); }).empty());  // no config: files checked alone
    d.file("config.json", "{\"text_config\": {\"vocab_size\": 49408}, \"vision_config\": {}}");
    CHECK(error_of([&] { Tokenizer::from_model_dir(d.path); }).empty());
    d.file("config.json", "{\"text_config\": {}, \"vision_config\": {}}");  // transformers' default, 49408
    CHECK(error_of([&] { Tokenizer::from_model_dir(d.path); }).empty());
    d.file("config.json", "{\"text_config\": {\"vocab_size\": 32000}, \"vision_config\": {}}");
    std::string e = error_of([&] { Tokenizer::from_model_dir(d.path); });
    CHECK(contains(e, d.path + "/config.json"));
    CHECK(contains(e, "32000"));
    CHECK(contains(e, "49408"));
    d.file("config.json", "{\"text_config\": {\"vocab_size\": \"big\"}}");
    CHECK(contains(error_of([&] { Tokenizer::from_model_dir(d.path); }), "vocab_size"));
    d.file("config.json", "{\"text_config\": ");
    CHECK(contains(error_of([&] { Tokenizer::from_model_dir(d.path); }), d.path + "/config.json"));
}
