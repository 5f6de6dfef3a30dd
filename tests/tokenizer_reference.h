// tokenizer_reference.h — independent references for the BPE tokenizer tests and its fuzz harness:
//   * OpenAiBpe: openai/CLIP clip/simple_tokenizer.py's bytes_to_unicode(), vocabulary construction and
//     bpe() loop, ported line for line (strings, the quadratic loop, no cleverness), so the engine's
//     O(n log n) BPE can be compared with it on any word;
//   * write_synthetic_tokenizer(): a CLIP-shaped vocab.json + merges.txt (48894 merges, 49408 ids, as
//     the loader demands) whose first merges are random and in random order over the letters a, b, c, so
//     a pair made by a merge can outrank the pair being merged, which CLIP's real table rarely shows.
#pragma once
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.h"
#include "json.h"
#include "text_clean.h"

namespace tokref {

// simple_tokenizer.bytes_to_unicode(), as written there: printable bytes keep their code, the rest get
// 256, 257, ... in byte order. Returned in the dict's order (the printable bytes first), as (byte, char).
inline std::vector<std::pair<int, std::string>> bytes_to_unicode() {
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; b++) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; b++) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; b++) bs.push_back(b);
    std::vector<int> cs = bs;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
            bs.push_back(b);
            cs.push_back(256 + n);
            n++;
        }
    }
    std::vector<std::pair<int, std::string>> out;
    for (size_t k = 0; k < bs.size(); k++) {
        std::string c;
        reco::utf8_append(c, (char32_t)cs[k]);
        out.emplace_back(bs[k], c);
    }
    return out;
}

struct OpenAiBpe {
    std::string byte_encoder[256];
    std::unordered_map<std::string, int> bpe_ranks;  // "first second" -> rank
    std::unordered_map<std::string, int> encoder;    // token -> id

    // merges_txt: the text of a Hugging Face merges.txt (header line, then "first second" lines).
    explicit OpenAiBpe(const std::string& merges_txt) {
        std::vector<std::string> vocab;
        for (auto& bc : bytes_to_unicode()) {
            byte_encoder[bc.first] = bc.second;
            vocab.push_back(bc.second);
        }
        for (size_t k = 0; k < 256; k++) vocab.push_back(vocab[k] + "</w>");
        size_t pos = merges_txt.find('\n') + 1;  // merges[1:]: the header line is dropped
        int rank = 0;
        while (pos < merges_txt.size()) {
            size_t nl = merges_txt.find('\n', pos);
            if (nl == std::string::npos) nl = merges_txt.size();
            std::string line = merges_txt.substr(pos, nl - pos);
            pos = nl + 1;
            if (line.empty()) continue;
            size_t sp = line.find(' ');
            bpe_ranks[line] = rank++;
            vocab.push_back(line.substr(0, sp) + line.substr(sp + 1));
        }
        vocab.push_back("<|startoftext|>");
        vocab.push_back("<|endoftext|>");
        for (size_t k = 0; k < vocab.size(); k++) encoder[vocab[k]] = (int)k;
    }

    int rank_of(const std::string& a, const std::string& b) const {
        auto it = bpe_ranks.find(a + " " + b);
        return it == bpe_ranks.end() ? INT32_MAX : it->second;
    }

