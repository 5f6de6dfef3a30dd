// siglip_tokenizer.cpp — HF SiglipTokenizer around libsentencepiece (see siglip_tokenizer.h).
#include "siglip/siglip_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>

#include "common.h"
#include "json.h"
#include "text_clean.h"

namespace reco {

namespace {

const char32_t kSpieceUnderline = 0x2581;  // "▁"

bool is_ascii_punct(char32_t c) {  // Python's string.punctuation
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

std::u32string py_strip(const std::u32string& s, bool left, bool right) {
    size_t a = 0, b = s.size();
    if (left)
        while (a < b && uni_is_py_space(s[a])) a++;
    if (right)
        while (b > a && uni_is_py_space(s[b - 1])) b--;
    return s.substr(a, b - a);
}

bool starts_with_at(const std::u32string& s, size_t pos, const std::u32string& t) {
    return !t.empty() && s.size() - pos >= t.size() && s.compare(pos, t.size(), t) == 0;
}

// Walks the top-level fields of a serialized protobuf message; false if it is not well formed (a field
// runs past the end, an unknown wire type, a group) or empty.
bool proto_well_formed(const std::string& b) {
    size_t i = 0, n = b.size();
    auto varint = [&](uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (i >= n) return false;
            uint8_t c = (uint8_t)b[i++];
            v |= (uint64_t)(c & 0x7F) << shift;
            if (!(c & 0x80)) return true;
        }
        return false;
    };
    if (n == 0) return false;
    while (i < n) {
        uint64_t key, v;
        if (!varint(key) || (key >> 3) == 0) return false;
        switch (key & 7) {
            case 0: if (!varint(v)) return false; break;
            case 1: if (n - i < 8) return false; i += 8; break;
            case 2: if (!varint(v) || v > n - i) return false; i += (size_t)v; break;
            case 5: if (n - i < 4) return false; i += 4; break;
            default: return false;
        }
    }
    return true;
}

// A special-token value of tokenizer_config.json / special_tokens_map.json: "text" or {"content": "text", ...}.
bool token_text(const Json* j, std::string& out) {
    if (!j) return false;
    if (j->type == Json::String) {
        out = j->str;
        return true;
    }
    const Json* c = j->find("content");
    if (c && c->type == Json::String) {
        out = c->str;
        return true;
    }
    return false;
}

bool json_bool(const Json& obj, const char* key, bool dflt) {
    const Json* v = obj.find(key);
    return v && v->type == Json::Bool ? v->b : dflt;
}

}  // namespace

std::u32string siglip_canonicalize_text(const std::u32string& text) {
    std::u32string out;
    out.reserve(text.size());
    bool in_space = false;
    for (char32_t c : text) {
        if (is_ascii_punct(c)) continue;  // removed first: "a - b" -> "a  b" -> "a b"
        if (uni_is_py_space(c)) {         // re.sub(r"\s+", " ")
            if (!in_space) out += U' ';
            in_space = true;
        } else {
            out += c;
            in_space = false;
        }
    }
    return py_strip(out, true, true);
}

struct SiglipTokenizer::Impl {
    sentencepiece::SentencePieceProcessor sp;
};

SiglipTokenizer::SiglipTokenizer(const std::string& path, const Options& opt) : impl_(new Impl), path_(path) {
    std::string bytes = read_file(path);  // throws naming the file
    if (!proto_well_formed(bytes))
        fail("%s: not a sentencepiece model (%zu bytes that do not parse as a ModelProto)", path.c_str(),
             bytes.size());
    // ModelProto field 3 (normalizer_spec) holding NormalizerSpec field 3 (add_dummy_prefix) = false. A
    // repeated embedded message is merged by protobuf, so this is HF's normalizer_spec.MergeFrom(...).
    bytes += std::string("\x1a\x02\x18\x00", 4);
    const auto st = impl_->sp.LoadFromSerializedProto(bytes);
    if (!st.ok()) fail("%s: cannot load the sentencepiece model: %s", path.c_str(), st.ToString().c_str());
    const int n = impl_->sp.GetPieceSize();
    if (n <= 0) fail("%s: sentencepiece model has no pieces", path.c_str());
    if (opt.max_length < 1) fail("%s: max_length %d must be at least 1", path.c_str(), opt.max_length);
    max_length_ = opt.max_length;
    lower_ = opt.do_lower_case;

    // The added tokens: those of added_tokens_decoder, then eos/unk/pad/additional as SiglipTokenizer adds
    // them (AddedToken with lstrip = rstrip = True, id = the piece's id).
    added_ = opt.added_tokens;
    auto find_added = [&](const std::string& content) -> AddedToken* {
        for (AddedToken& t : added_)
            if (t.content == content) return &t;
        return nullptr;
    };
    auto piece_id = [&](const std::string& content, const char* what) {
        int id = impl_->sp.PieceToId(content);
        if (id < 0 || id >= n || impl_->sp.IdToPiece(id) != content)
            fail("%s: the %s \"%s\" is not a piece of the sentencepiece model", path.c_str(), what,
                 content.c_str());
        return id;
    };
    for (AddedToken& t : added_) {
        if (t.content.empty()) fail("%s: an added token is empty", path.c_str());
        if (t.id < 0) t.id = piece_id(t.content, "added token");
    }
    std::vector<std::pair<std::string, const char*>> specials = {
        {opt.eos_token, "eos_token"}, {opt.unk_token, "unk_token"}, {opt.pad_token, "pad_token"}};
    for (const std::string& s : opt.additional_special_tokens) specials.push_back({s, "additional special token"});
    for (const auto& [content, what] : specials) {
        if (content.empty()) fail("%s: %s is empty", path.c_str(), what);
        if (!find_added(content)) {
            AddedToken t;
            t.content = content;
            t.id = piece_id(content, what);
            added_.push_back(t);
        }
        if (std::find(special_.begin(), special_.end(), content) == special_.end()) special_.push_back(content);
    }
    eos_id_ = find_added(opt.eos_token)->id;
    unk_id_ = find_added(opt.unk_token)->id;
    pad_id_ = find_added(opt.pad_token)->id;
    for (const std::string& s : special_) protect_.push_back(utf8_to_u32(s));
    for (const AddedToken& t : added_)
        if (!t.special && t.normalized) protect_.push_back(utf8_to_u32(t.content));

    unk_text_ = opt.unk_token;
    std::vector<std::string> unk_pieces;
    const auto st2 = impl_->sp.Encode(unk_text_, &unk_pieces);
    if (!st2.ok()) fail("%s: sentencepiece cannot encode the unk token: %s", path.c_str(), st2.ToString().c_str());
    unk_len_ = unk_pieces.size();
}

SiglipTokenizer::~SiglipTokenizer() = default;
SiglipTokenizer::SiglipTokenizer(SiglipTokenizer&&) noexcept = default;
SiglipTokenizer& SiglipTokenizer::operator=(SiglipTokenizer&&) noexcept = default;

int SiglipTokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }

