// npy.cpp — the .npy reader (see npy.h for the format and what is accepted).
//
// The header is a Python literal written by numpy.lib.format; it is parsed by hand here: a dict
// of exactly the keys 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple of
// integers), in any order, with an optional trailing comma, followed by spaces and '\n'.
#include "npy.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "safetensors.h"  // half_to_float

namespace reco {

namespace {

// A cursor over the header text; every error names the file.
struct HeaderParser {
    const std::string& s;
    const std::string& path;
    size_t p = 0;

    [[noreturn]] void bad(const char* what) {
        std::string shown = s.substr(0, std::min<size_t>(s.size(), 200));
        while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.pop_back();
        fail("%s: corrupt .npy header (%s): %s", path.c_str(), what, shown.c_str());
    }
    void ws() {
        while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) p++;
    }
    bool eat(char c) {
        ws();
        if (p < s.size() && s[p] == c) { p++; return true; }
        return false;
    }
    std::string quoted() {
        ws();
        if (p >= s.size() || (s[p] != '\'' && s[p] != '"')) bad("expected a quoted string");
        char q = s[p++];
        size_t e = s.find(q, p);
        if (e == std::string::npos) bad("unterminated string");
        std::string out = s.substr(p, e - p);
        p = e + 1;
        return out;
    }
    bool boolean() {
        ws();
        if (s.compare(p, 4, "True") == 0) { p += 4; return true; }
        if (s.compare(p, 5, "False") == 0) { p += 5; return false; }
        bad("expected True or False");
    }
    std::vector<int64_t> tuple() {
        if (!eat('(')) bad("expected a shape tuple");
        std::vector<int64_t> dims;
        for (;;) {
            if (eat(')')) break;
            ws();
            if (p >= s.size() || s[p] < '0' || s[p] > '9') bad("expected a non-negative integer in the shape");
            int64_t v = 0;
            while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
                if (v > (INT64_MAX - 9) / 10) bad("shape entry too large");
                v = v * 10 + (s[p++] - '0');
            }
            if (p < s.size() && s[p] == 'L') p++;  // Python 2 longs
            dims.push_back(v);
            if (eat(')')) break;
            if (!eat(',')) bad("expected ',' or ')' in the shape");
        }
        return dims;
    }
};

std::string shape_text(const std::vector<int64_t>& dims) {
    std::string t = "(";
    for (size_t i = 0; i < dims.size(); i++) t += (i ? ", " : "") + std::to_string(dims[i]);
    return t + (dims.size() == 1 ? ",)" : ")");
}

}  // namespace

NpyMatrix::NpyMatrix(const std::string& path) : path_(path), file_(new MappedFile(path)) {
    const char* p = path.c_str();
    const size_t size_ = file_->size();
    if (size_ < 10) fail("%s: not a .npy file (only %zu bytes)", p, size_);
    {
        const uint8_t* b = file_->data();
        if (memcmp(b, "\x93NUMPY", 6) != 0) fail("%s: not a .npy file (bad magic; expected \\x93NUMPY)", p);
        int major = b[6], minor = b[7];
        size_t hlen, hstart;
        if (major == 1) {
            hlen = b[8] | (size_t)b[9] << 8;
            hstart = 10;
        } else if (major == 2 || major == 3) {
            if (size_ < 12) fail("%s: truncated .npy file (header length missing)", p);
            hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
            hstart = 12;
        } else {
            fail("%s: unsupported .npy format version %d.%d (known: 1.0, 2.0, 3.0)", p, major, minor);
        }
        if (hlen > size_ - hstart)
            fail("%s: truncated .npy file: the header (%zu bytes) goes beyond the end of the file (%zu bytes)", p,
                 hlen, size_);
        std::string header((const char*)b + hstart, hlen);

        HeaderParser hp{header, path};
        bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
        std::vector<int64_t> shape;
        if (!hp.eat('{')) hp.bad("expected '{'");
        for (;;) {
            if (hp.eat('}')) break;
            std::string key = hp.quoted();
            if (!hp.eat(':')) hp.bad("expected ':'");
            if (key == "descr") descr_ = hp.quoted(), have_descr = true;
            else if (key == "fortran_order") fortran = hp.boolean(), have_fortran = true;
            else if (key == "shape") shape = hp.tuple(), have_shape = true;
            else hp.bad(("unexpected key '" + key + "'").c_str());
            if (hp.eat('}')) break;
            if (!hp.eat(',')) hp.bad("expected ',' or '}'");
        }
        hp.ws();
        if (hp.p != header.size()) hp.bad("text after the closing '}'");
        if (!have_descr || !have_fortran || !have_shape)
            hp.bad("'descr', 'fortran_order' and 'shape' are all required");

        if (descr_ == "<f4") itemsize_ = 4;
        else if (descr_ == "<f2") itemsize_ = 2;
        else if (descr_ == ">f4" || descr_ == ">f2")
            fail("%s: big-endian data ('%s') is not supported; save it little-endian, e.g. "
                 "np.save(f, a.astype('<f4'))", p, descr_.c_str());
        else
            fail("%s: dtype '%s' is not supported; embeddings must be float16 ('<f2') or float32 ('<f4')", p,
                 descr_.c_str());
        if (fortran)
            fail("%s: fortran_order=True (column-major) is not supported; save np.ascontiguousarray(a)", p);
        if (shape.size() != 2)
            fail("%s: shape %s is %zu-D; expected a 2-D array of embeddings (N, d)", p, shape_text(shape).c_str(),
                 shape.size());
        rows_ = shape[0], cols_ = shape[1];
        if (rows_ == 0) fail("%s: the array has no rows (shape %s)", p, shape_text(shape).c_str());
        if (cols_ == 0) fail("%s: the embeddings have dimension 0 (shape %s)", p, shape_text(shape).c_str());
        if (rows_ > INT_MAX || cols_ > 65536)
            fail("%s: shape %s is too large (at most %d rows and 65536 dimensions)", p, shape_text(shape).c_str(),
                 INT_MAX);
        size_t data_start = hstart + hlen;
        size_t need = (size_t)rows_ * (size_t)cols_ * itemsize_, have = size_ - data_start;
        if (have < need)
            fail("%s: truncated .npy file: shape %s of %s needs %zu data bytes, the file has %zu", p,
                 shape_text(shape).c_str(), descr_.c_str(), need, have);
        if (have > need)
            fail("%s: %zu unexpected bytes after the array data (shape %s of %s)", p, have - need,
                 shape_text(shape).c_str(), descr_.c_str());
        data_ = b + data_start;
    }
}

NpyMatrix::~NpyMatrix() = default;

void NpyMatrix::row_f32(int64_t i, float* out) const {
    if (i < 0 || i >= rows_) fail("%s: row %lld out of range (%lld rows)", path_.c_str(), (long long)i, (long long)rows_);
    const uint8_t* src = data_ + (size_t)i * cols_ * itemsize_;
    if (itemsize_ == 4) {
        memcpy(out, src, (size_t)cols_ * 4);  // little-endian host (x86-64, aarch64)
    } else {
        for (int64_t c = 0; c < cols_; c++) {
            uint16_t h;
            memcpy(&h, src + 2 * c, 2);
            out[c] = half_to_float(h);
        }
    }
}

}  // namespace reco
