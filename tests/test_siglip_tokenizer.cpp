// test_siglip_tokenizer.cpp — the SigLIP tokenizer (src/siglip_tokenizer.h) against Hugging Face's
// SiglipTokenizer (transformers 4.49 + Python sentencepiece), as dumped by tools/make_siglip_fixtures.py:
//   * tests/fixtures/tiny_siglip_{f32,f16}/: the processor's input_ids (padding="max_length",
//     truncation=True) for every line of texts.txt — f32 pads with </s> (1), f16 with <pad> (0); the f32
//     spiece.model normalises with nmt_nfkc, the f16 one not at all,
//   * tests/fixtures/siglip_tokenizer.tsv: 199 texts (shared captions and prompts, canonicalisation and
//     special-token edge cases) -> ids with both tokenizers, and the untruncated length,
//   * a missing or corrupt spiece.model and bad special tokens -> reco::Error naming the file,
//   * the truncation flag at its boundary.
// Everything here is committed under tests/fixtures: no ../shared/data needed.
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <unistd.h>

#include "common.h"
#include "safetensors.h"
#include "siglip/siglip_tokenizer.h"
#include "test_util.h"
#include "tsv_fields.h"
#include "text_clean.h"

using namespace reco;
using testutil::contains;
using testutil::error_of;

namespace {

using tsv::join_ids;
using tsv::parse_ids;
using tsv::split;
std::string unescape_field(const std::string& s) { return tsv::unescape_field(s, true); }

const char* kDirs[] = {"tests/fixtures/tiny_siglip_f32", "tests/fixtures/tiny_siglip_f16"};

const SiglipTokenizer& fixture_tokenizer(int k) {
    static SiglipTokenizer a = SiglipTokenizer::from_model_dir(kDirs[0]);
    static SiglipTokenizer b = SiglipTokenizer::from_model_dir(kDirs[1]);
    return k == 0 ? a : b;
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/reco_spm_XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { run_cmd("rm -rf '" + path + "'"); }
    std::string file(const std::string& name, const std::string& content) const {
        std::string p = path + "/" + name;
        write_file_atomic(p, content.data(), content.size());
        return p;
    }
};

}  // namespace

TEST_CASE("siglip tokenizer: the fixtures' special tokens, pad ids and length") {
    const SiglipTokenizer& a = fixture_tokenizer(0);
    const SiglipTokenizer& b = fixture_tokenizer(1);
    CHECK(a.vocab_size() == 1000);
    CHECK(b.vocab_size() == 700);
    CHECK(a.eos_id() == 1);
    CHECK(b.eos_id() == 1);
    CHECK(a.unk_id() == 2);
    CHECK(a.pad_id() == 1);  // pad_token "</s>", SiglipTokenizer's default (as google/siglip-*)
    CHECK(b.pad_id() == 0);  // pad_token "<pad>"
    CHECK(a.max_length() == 64);
    CHECK(SiglipTokenizer::from_model_dir(kDirs[0], 16).max_length() == 16);
}

TEST_CASE("siglip tokenizer: input_ids equal the HF processor's on every fixture text (both fixtures)") {
    for (int k = 0; k < 2; k++) {
        const std::string dir = kDirs[k];
        const SiglipTokenizer& tok = fixture_tokenizer(k);
        SafeTensors ref(dir + "/reference.safetensors");
        const TensorInfo& info = ref.info("input_ids");
        REQUIRE(info.dtype == DType::I64);
        std::vector<std::string> texts = split(read_file(dir + "/texts.txt"), '\n');
        REQUIRE(texts.back().empty());  // the file ends with "\n"; lines are not stripped
        texts.pop_back();
        REQUIRE(info.shape == std::vector<int64_t>{(int64_t)texts.size(), 64});
        const int64_t* want = (const int64_t*)ref.raw("input_ids");
        int n_truncated = 0;
        for (size_t r = 0; r < texts.size(); r++) {
            bool truncated = false;
            std::vector<int> got = tok.tokenize(texts[r], &truncated);
            std::vector<int> exp(want + r * 64, want + (r + 1) * 64);
            INFO(dir << " text " << r << ": \"" << texts[r] << "\"");
            CHECK(join_ids(got) == join_ids(exp));
            n_truncated += truncated;
            if (truncated) CHECK(got.back() == tok.eos_id());
        }
        CHECK(n_truncated == 1);  // the last text, and only it, has more than 63 ids
        CHECK(tok.tokenize(texts.back()).back() == 1);
    }
}