    // simple_tokenizer.bpe(token) followed by the encoder lookup of encode(); `piece` is one pre-tokenizer
    // piece in UTF-8 (its bytes are mapped through byte_encoder first, as encode() does).
    std::vector<int> encode_piece(const std::string& piece) const {
        std::vector<std::string> word;
        for (unsigned char b : piece) word.push_back(byte_encoder[b]);
        word.back() += "</w>";
        while (word.size() > 1) {
            // bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            int best = INT32_MAX;
            std::string first, second;
            for (size_t i = 0; i + 1 < word.size(); i++) {
                int r = rank_of(word[i], word[i + 1]);
                if (r < best) best = r, first = word[i], second = word[i + 1];
            }
            if (best == INT32_MAX) break;
            std::vector<std::string> new_word;
            size_t i = 0;
            while (i < word.size()) {
                size_t j = i;  // j = word.index(first, i)
                while (j < word.size() && word[j] != first) j++;
                new_word.insert(new_word.end(), word.begin() + i, word.begin() + j);
                i = j;
                if (i == word.size()) break;
                if (word[i] == first && i < word.size() - 1 && word[i + 1] == second) {
                    new_word.push_back(first + second);
                    i += 2;
                } else {
                    new_word.push_back(word[i]);
                    i += 1;
                }
            }
            word = new_word;
        }
        std::vector<int> ids;
        for (const std::string& t : word) ids.push_back(encoder.at(t));
        return ids;
    }
};

// Writes DIR/vocab.json and DIR/merges.txt: `n_random` random merges over the byte symbols a, b, c (and
// their </w> forms) in random rank order, then filler merges over the symbols of bytes 0x00..0x1F (which
// no test word contains) up to CLIP's 48894, and the vocabulary simple_tokenizer builds from them.
inline void write_synthetic_tokenizer(const std::string& dir, uint32_t seed, int n_random) {
    std::mt19937 rng(seed);
    auto b2u = bytes_to_unicode();
    std::vector<std::string> sym(256);
    for (auto& bc : b2u) sym[bc.first] = bc.second;

    std::vector<std::string> inner = {"a", "b", "c"}, tokens_made;  // left parts never end in </w>
    std::vector<std::string> finals = {"a</w>", "b</w>", "c</w>"};
    std::unordered_set<std::string> made;
    std::vector<std::pair<std::string, std::string>> merges;
    for (int tries = 0; (int)merges.size() < n_random && tries < 100000; tries++) {
        std::string l = inner[rng() % inner.size()];
        bool fin = rng() % 3 == 0;
        std::string r = fin ? finals[rng() % finals.size()] : inner[rng() % inner.size()];
        if (l.size() + r.size() > 12 || !made.insert(l + r).second) continue;
        merges.emplace_back(l, r);
        (fin ? finals : inner).push_back(l + r);
    }
    std::shuffle(merges.begin(), merges.end(), rng);  // any rank order: a made pair may outrank its parts
    auto filler = [&](const std::string& l, const std::string& r) {
        if (merges.size() < 48894) merges.emplace_back(l, r);
    };
    for (int x = 0; x < 32; x++)
        for (int y = 0; y < 32; y++) filler(sym[x], sym[y]);
    for (int x = 0; x < 32; x++)
        for (int y = 0; y < 32; y++) filler(sym[x], sym[y] + "</w>");
    for (int x = 0; x < 32; x++)
        for (int y = 0; y < 32; y++)
            for (int z = 0; z < 32; z++) filler(sym[x] + sym[y], sym[z]);
    for (int x = 0; x < 32; x++)
        for (int y = 0; y < 32; y++)
            for (int z = 0; z < 32; z++) filler(sym[x] + sym[y], sym[z] + "</w>");

    std::string mtxt = "#version: 0.2\n";
    for (auto& m : merges) mtxt += m.first + " " + m.second + "\n";
    std::vector<std::string> vocab;
    for (auto& bc : b2u) vocab.push_back(bc.second);
    for (size_t k = 0; k < 256; k++) vocab.push_back(vocab[k] + "</w>");
    for (auto& m : merges) vocab.push_back(m.first + m.second);
    vocab.push_back("<|startoftext|>");
    vocab.push_back("<|endoftext|>");
    std::string vtxt = "{";
    for (size_t k = 0; k < vocab.size(); k++) vtxt += (k ? ", " : "") + reco::json_quote(vocab[k]) + ": " + std::to_string(k);
    vtxt += "}";
    reco::write_file_atomic(dir + "/vocab.json", vtxt.data(), vtxt.size());
    reco::write_file_atomic(dir + "/merges.txt", mtxt.data(), mtxt.size());
}

}  // namespace tokref
