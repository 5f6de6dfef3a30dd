// tokenizer.cpp — CLIP byte-level BPE (openai/CLIP clip/simple_tokenizer.py: bytes_to_unicode, bpe,
// encode; clip/clip.py: tokenize with truncate=True). See tokenizer.h and research/anchors.md B.
#include "tokenizer.h"

#include <algorithm>
#include <climits>
#include <functional>

#include "common.h"
#include "json.h"
#include "text_clean.h"

namespace reco {

namespace {

// bytes_to_unicode(): the 188 printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves; the other 68
// bytes map to U+0100, U+0101, ... in increasing byte order. Every byte thus becomes a visible character.
bool printable(int x) { return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF); }

char32_t byte_to_unicode(int b) {
    if (printable(b)) return (char32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!printable(x)) n++;
    return (char32_t)(256 + n);
}

// The place of byte b in bytes_to_unicode()'s dict: the printable bytes in increasing order, then the
// others. simple_tokenizer's vocabulary lists the byte symbols in this order, so it is their id.
int byte_order(int b) {
    int k = 0;
    for (int x = 0; x < b; x++)
        if (printable(x) == printable(b)) k++;
    return printable(b) ? k : 188 + k;
}

uint64_t pair_key(int left, int right) { return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right; }

// The third alternative of the pattern, [^\s\p{L}\p{N}]+ (U+0345 matches no alternative under IGNORECASE).
bool is_other(char32_t c) { return !uni_is_space(c) && !uni_is_letter(c) && !uni_is_number(c) && c != 0x345; }

// At most this much of a token is quoted in an error message (a corrupt file may hold huge "tokens").
std::string quoted(const std::string& s) { return s.size() <= 60 ? s : s.substr(0, 60) + "..."; }

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
                 quoted(kv.first).c_str(), v.type == Json::Number ? strformat("%g", v.num).c_str() : "(not a number)",
                 n - 1);
        int id = (int)v.num;
        if (id_seen[id]) fail("%s: id %d is used by more than one token", vocab_path.c_str(), id);
        id_seen[id] = 1;
        if (!vocab_.emplace(kv.first, id).second)
            fail("%s: token \"%s\" appears twice", vocab_path.c_str(), quoted(kv.first).c_str());
    }

    // simple_tokenizer's vocabulary starts with the 256 byte symbols in bytes_to_unicode order, then the
    // same with "</w>" (see below for the rest).
    for (int b = 0; b < 256; b++) {
        std::string sym;
        utf8_append(sym, byte_to_unicode(b));
        auto a = vocab_.find(sym), e = vocab_.find(sym + "</w>");
        int k = byte_order(b);
        if (a == vocab_.end() || e == vocab_.end() || a->second != k || e->second != 256 + k)
            fail("%s: byte 0x%02X must be token \"%s\" with id %d and \"%s</w>\" with id %d, as in simple_tokenizer's "
                 "byte-level BPE vocabulary",
                 vocab_path.c_str(), b, sym.c_str(), k, sym.c_str(), 256 + k);
        byte_id_[b] = a->second;
        byte_eow_id_[b] = e->second;
    }

    // merges.txt: the header line "#version: ...", then "left right" per line; rank = order. openai's
    // simple_tokenizer drops the first line unread, so a file without the header would silently lose
    // its first merge there: it is an error here.
    std::string m = read_file(merges_path);
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<int> merge_line;
    size_t pos = 0;
    int line_no = 0;
    while (pos < m.size()) {
        size_t nl = m.find('\n', pos);
        if (nl == std::string::npos) nl = m.size();
        std::string line = m.substr(pos, nl - pos);
        pos = nl + 1;
        line_no++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line_no == 1) {
            if (line.compare(0, 8, "#version") != 0)
                fail("%s: line 1 must be the header \"#version: 0.2\", got \"%s\" (not a Hugging Face merges.txt)",
                     merges_path.c_str(), quoted(line).c_str());
            continue;
        }
        if (line.empty()) {
            if (m.find_first_not_of("\r\n", nl) == std::string::npos) break;  // blank lines at the end
            fail("%s: line %d is empty", merges_path.c_str(), line_no);
        }
        size_t sp = line.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() ||
            line.find(' ', sp + 1) != std::string::npos)
            fail("%s: line %d: expected two symbols separated by one space, got \"%s\"", merges_path.c_str(),
                 line_no, quoted(line).c_str());
        std::string left = line.substr(0, sp), right = line.substr(sp + 1);
        if (!vocab_.count(left) || !vocab_.count(right) || !vocab_.count(left + right))
            fail("%s: line %d: merge \"%s\" uses or makes a token that is not in %s", merges_path.c_str(), line_no,
                 quoted(line).c_str(), vocab_path.c_str());
        merges.emplace_back(std::move(left), std::move(right));
        merge_line.push_back(line_no);
    }
    if (line_no == 0) fail("%s: empty file (expected the header \"#version: 0.2\" and the merges)", merges_path.c_str());
    if (merges.empty()) fail("%s: no merges found", merges_path.c_str());

    // simple_tokenizer builds its vocabulary from the merges alone: the 256 byte symbols (in
    // bytes_to_unicode order), the same with "</w>", one token per merge in merge order, then
    // <|startoftext|> and <|endoftext|>; a token's id is its place in that list. vocab.json must be exactly
    // that list, or ids differ from openai's (a truncated or reordered merges.txt, files of two models).
    size_t want = 512 + merges.size() + 2;
    if (n != want)
        fail("%s has %zu merges and %s has %zu tokens, but a CLIP vocabulary is 256 byte tokens + 256 byte</w> "
             "tokens + one token per merge + <|startoftext|> and <|endoftext|> = %zu tokens: one file is truncated "
             "or they belong to different tokenizers",
             merges_path.c_str(), merges.size(), vocab_path.c_str(), n, want);
    merges_.reserve(merges.size() * 2);
    for (size_t k = 0; k < merges.size(); k++) {
        const std::string &left = merges[k].first, &right = merges[k].second;
        int got = vocab_.at(left + right), expect = (int)(512 + k);
        if (got != expect)
            fail("%s: line %d: merge \"%s %s\" is merge %zu, so simple_tokenizer gives \"%s\" id %d, but %s has id %d "
                 "(a repeated, missing or reordered merge, or files of different tokenizers)",
                 merges_path.c_str(), merge_line[k], quoted(left).c_str(), quoted(right).c_str(), k, quoted(left + right).c_str(),
                 expect, vocab_path.c_str(), got);
        merges_[pair_key(vocab_.at(left), vocab_.at(right))] = Merge{(int)k, got};
    }
    auto sot = vocab_.find("<|startoftext|>"), eot = vocab_.find("<|endoftext|>");
    if (sot == vocab_.end() || sot->second != (int)want - 2 || eot == vocab_.end() || eot->second != (int)want - 1)
        fail("%s: <|startoftext|> and <|endoftext|> must be the last two ids, %zu and %zu", vocab_path.c_str(), want - 2,
             want - 1);
    if (sot->second != kSOT)
        fail("%s has %zu merges and %s %zu tokens; CLIP's tokenizer has 48894 merges and 49408 tokens "
             "(<|startoftext|> = %d, <|endoftext|> = %d)",
             merges_path.c_str(), merges.size(), vocab_path.c_str(), n, kSOT, kEOT);
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
    Tokenizer tok(dir + "/vocab.json", dir + "/merges.txt");
    // The text tower's token embedding has text_config.vocab_size rows (transformers' default 49408 when
    // absent): a tokenizer of another size belongs to another model.
    std::string cfg = dir + "/config.json";
    if (file_exists(cfg)) {
        Json j = parse_json(read_file(cfg), cfg);
        const Json* tc = j.find("text_config");
        if (tc && tc->type == Json::Object) {
            const Json* v = tc->find("vocab_size");
            double size = (!v || v->type == Json::Null) ? 49408 : v->is_int() ? v->num : -1;
            if (size < 0) fail("%s: text_config.vocab_size must be an integer", cfg.c_str());
            if (size != tok.vocab_size())
                fail("%s: text_config.vocab_size is %.0f but %s/vocab.json has %d tokens: the tokenizer files belong "
                     "to another model",
                     cfg.c_str(), size, dir.c_str(), tok.vocab_size());
        }
    }
    return tok;
}