SiglipTokenizer SiglipTokenizer::from_model_dir(const std::string& dir, int max_length) {
    Options opt;
    const std::string cfg_path = dir + "/tokenizer_config.json";
    const std::string map_path = dir + "/special_tokens_map.json";
    Json cfg;
    if (file_exists(cfg_path)) cfg = parse_json(read_file(cfg_path), cfg_path);
    if (cfg.type != Json::Null && cfg.type != Json::Object) fail("%s: not a JSON object", cfg_path.c_str());
    auto read_specials = [&](const Json& j, const std::string& what) {
        token_text(j.find("eos_token"), opt.eos_token);
        token_text(j.find("unk_token"), opt.unk_token);
        token_text(j.find("pad_token"), opt.pad_token);
        if (const Json* a = j.find("additional_special_tokens")) {
            if (a->type != Json::Array) fail("%s: additional_special_tokens is not a list", what.c_str());
            opt.additional_special_tokens.clear();
            for (const Json& t : a->arr) {
                std::string s;
                if (!token_text(&t, s)) fail("%s: bad entry in additional_special_tokens", what.c_str());
                opt.additional_special_tokens.push_back(s);
            }
        }
    };
    if (cfg.type == Json::Object) {
        read_specials(cfg, cfg_path);
        if (const Json* v = cfg.find("do_lower_case"); v && v->type == Json::Bool) opt.do_lower_case = v->b;
        if (const Json* v = cfg.find("model_max_length"); v && v->is_int() && v->num >= 1 && v->num <= 1e6)
            opt.max_length = (int)v->num;
        if (const Json* d = cfg.find("added_tokens_decoder")) {
            if (d->type != Json::Object) fail("%s: added_tokens_decoder is not an object", cfg_path.c_str());
            for (const auto& [key, val] : d->obj) {
                AddedToken t;
                char* end = nullptr;
                long id = strtol(key.c_str(), &end, 10);
                if (key.empty() || *end || id < 0 || id > (1L << 30) || !token_text(&val, t.content))
                    fail("%s: bad added_tokens_decoder entry \"%s\"", cfg_path.c_str(), key.c_str());
                t.id = (int)id;
                t.lstrip = json_bool(val, "lstrip", false);
                t.rstrip = json_bool(val, "rstrip", false);
                t.single_word = json_bool(val, "single_word", false);
                t.normalized = json_bool(val, "normalized", true);
                t.special = json_bool(val, "special", false);
                opt.added_tokens.push_back(t);
            }
        }
    }
    // HF reads special_tokens_map.json only for configs without added_tokens_decoder (legacy format).
    if ((cfg.type != Json::Object || !cfg.find("added_tokens_decoder")) && file_exists(map_path)) {
        Json m = parse_json(read_file(map_path), map_path);
        if (m.type != Json::Object) fail("%s: not a JSON object", map_path.c_str());
        read_specials(m, map_path);
    }
    if (max_length > 0) opt.max_length = max_length;
    return SiglipTokenizer(dir + "/spiece.model", opt);
}

