// tokenizer.cpp — CLIP byte-level BPE (openai/CLIP clip/simple_tokenizer.py: bytes_to_unicode, bpe,
// encode; clip/clip.py: tokenize with truncate=True). See tokenizer.h and research/anchors.md B.
#include "tokenizer.h"

#include <climits>

#include "common.h"
#include "json.h"
#include "text_clean.h"

namespace reco {

namespace {

// bytes_to_unicode(): the 188 printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves; the other 68
// bytes map to U+0100, U+0101, ... in increasing byte order. Every byte thus becomes a visible character.
char32_t byte_to_unicode(int b) {
    auto printable = [](int x) {
        return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
    };
    if (printable(b)) return (char32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!printable(x)) n++;
    return (char32_t)(256 + n);
}

uint64_t pair_key(int left, int right) { return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right; }

// The third alternative of the pattern, [^\s\p{L}\p{N}]+ (U+0345 matches no alternative under IGNORECASE).
bool is_other(char32_t c) { return !uni_is_space(c) && !uni_is_letter(c) && !uni_is_number(c) && c != 0x345; }

}  // namespace

Tokenizer::Tokenizer(const std::string& vocab_path, const std::string& merges_path) {
    // vocab.json: {"token": id, ...}; keys are byte-mapped strings (the JSON parser decodes \u0120 etc.)
    Json j = parse_json(read_file(vocab_path), vocab_path);
    if (j.type != Json::Object || j.obj.empty())
        fail("%s: expected a non-empty JSON object mapping token strings to integer ids", vocab_path.c_str());
    size_t n = j.obj.size();
    std::vector<char> id_seen(n, 0);
    vocab_.reserve(n * 2);
    for (auto& kv : j.obj) {
        const Json& v = kv.second;
        if (!v.is_int() || v.num < 0 || v.num >= (double)n)
            fail("%s: token \"%s\" has id %s; ids must be integers in 0..%zu", vocab_path.c_str(),
                 kv.first.c_str(), v.type == Json::Number ? strformat("%g", v.num).c_str() : "(not a number)",
                 n - 1);
        int id = (int)v.num;
        if (id_seen[id]) fail("%s: id %d is used by more than one token", vocab_path.c_str(), id);
        id_seen[id] = 1;
        if (!vocab_.emplace(kv.first, id).second)
            fail("%s: token \"%s\" appears twice", vocab_path.c_str(), kv.first.c_str());
    }
    for (int b = 0; b < 256; b++) {
        std::string sym;
        utf8_append(sym, byte_to_unicode(b));
        auto a = vocab_.find(sym), e = vocab_.find(sym + "</w>");
        if (a == vocab_.end() || e == vocab_.end())
            fail("%s: byte 0x%02X has no symbol \"%s\" or \"%s</w>\": not a CLIP byte-level BPE vocabulary",
                 vocab_path.c_str(), b, sym.c_str(), sym.c_str());
        byte_id_[b] = a->second;
        byte_eow_id_[b] = e->second;
    }
    auto sot = vocab_.find("<|startoftext|>"), eot = vocab_.find("<|endoftext|>");
    if (sot == vocab_.end() || sot->second != kSOT || eot == vocab_.end() || eot->second != kEOT)
        fail("%s: <|startoftext|> and <|endoftext|> must have ids %d and %d (not a CLIP vocabulary)",
             vocab_path.c_str(), kSOT, kEOT);

    // merges.txt: an optional "#version..." first line, then "left right" per line; rank = order.
    // Like Python's dict(zip(merges, range(...))), a repeated pair keeps its last rank.
    std::string m = read_file(merges_path);
    size_t pos = 0;
    int line_no = 0, rank = 0;
    while (pos < m.size()) {
        size_t nl = m.find('\n', pos);
        if (nl == std::string::npos) nl = m.size();
        std::string line = m.substr(pos, nl - pos);
        pos = nl + 1;
        line_no++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line_no == 1 && !line.empty() && line[0] == '#') continue;
        if (line.empty()) {
            if (m.find_first_not_of("\r\n", nl) == std::string::npos) break;  // blank lines at the end
            fail("%s: line %d is empty", merges_path.c_str(), line_no);
        }
        size_t sp = line.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() ||
            line.find(' ', sp + 1) != std::string::npos)
            fail("%s: line %d: expected two symbols separated by one space, got \"%s\"", merges_path.c_str(),
                 line_no, line.c_str());
        std::string left = line.substr(0, sp), right = line.substr(sp + 1);
        auto l = vocab_.find(left), r = vocab_.find(right), lr = vocab_.find(left + right);
        if (l == vocab_.end() || r == vocab_.end() || lr == vocab_.end())
            fail("%s: line %d: merge \"%s\" uses or makes a token that is not in %s", merges_path.c_str(), line_no,
                 line.c_str(), vocab_path.c_str());
        merges_[pair_key(l->second, r->second)] = Merge{rank++, lr->second};
    }
    if (rank == 0) fail("%s: no merges found", merges_path.c_str());
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
    return Tokenizer(dir + "/vocab.json", dir + "/merges.txt");
}