// simple_tokenizer.bpe(): symbols start as single byte-characters, the last one with </w>; then, until no
// adjacent pair has a rank: take the ranked pair (L, R) of lowest rank and merge all its occurrences in
// one left-to-right pass (non-overlapping: in "a a a" only the first two merge).
//
// Done literally that loop is quadratic (a 200,000-letter word took 20 s). Here symbols are a linked
// list over byte positions and the ranked pairs sit in a min-heap keyed by (rank, position of the left
// symbol). A pop takes ALL entries of the lowest rank at once, in position order, and merges each one that
// still holds (L, R): that is the reference's left-to-right pass. Pairs created by the pass go to the heap;
// none of them can have that same rank (the merged symbol LR is longer than L and R, so a new pair is never
// (L, R)), so even merge tables where a new pair outranks (L, R) give the reference's answer. Entries
// whose pair has changed since they were pushed are skipped. Each merge pushes at most 2 entries:
// O(n log n) for a word of n bytes.
void Tokenizer::bpe(const std::string& piece, std::vector<int>& out) const {
    if (piece.size() >= (size_t)INT_MAX) fail("tokenizer: a single word of %zu bytes is too long", piece.size());
    const int n = (int)piece.size();
    if (n == 0) return;  // pre-tokenizer pieces are never empty
    std::vector<int> sym(n), prev(n), next(n);  // sym = -1: merged into its left neighbour
    for (int i = 0; i < n; i++) {
        sym[i] = byte_id_[(unsigned char)piece[i]];
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    sym[n - 1] = byte_eow_id_[(unsigned char)piece[n - 1]];

    auto merge_at = [&](int p) -> const Merge* {  // the merge of the pair starting at symbol p, if ranked
        if (next[p] < 0) return nullptr;
        auto it = merges_.find(pair_key(sym[p], sym[next[p]]));
        return it == merges_.end() ? nullptr : &it->second;
    };
    std::vector<uint64_t> heap;  // (rank << 32 | position), smallest first
    auto push = [&](int p) {
        if (const Merge* m = merge_at(p)) {
            heap.push_back((uint64_t)m->rank << 32 | (uint32_t)p);
            std::push_heap(heap.begin(), heap.end(), std::greater<uint64_t>());
        }
    };
    for (int p = 0; p + 1 < n; p++)
        if (const Merge* m = merge_at(p)) heap.push_back((uint64_t)m->rank << 32 | (uint32_t)p);
    std::make_heap(heap.begin(), heap.end(), std::greater<uint64_t>());

    std::vector<int> batch;
    while (!heap.empty()) {
        const uint32_t rank = (uint32_t)(heap.front() >> 32);
        batch.clear();
        while (!heap.empty() && (uint32_t)(heap.front() >> 32) == rank) {
            batch.push_back((int)(uint32_t)heap.front());
            std::pop_heap(heap.begin(), heap.end(), std::greater<uint64_t>());
            heap.pop_back();
        }
        for (int p : batch) {
            if (sym[p] < 0) continue;  // taken by the merge to its left in this pass
            const Merge* m = merge_at(p);
            if (!m || (uint32_t)m->rank != rank) continue;  // this pair changed since it was pushed
            int q = next[p];
            sym[p] = m->merged_id;
            sym[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = p;
            if (prev[p] >= 0) push(prev[p]);
            push(p);
        }
    }
    for (int p = 0; p >= 0; p = next[p]) out.push_back(sym[p]);
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

// simple_tokenizer.encode(): clean, pre-tokenize, BPE each piece. Pieces are BPE'd independently, so
// stopping after the piece that reaches max_ids changes none of the first max_ids ids.
std::vector<int> Tokenizer::encode(const std::string& text, size_t max_ids) const {
    std::vector<int> ids;
    for (const std::string& piece : clip_pre_tokenize(clip_clean_text(text))) {
        if (ids.size() >= max_ids) break;
        // openai's bpe cache maps exactly these two strings to themselves, hence to the special ids
        if (piece == "<|startoftext|>") ids.push_back(kSOT);
        else if (piece == "<|endoftext|>") ids.push_back(kEOT);
        else bpe(piece, ids);
    }
    return ids;
}

// clip.tokenize(text, context_length=77, truncate=True): [SOT] ids [EOT], zero padded; when longer than
// 77, keep the first 77 and overwrite the last with EOT, so only the first 75 ids of the text matter.
std::vector<int> Tokenizer::tokenize(const std::string& text) const {
    std::vector<int> ids = encode(text, kContext - 2);
    std::vector<int> out(kContext, 0);
    size_t keep = std::min(ids.size(), (size_t)kContext - 2);
    out[0] = kSOT;
    for (size_t k = 0; k < keep; k++) out[1 + k] = ids[k];
    out[1 + keep] = kEOT;
    return out;
}

}  // namespace reco
