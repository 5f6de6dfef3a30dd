// train_metrics.cpp — the JSONL metrics file of `reco train --metrics` (see train_metrics.h).
#include "train_metrics.h"

#include <cmath>

#include "common.h"
#include "json.h"

namespace reco {

static std::string num(double x) { return std::isfinite(x) ? strformat("%.9g", x) : std::string("null"); }

MetricsWriter::MetricsWriter(const std::string& path) : path_(path), last_(std::chrono::steady_clock::now()) {
    check_output_path(path, "--metrics");
}

void MetricsWriter::step(int64_t step, float loss, double lr, float logit_scale, double steps_per_s, int batch,
                         double elapsed) {
    text_ += strformat("{\"step\": %lld, \"loss\": %s, \"lr\": %s, \"logit_scale\": %s, \"steps_per_s\": %s, "
                       "\"items_per_s\": %s, \"elapsed_s\": %s}\n",
                       (long long)step, num(loss).c_str(), num(lr).c_str(), num(logit_scale).c_str(),
                       num(steps_per_s).c_str(), num(steps_per_s * batch).c_str(), num(elapsed).c_str());
    maybe_flush();
}

void MetricsWriter::eval(int64_t step, const std::string& eval_path, const ZeroShotResult& z) {
    text_ += strformat("{\"step\": %lld, \"eval\": %s, \"images\": %d, \"classes\": %d, \"frozen\": %s, \"image\": %s, "
                       "\"text\": %s, \"both\": %s}\n",
                       (long long)step, json_quote(eval_path).c_str(), z.n, z.classes, num(z.frozen).c_str(),
                       num(z.image).c_str(), num(z.text).c_str(), num(z.both).c_str());
    maybe_flush();
}

void MetricsWriter::maybe_flush() {
    if (std::chrono::steady_clock::now() - last_ > std::chrono::seconds(5)) flush();
}

void MetricsWriter::flush() {
    write_file_atomic(path_, text_.data(), text_.size());
    last_ = std::chrono::steady_clock::now();
}

}  // namespace reco