TEST_CASE("siglip tokenizer: ids equal HF's on the 199 texts of siglip_tokenizer.tsv (both tokenizers)") {
    std::vector<std::string> lines = split(read_file("tests/fixtures/siglip_tokenizer.tsv"), '\n');
    int rows = 0, mismatches = 0, truncated_rows = 0;
    for (const std::string& line : lines) {
        if (line.empty() || (rows == 0 && line.rfind("# ", 0) == 0)) continue;  // header (a text may begin with #)
        std::vector<std::string> f = split(line, '\t');
        REQUIRE(f.size() == 5);
        const std::string text = unescape_field(f[0]);
        rows++;
        for (int k = 0; k < 2; k++) {
            const SiglipTokenizer& tok = fixture_tokenizer(k);
            std::vector<int> want = parse_ids(f[1 + 2 * k]);
            const int full_len = atoi(f[2 + 2 * k].c_str());
            bool truncated = false;
            std::vector<int> got = tok.tokenize(text, &truncated);
            std::vector<int> exp = want;
            exp.resize(64, tok.pad_id());
            INFO(kDirs[k] << ": \"" << f[0] << "\"");
            if (join_ids(got) != join_ids(exp)) {
                mismatches++;
                CHECK(join_ids(got) == join_ids(exp));
            }
            CHECK(truncated == (full_len > 64));
            truncated_rows += truncated;
            // the untruncated length: the ids, plus "</s>" unless they already end with it
            std::vector<int> ids = tok.encode(text);
            const int len = (int)ids.size() + (!ids.empty() && ids.back() == tok.eos_id() ? 0 : 1);
            CHECK(len == full_len);
        }
    }
    CHECK(rows == 199);
    CHECK(mismatches == 0);
    CHECK(truncated_rows == 10);
}

TEST_CASE("siglip tokenizer: canonicalize_text as SiglipTokenizer's") {
    auto canon = [](const std::string& s) { return u32_to_utf8(siglip_canonicalize_text(utf8_to_u32(s))); };
    CHECK(canon("  A photo, of -- a CAT!!  ") == "A photo of a CAT");    // no lower-casing here
    CHECK(canon("it's 3:45pm (sure)?") == "its 345pm sure");
    CHECK(canon("a\t\n b\u00a0\u3000c\x1c d") == "a b c d");                // str.isspace(), incl. U+001C
    CHECK(canon("«quotes» ¿qué? ‘x’") == "«quotes» ¿qué ‘x’");              // only ASCII punctuation goes
    CHECK(canon("!!!") == "");
    CHECK(canon("\u2581a") == "\u2581a");                                 // "▁" is neither
}

TEST_CASE("siglip tokenizer: the truncation flag is set exactly when ids are cut off") {
    const SiglipTokenizer& tok = fixture_tokenizer(0);
    // "a a a ..." : find the word counts around the boundary by encoding
    std::string text;
    int last_untruncated = -1, first_truncated = -1;
    for (int n = 1; n <= 80 && first_truncated < 0; n++) {
        text += n == 1 ? "a" : " a";
        const size_t len = tok.encode(text).size();
        bool truncated = true;
        std::vector<int> ids = tok.tokenize(text, &truncated);
        REQUIRE(ids.size() == 64);
        CHECK(truncated == (len + 1 > 64));
        if (!truncated) {
            last_untruncated = n;
            CHECK(ids[len] == tok.eos_id());                       // ids, </s>, then padding
            for (size_t i = len + 1; i < 64; i++) CHECK(ids[i] == tok.pad_id());
        } else {
            first_truncated = n;
            CHECK(ids[63] == tok.eos_id());
        }
    }
    CHECK(last_untruncated > 0);
    CHECK(first_truncated == last_untruncated + 1);
    bool t = true;
    tok.tokenize("", &t);
    CHECK_FALSE(t);
    CHECK(tok.tokenize("")[0] == tok.eos_id());
    CHECK(tok.tokenize("")[1] == tok.pad_id());
}

TEST_CASE("siglip tokenizer: a missing or corrupt spiece.model is a reco::Error naming the file") {
    TempDir tmp;
    // missing: from_model_dir of a folder without spiece.model, and a path that does not exist
    std::string e = error_of([&] { SiglipTokenizer::from_model_dir(tmp.path); });
    CHECK(contains(e, tmp.path + "/spiece.model"));
    e = error_of([&] { SiglipTokenizer(tmp.path + "/nope.model", SiglipTokenizer::Options()); });
    CHECK(contains(e, tmp.path + "/nope.model"));

    const std::string good = read_file(std::string(kDirs[1]) + "/spiece.model");
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"empty.model", ""},
        {"text.model", "this is not a sentencepiece model\n"},
        {"half.model", good.substr(0, good.size() / 2)},
        {"garbage.model", std::string("\x0a\xff\xff\xff\xff\x0f", 6) + good.substr(100, 200)},
        {"json.model", "{\"model_type\": \"unigram\"}"},
    };
    for (const auto& [name, bytes] : bad) {
        const std::string p = tmp.file(name, bytes);
        e = error_of([&] { SiglipTokenizer(p, SiglipTokenizer::Options()); });
        INFO(name << ": " << e);
        CHECK(contains(e, p));
    }
    // a model whose pieces do not include the special tokens of the config
    const std::string p = tmp.file("spiece.model", good);
    SiglipTokenizer::Options opt;
    opt.eos_token = "<eos>";
    e = error_of([&] { SiglipTokenizer(p, opt); });
    CHECK(contains(e, p));
    CHECK(contains(e, "<eos>"));
    // the same file with the default options loads
    CHECK(error_of([&] { SiglipTokenizer(p, SiglipTokenizer::Options()); }) == "");
    // a broken tokenizer_config.json names itself
    tmp.file("tokenizer_config.json", "{\"eos_token\": ");
    e = error_of([&] { SiglipTokenizer::from_model_dir(tmp.path); });
    CHECK(contains(e, "tokenizer_config.json"));
}