// simple_tokenizer.bpe(): symbols start as single byte-characters, the last one with </w>; merge every
// occurrence (left to right, non-overlapping) of the adjacent pair with the lowest rank, until no adjacent
// pair has a rank. Symbols are held as vocab ids (a bijection with their strings), so merging is a lookup.
void Tokenizer::bpe(const std::string& piece, std::vector<int>& out) const {
    std::vector<int> w;
    w.reserve(piece.size());
    for (unsigned char b : piece) w.push_back(byte_id_[b]);
    w.back() = byte_eow_id_[(unsigned char)piece.back()];
    while (w.size() > 1) {
        int best_rank = INT_MAX, left = -1, right = -1, merged = -1;
        for (size_t k = 0; k + 1 < w.size(); k++) {
            auto it = merges_.find(pair_key(w[k], w[k + 1]));
            if (it != merges_.end() && it->second.rank < best_rank) {
                best_rank = it->second.rank;
                left = w[k], right = w[k + 1], merged = it->second.merged_id;
            }
        }
        if (best_rank == INT_MAX) break;
        size_t o = 0;
        for (size_t k = 0; k < w.size();) {
            if (k + 1 < w.size() && w[k] == left && w[k + 1] == right) {
                w[o++] = merged;
                k += 2;
            } else {
                w[o++] = w[k++];
            }
        }
        w.resize(o);
    }
    out.insert(out.end(), w.begin(), w.end());
}

// re.findall(pattern, cleaned): at each position the alternatives are tried in order; a position where
// none matches (whitespace, U+0345) is skipped.
std::vector<std::string> clip_pre_tokenize(const std::u32string& t) {
    std::vector<std::string> pieces;
    size_t i = 0, n = t.size();
    // length of literal `lit` at position i, or 0. IGNORECASE on lowercased text: only U+017F (long s)
    // still folds onto one of the pattern's letters ('s').
    auto literal_at = [&](const char* lit) -> size_t {
        size_t k = 0;
        for (; lit[k]; k++) {
            if (i + k >= n) return 0;
            char32_t c = t[i + k];
            if (c != (char32_t)lit[k] && !(lit[k] == 's' && c == 0x17F)) return 0;
        }
        return k;
    };
    static const char* const kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    while (i < n) {
        char32_t c = t[i];
        size_t len = 0;
        if (c == U'<') {
            len = literal_at("<|startoftext|>");
            if (!len) len = literal_at("<|endoftext|>");
        } else if (c == U'\'') {
            for (const char* lit : kContractions)
                if ((len = literal_at(lit))) break;
        }
        if (!len) {
            if (uni_is_letter(c)) {
                len = 1;
                while (i + len < n && uni_is_letter(t[i + len])) len++;
            } else if (uni_is_number(c)) {
                len = 1;  // digits one at a time
            } else if (is_other(c)) {
                len = 1;
                while (i + len < n && is_other(t[i + len])) len++;
            } else {
                i++;
                continue;
            }
        }
        pieces.push_back(u32_to_utf8(t.substr(i, len)));
        i += len;
    }
    return pieces;
}

// simple_tokenizer.encode(): clean, pre-tokenize, BPE each piece.
std::vector<int> Tokenizer::encode(const std::string& text) const {
    std::vector<int> ids;
    for (const std::string& piece : clip_pre_tokenize(clip_clean_text(text))) {
        // openai's bpe cache maps exactly these two strings to themselves, hence to the special ids
        if (piece == "<|startoftext|>") ids.push_back(kSOT);
        else if (piece == "<|endoftext|>") ids.push_back(kEOT);
        else bpe(piece, ids);
    }
    return ids;
}

// clip.tokenize(text, context_length=77, truncate=True): [SOT] ids [EOT], zero padded; when longer than
// 77, keep the first 77 and overwrite the last with EOT.
std::vector<int> Tokenizer::tokenize(const std::string& text) const {
    std::vector<int> ids = encode(text);
    std::vector<int> out(kContext, 0);
    size_t keep = std::min(ids.size(), (size_t)kContext - 2);
    out[0] = kSOT;
    for (size_t k = 0; k < keep; k++) out[1 + k] = ids[k];
    out[1 + keep] = kEOT;
    return out;
}

}  // namespace reco
