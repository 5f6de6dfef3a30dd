// sharded_memory.cpp — listing, header checks and row access of a sharded memory (see the header).
#include "dist/sharded_memory.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "json.h"

namespace reco {

// pread exactly n bytes at off, or fail naming the file.
static void read_at(int fd, const std::string& path, void* buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char*)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("%s: read failed: %s", path.c_str(), strerror(errno));
        if (r == 0) fail("%s: file ends after %llu bytes (truncated?)", path.c_str(), (unsigned long long)(off + got));
        got += (size_t)r;
    }
}

ShardInfo read_shard_header(const std::string& path) {
    const char* p = path.c_str();
    size_t size = 0;
    int fd = open_regular_file(path, &size);
    ShardInfo s;
    s.path = path;
    s.file_size = size;
    try {
        if (size < 8) fail("%s: not a memory file: %zu bytes (an empty or truncated shard?)", p, size);
        uint8_t len8[8];
        read_at(fd, path, len8, 8, 0);
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
        if (hlen > size - 8 || hlen > 100u * 1024 * 1024)
            fail("%s: corrupt safetensors: header length %llu does not fit the file (%zu bytes)", p,
                 (unsigned long long)hlen, size);
        std::string header(hlen, '\0');
        read_at(fd, path, &header[0], hlen, 8);
        close(fd);
        fd = -1;
        while (!header.empty() && header.back() == ' ') header.pop_back();
        Json j = parse_json(header, path + " (safetensors header)");
        if (j.type != Json::Object) fail("%s: corrupt safetensors: header is not a JSON object", p);
        const uint64_t data_start = 8 + hlen, data_size = size - data_start;
        std::vector<int64_t> shape[2];
        for (int t = 0; t < 2; t++) {
            const char* name = t == 0 ? "image_emb" : "text_emb";
            const Json* e = j.find(name);
            if (!e) fail("%s: missing tensor '%s' (a memory file needs image_emb and text_emb [N, d] F16)", p, name);
            const Json* dt = e->find("dtype");
            const Json* sh = e->find("shape");
            const Json* of = e->find("data_offsets");
            if (!dt || dt->type != Json::String || dt->str != "F16")
                fail("%s: tensor '%s' must be F16 [N, d]", p, name);
            if (!sh || sh->type != Json::Array || sh->arr.size() != 2 || !sh->arr[0].is_int() || !sh->arr[1].is_int())
                fail("%s: tensor '%s' must have shape [N, d]", p, name);
            if (!of || of->type != Json::Array || of->arr.size() != 2 || !of->arr[0].is_int() || !of->arr[1].is_int())
                fail("%s: tensor '%s': missing or bad data_offsets", p, name);
            shape[t] = {(int64_t)sh->arr[0].num, (int64_t)sh->arr[1].num};
            const double b = of->arr[0].num, en = of->arr[1].num;
            if (shape[t][0] < 0 || shape[t][1] < 0 || shape[t][0] > INT_MAX || shape[t][1] > 65536)
                fail("%s: tensor '%s' has a bad shape", p, name);
            if (b < 0 || en < b || (uint64_t)(en - b) != (uint64_t)shape[t][0] * shape[t][1] * 2)
                fail("%s: tensor '%s': data_offsets do not match its shape", p, name);
            if ((uint64_t)en > data_size)
                fail("%s: tensor '%s' ends at byte %llu but the file has %zu bytes (truncated?)", p, name,
                     (unsigned long long)(data_start + (uint64_t)en), size);
            (t == 0 ? s.image_pos : s.text_pos) = data_start + (uint64_t)b;
        }
        if (shape[0] != shape[1]) fail("%s: image_emb and text_emb differ in shape (row i of both must be pair i)", p);
        if (shape[0][0] < 1) fail("%s: the shard holds no pairs (an empty shard)", p);
        if (shape[0][1] < 1) fail("%s: embedding dimension is 0", p);
        s.n = (int)shape[0][0];
        s.d = (int)shape[0][1];
        s.has_captions = j.find("captions") && j.find("caption_offsets");
        if (const Json* m = j.find("__metadata__")) {
            auto get = [&](const char* key) {
                const Json* v = m->find(key);
                return v && v->type == Json::String ? v->str : std::string();
            };
            if (!get("format").empty() && get("format") != kEmbeddingFormat)
                fail("%s: metadata format is '%s', expected '%s'", p, get("format").c_str(), kEmbeddingFormat);
            if (!get("n").empty() && get("n") != std::to_string(s.n))
                fail("%s: metadata says n=%s but the tensors hold %d pairs", p, get("n").c_str(), s.n);
            if (!get("d").empty() && get("d") != std::to_string(s.d))
                fail("%s: metadata says d=%s but the tensors have d=%d", p, get("d").c_str(), s.d);
            s.model = get("model");
            s.family = get("family");
        }
    } catch (...) {
        if (fd >= 0) close(fd);
        throw;
    }
    return s;
}

