// embedding_cache.h — image embeddings cached beside the data, keyed by model and file contents, so that
// evaluating the same images again (another fusion checkpoint, --k, --refine) does not re-embed them.
//
// The cache of the images under DATA (an ImageFolder or a pairs TSV) is one file beside it:
//   DATA.img-emb-<16 hex digits of the model key>.safetensors
//     sha256  U8  [m, 32]   SHA-256 of each image file's bytes (what `sha256sum` prints)
//     emb     F32 [m, d]    its L2-normalised image embedding, exactly as computed (fp32, not rounded)
//     __metadata__: format "reco-image-cache-v1", model_key, model, family, d, n, payload_sha256
// An image is looked up by the SHA-256 of its bytes, so a renamed or moved file is still found, and an
// edited one is embedded again. The model key is the SHA-256 of everything the embedding depends on:
// the family, the model id, d, the preprocessing (crop, size, rescale, mean, std), config.json, and the
// weights file's size with 2 MiB sampled from it (its first and last MiB — header and tail — and 64 evenly
// spaced 16 KiB blocks; hashing a 600 MB file whole would cost more than a warm cache saves). Embeddings
// computed on the CPU and on a GPU (which differ by ~1e-6) share one cache.
//
// A cache is trusted only when it parses, names the same format, model key and d, its payload_sha256
// matches the bytes of both tensors (a flipped bit anywhere is caught), and every row is finite with norm
// 1 ± 1e-3; otherwise it is ignored with a note and rewritten. It is rewritten atomically (temp + rename)
// whenever new images were embedded, keeping the rows of images not asked for this time. A folder that
// is not writable only costs the cache (a note, never an error).
#pragma once
#include <cstdio>
#include <string>
#include <vector>

namespace reco {

class Encoder;

std::string image_model_key(const Encoder& enc);  // 64 hex digits
std::string image_cache_path(const std::string& data, const std::string& model_key);

struct ImageCacheStats {
    int reused = 0, embedded = 0;
    bool loaded = false;   // an existing cache was trusted
    bool written = false;  // the cache file was (re)written
    std::string path, why_not_loaded;
};

// [n, d] L2-normalised image embeddings of `paths`, in order. data: the folder or TSV the images belong to
// (the cache sits beside it; "" = no cache). Unreadable or undecodable images are errors naming the file,
// unless `bad` is given (--skip-bad): then (*bad)[i] = 1 marks image i, its row is zeros, and a note
// naming the file and the problem goes to stderr. Notes on `log` (nullable); progress on stderr.
std::vector<float> embed_images_cached(Encoder& enc, const std::vector<std::string>& paths, const std::string& data,
                                       FILE* log = stderr, ImageCacheStats* stats = nullptr,
                                       std::vector<char>* bad = nullptr);

}  // namespace reco
