// tokenizer.h — the CLIP byte-level BPE tokenizer, as OpenAI's clip/simple_tokenizer.py + clip.tokenize().
//
// Pipeline (research/anchors.md B): clean the text (text_clean.h: html.unescape twice, strip, collapse
// whitespace, lowercase; ftfy is not applied), split it with CLIP's pre-tokenizer pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+   (IGNORECASE)
// map each piece's UTF-8 bytes through bytes_to_unicode, mark the last symbol with </w>, and merge the
// adjacent pair of lowest merge rank until none is left (in O(n log n) per piece, same result as openai's
// quadratic loop). Special tokens typed in the text map to their ids.
// Vocabulary and merges are read from the Hugging Face files vocab.json and merges.txt, and vocab.json
// must be exactly the vocabulary simple_tokenizer builds from merges.txt (so the ids are openai's).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace reco {

constexpr int kSOT = 49406, kEOT = 49407, kContext = 77;

// The pieces re.findall(pattern, cleaned) returns, in UTF-8, for a text cleaned by clip_clean_text().
std::vector<std::string> clip_pre_tokenize(const std::u32string& cleaned);

class Tokenizer {
public:
    // Loads HF-format vocab.json (token -> id) and merges.txt ("#version" header line, then "a b" per
    // line, in rank order). Throws reco::Error naming the file on any problem, including files that do
    // not match: vocab.json must list the 256 byte symbols, their </w> forms, one token per merge and the
    // two special tokens with simple_tokenizer's ids, and there must be CLIP's 48894 merges.
    Tokenizer(const std::string& vocab_json_path, const std::string& merges_txt_path);
    // DIR/vocab.json + DIR/merges.txt; when DIR/config.json exists, its text_config.vocab_size must equal
    // the number of tokens.
    static Tokenizer from_model_dir(const std::string& dir);

    // BPE ids only, no SOT/EOT. With max_ids, stops after the word that reaches max_ids ids (the first
    // max_ids ids are the same; the result may be longer than max_ids).
    std::vector<int> encode(const std::string& text, size_t max_ids = SIZE_MAX) const;
    // [SOT] + ids + [EOT], zero-padded to 77; if too long: keep 77, last = EOT (openai truncate=True).
    std::vector<int> tokenize(const std::string& text) const;
    int vocab_size() const { return (int)vocab_.size(); }

private:
    void bpe(const std::string& piece_utf8, std::vector<int>& out) const;

    std::unordered_map<std::string, int> vocab_;  // byte-mapped token string -> id
    int byte_id_[256];                            // id of bytes_to_unicode(b)
    int byte_eow_id_[256];                        // id of bytes_to_unicode(b) + "</w>"
    struct Merge { int rank, merged_id; };
    std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, result
};

}  // namespace reco
