// siglip_tokenizer.h — the SigLIP tokenizer: Hugging Face `SiglipTokenizer` (transformers 4.49,
// models/siglip/tokenization_siglip.py) on top of the sentencepiece C++ library (SPEC §8).
//
// The unigram segmentation itself is sentencepiece's (the checkpoint's spiece.model, loaded with
// libsentencepiece); everything HF does around it is reproduced here, step by step, with the same calls:
//   1. text.replace("▁", " "), then "▁" prepended                     (SiglipTokenizer.tokenize)
//   2. do_lower_case: every character through Python's str.lower(), one character at a time (HF's
//      regex `(special tokens)|(.+?)` lowercases match by match, so no final-sigma rule; "\n" is
//      untouched), special tokens left as they are                       (PreTrainedTokenizer.tokenize)
//   3. split at the added tokens (</s>, <unk>, the pad token, ...; leftmost, longest), and strip the
//      whitespace next to a token whose lstrip/rstrip flag is set (all three: both)
//   4. each other piece: canonicalize_text — ASCII punctuation (string.punctuation) removed, runs of
//      whitespace (str.isspace) -> " ", strip — then sentencepiece encodes "<unk>" + piece and the first
//      len(encode("<unk>")) pieces are dropped                          (SiglipTokenizer._tokenize)
//   5. a leading "▁" piece directly before a special token is dropped; pieces -> ids (added tokens
//      first, then sentencepiece's piece_to_id)
//   6. truncated to max_length - 1 ids, "</s>" appended unless the ids already end with it, padded with
//      the pad id to max_length (padding="max_length", truncation=True).
// The model proto is loaded with normalizer_spec.add_dummy_prefix = false, as HF's get_spm_processor
// does (here by appending a serialized NormalizerSpec{add_dummy_prefix: false}, which protobuf merges).
// Invalid UTF-8 (which Python could not hold in a str) decodes to U+FFFD, one per bad byte.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace reco {

// SiglipTokenizer.canonicalize_text: ASCII punctuation removed, whitespace runs -> " ", stripped.
std::u32string siglip_canonicalize_text(const std::u32string& text);

class SiglipTokenizer {
public:
    // An added token as HF's AddedToken (tokenizer_config.json "added_tokens_decoder").
    struct AddedToken {
        std::string content;
        int id = -1;
        bool lstrip = true, rstrip = true, single_word = false, normalized = false, special = true;
    };
    struct Options {
        std::string eos_token = "</s>", unk_token = "<unk>", pad_token = "</s>";  // SiglipTokenizer defaults
        std::vector<std::string> additional_special_tokens;
        std::vector<AddedToken> added_tokens;  // from added_tokens_decoder; eos/unk/pad added if missing
        bool do_lower_case = true;
        int max_length = 64;                   // model_max_length
    };

    // Loads spiece.model. A missing, unreadable or corrupt file (or special tokens that are not pieces of
    // the model) -> reco::Error naming the file.
    SiglipTokenizer(const std::string& spiece_model_path, const Options& opt);
    // DIR/spiece.model with the options of DIR/tokenizer_config.json (and DIR/special_tokens_map.json
    // when tokenizer_config.json has no added_tokens_decoder, as HF's from_pretrained); both optional.
    // max_length > 0 overrides model_max_length (e.g. with the text config's max_position_embeddings).
    static SiglipTokenizer from_model_dir(const std::string& dir, int max_length = 0);
    ~SiglipTokenizer();
    SiglipTokenizer(SiglipTokenizer&&) noexcept;
    SiglipTokenizer& operator=(SiglipTokenizer&&) noexcept;

    // The ids of the text (steps 1-5): no "</s>", no truncation, no padding.
    std::vector<int> encode(const std::string& text) const;
    // The model input (steps 1-6): exactly max_length() ids. *truncated (if given) says whether the
    // text had more than max_length - 1 ids, i.e. whether anything was cut off.
    std::vector<int> tokenize(const std::string& text, bool* truncated = nullptr) const;

    int eos_id() const { return eos_id_; }
    int pad_id() const { return pad_id_; }
    int unk_id() const { return unk_id_; }
    int max_length() const { return max_length_; }
    int vocab_size() const;  // sentencepiece pieces
    const std::string& path() const { return path_; }

private:
    std::vector<std::string> tokenize_pieces(const std::string& text) const;
    void encode_chunk(const std::u32string& chunk, std::vector<std::string>& out) const;

    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string path_;
    std::vector<AddedToken> added_;           // every added token (split on these)
    std::vector<std::string> special_;        // all_special_tokens, in HF's order
    std::vector<std::u32string> protect_;     // kept as they are by do_lower_case, in regex order
    bool lower_ = true;
    int eos_id_ = -1, pad_id_ = -1, unk_id_ = -1, max_length_ = 64;
    size_t unk_len_ = 0;                      // len(sp.encode(unk_token))
    std::string unk_text_;
};

}  // namespace reco