static bool ends_with(const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

std::vector<std::string> list_memory_files(const std::string& dir) {
    DIR* dp = opendir(dir.c_str());
    if (!dp) fail("%s: cannot open the memory directory: %s", dir.c_str(), strerror(errno));
    std::vector<std::string> names;
    while (struct dirent* e = readdir(dp)) {
        std::string name = e->d_name;
        if (name.empty() || name[0] == '.' || !ends_with(name, ".safetensors")) continue;
        if (name.find(".knn-") != std::string::npos) continue;  // a neighbour cache, not a shard
        struct stat st;
        std::string full = dir + "/" + name;
        if (stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        names.push_back(name);
    }
    closedir(dp);
    if (names.empty())
        fail("%s: the memory directory holds no memory files (*.safetensors; make shards with reco memory "
             "import-npy or reco memory split)", dir.c_str());
    std::sort(names.begin(), names.end());
    for (auto& n : names) n = dir + "/" + n;
    return names;
}

ShardedMemory::ShardedMemory(const std::string& path) : path_(path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) fail("%s: cannot open the memory: %s", path.c_str(), strerror(errno));
    is_dir_ = S_ISDIR(st.st_mode);
    std::vector<std::string> files = is_dir_ ? list_memory_files(path) : std::vector<std::string>{path};
    for (const std::string& f : files) {
        ShardInfo s = read_shard_header(f);
        s.offset = n_;
        if (!shards_.empty()) {
            const ShardInfo& a = shards_[0];
            check_compatible("memory shard " + a.path, a.d, a.model, "memory shard " + f, s.d, s.model);
            check_family("memory shard " + a.path, a.family, "memory shard " + f, s.family);
            if (a.model.empty() != s.model.empty())
                fail("memory shard %s names its model (%s) but shard %s does not: shards of one memory must come from "
                     "one model", (a.model.empty() ? f : a.path).c_str(), (a.model.empty() ? s.model : a.model).c_str(),
                     (a.model.empty() ? a.path : f).c_str());
        }
        n_ += s.n;
        if (n_ > INT_MAX) fail("%s: the memory holds more than %d rows, more than one search supports", path.c_str(), INT_MAX);
        has_captions_ = has_captions_ && s.has_captions;
        shards_.push_back(s);
    }
    d_ = shards_[0].d;
    model_ = shards_[0].model;
    family_ = shards_[0].family;
    open_.resize(shards_.size());
    owned_.resize(shards_.size());
    for (size_t i = 0; i < shards_.size(); i++) once_.emplace_back(new std::once_flag);
}

ShardedMemory::ShardedMemory(const EmbeddingFile& file) : path_(file.path()) {
    ShardInfo s = read_shard_header(file.path());
    if (s.n != file.n() || s.d != file.d())
        fail("%s: the file changed since it was opened (%d×%d, now %d×%d)", path_.c_str(), file.n(), file.d(), s.n, s.d);
    n_ = s.n;
    d_ = s.d;
    model_ = s.model;
    family_ = s.family;
    has_captions_ = s.has_captions;
    shards_.push_back(s);
    open_.assign(1, &file);
    owned_.resize(1);
    once_.emplace_back(new std::once_flag);
    std::call_once(*once_[0], [] {});  // already open
}

ShardedMemory::~ShardedMemory() = default;

uint64_t ShardedMemory::bytes() const {
    uint64_t b = 0;
    for (auto& s : shards_) b += s.file_size;
    return b;
}

int ShardedMemory::shard_of(int64_t row) const {
    if (row < 0 || row >= n_) fail("%s: row %lld out of range (%lld pairs)", path_.c_str(), (long long)row, (long long)n_);
    auto it = std::upper_bound(shards_.begin(), shards_.end(), row,
                               [](int64_t r, const ShardInfo& s) { return r < s.offset; });
    return (int)(it - shards_.begin()) - 1;
}

const EmbeddingFile& ShardedMemory::shard_file(int s) const {
    std::call_once(*once_[s], [&] {
        std::unique_ptr<EmbeddingFile> f(new EmbeddingFile(shards_[s].path));
        if (f->n() != shards_[s].n || f->d() != shards_[s].d)
            fail("memory shard %s changed since it was listed (%d×%d, now %d×%d)", shards_[s].path.c_str(),
                 shards_[s].n, shards_[s].d, f->n(), f->d());
        open_[s] = f.get();
        owned_[s] = std::move(f);
    });
    return *open_[s];
}

void ShardedMemory::open_all() const {
    for (size_t s = 0; s < shards_.size(); s++) shard_file((int)s);
}

void ShardedMemory::image_row(int64_t i, float* out) const {
    int s = shard_of(i);
    shard_file(s).image_row((int)(i - shards_[s].offset), out);
}

void ShardedMemory::text_row(int64_t i, float* out) const {
    int s = shard_of(i);
    shard_file(s).text_row((int)(i - shards_[s].offset), out);
}

std::string ShardedMemory::caption(int64_t i) const {
    int s = shard_of(i);
    return shard_file(s).caption((int)(i - shards_[s].offset));
}

}  // namespace reco