void SiglipTokenizer::encode_chunk(const std::u32string& chunk, std::vector<std::string>& out) const {
    const std::string text = unk_text_ + u32_to_utf8(siglip_canonicalize_text(chunk));
    std::vector<std::string> pieces;
    const auto st = impl_->sp.Encode(text, &pieces);
    if (!st.ok()) fail("%s: sentencepiece cannot encode a text: %s", path_.c_str(), st.ToString().c_str());
    size_t skip = pieces.size() >= unk_len_ ? unk_len_ : 0;
    out.insert(out.end(), pieces.begin() + (long)skip, pieces.end());
}

std::vector<std::string> SiglipTokenizer::tokenize_pieces(const std::string& utf8) const {
    // 1. SiglipTokenizer.tokenize: "▁" + text.replace("▁", " ")
    std::u32string text = utf8_to_u32(utf8);
    std::replace(text.begin(), text.end(), kSpieceUnderline, U' ');
    text.insert(text.begin(), kSpieceUnderline);

    // 2. do_lower_case: re.sub("(" + specials + ")|(.+?)", ...) -> one character at a time
    if (lower_) {
        std::u32string low;
        low.reserve(text.size());
        for (size_t i = 0; i < text.size();) {
            const std::u32string* hit = nullptr;
            for (const std::u32string& p : protect_)
                if (starts_with_at(text, i, p)) {
                    hit = &p;
                    break;
                }
            if (hit) {
                low += *hit;
                i += hit->size();
            } else {
                low += text[i] == U'\n' ? std::u32string(1, U'\n') : py_lower(std::u32string(1, text[i]));
                i++;
            }
        }
        text.swap(low);
    }

    // 3. split at the added tokens (leftmost, longest)
    std::vector<std::u32string> added32;
    for (const AddedToken& t : added_) added32.push_back(utf8_to_u32(t.content));
    auto added_index = [&](const std::u32string& s) -> int {
        for (size_t k = 0; k < added32.size(); k++)
            if (added32[k] == s) return (int)k;
        return -1;
    };
    std::vector<std::u32string> parts;
    size_t start = 0;
    for (size_t i = 0; i < text.size();) {
        int best = -1;
        for (size_t k = 0; k < added32.size(); k++)
            if (starts_with_at(text, i, added32[k]) && (best < 0 || added32[k].size() > added32[best].size()))
                best = (int)k;
        if (best < 0) {
            i++;
            continue;
        }
        if (i > start) parts.push_back(text.substr(start, i - start));
        parts.push_back(added32[best]);
        i += added32[best].size();
        start = i;
    }
    if (start < text.size()) parts.push_back(text.substr(start));

    for (size_t i = 0; i < parts.size(); i++) {
        int k = added_index(parts[i]);
        if (k < 0) continue;
        const AddedToken& t = added_[k];
        // as HF: `left` and `right` are the neighbours before any stripping
        const std::u32string left = i > 0 ? parts[i - 1] : std::u32string();
        const std::u32string right = i + 1 < parts.size() ? parts[i + 1] : std::u32string();
        if (t.rstrip && !right.empty()) parts[i + 1] = py_strip(right, true, false);
        if (t.lstrip && !left.empty()) parts[i - 1] = py_strip(left, false, true);
        if (t.single_word && !left.empty() && left.back() != U' ') {
            parts[i - 1] += parts[i];
            parts[i].clear();
        } else if (t.single_word && !right.empty() && right[0] != U' ') {
            parts[i + 1] = parts[i] + parts[i + 1];
            parts[i].clear();
        }
    }

    // 4. sentencepiece on every other part
    std::vector<std::string> tokens;
    for (const std::u32string& p : parts) {
        if (p.empty()) continue;
        if (added_index(p) >= 0) tokens.push_back(u32_to_utf8(p));
        else encode_chunk(p, tokens);
    }

    // 5. a lone leading "▁" before a special token goes
    if (tokens.size() > 1 && tokens[0] == "\xe2\x96\x81" &&
        std::find(special_.begin(), special_.end(), tokens[1]) != special_.end())
        tokens.erase(tokens.begin());
    return tokens;
}

std::vector<int> SiglipTokenizer::encode(const std::string& text) const {
    std::vector<std::string> tokens = tokenize_pieces(text);
    std::vector<int> ids;
    ids.reserve(tokens.size());
    for (const std::string& t : tokens) {
        int id = -1;
        for (const AddedToken& a : added_)
            if (a.content == t) {
                id = a.id;
                break;
            }
        ids.push_back(id >= 0 ? id : impl_->sp.PieceToId(t));
    }
    return ids;
}

std::vector<int> SiglipTokenizer::tokenize(const std::string& text, bool* truncated) const {
    std::vector<int> ids = encode(text);
    const bool cut = ids.size() + 1 > (size_t)max_length_;  // + the "</s>"
    if (cut) ids.resize((size_t)max_length_ - 1);
    if (ids.empty() || ids.back() != eos_id_) ids.push_back(eos_id_);
    ids.resize((size_t)max_length_, pad_id_);
    if (truncated) *truncated = cut;
    return ids;
}

}  // namespace reco
