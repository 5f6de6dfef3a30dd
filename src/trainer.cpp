// trainer.cpp — the training loop (see trainer.h).
#include "trainer.h"

#include "progress.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "common.h"
#include "safetensors.h"
#if RECO_CUDA
#include "fusion_gpu.h"
#endif

namespace reco {

const float kDefaultLogitScale = 2.65926003f;  // ln(1/0.07)

float clip_logit_scale(const std::string& model, std::string* source) {
    const std::string file = model + "/model.safetensors";
    if (!model.empty() && file_exists(file)) {
        try {
            SafeTensors st(file);
            if (st.has("logit_scale")) {
                std::vector<float> v = st.to_f32("logit_scale");
                if (v.size() == 1 && std::isfinite(v[0])) {
                    if (source) *source = file;
                    return v[0];
                }
            }
        } catch (const Error&) {
            // fall through to the default; the caller says where the value came from
        }
    }
    if (source) *source = "ln(1/0.07), the CLIP paper's initial temperature";
    return kDefaultLogitScale;
}

std::vector<int> epoch_permutation(uint64_t seed, int64_t epoch, int n) {
    std::mt19937_64 rng(splitmix64(seed) ^ splitmix64(0x5851f42d4c957f2dULL + (uint64_t)epoch));
    std::vector<int> p(n);
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        // uniform j in [0, i] by rejection: no modulo bias, no implementation-defined distribution
        const uint64_t range = (uint64_t)i + 1, limit = UINT64_MAX - UINT64_MAX % range;
        uint64_t r;
        do r = rng();
        while (r >= limit);
        std::swap(p[i], p[(int)(r % range)]);
    }
    return p;
}

Trainer::Trainer(const EmbeddingFile& data, const ShardedMemory& mem, const NeighbourIndex& nb,
                 const TrainSettings& s, FusionModel m, AdamW o, int64_t step)
    : Trainer(data, &mem, nullptr, nb, s, std::move(m), std::move(o), step) {}

Trainer::Trainer(const EmbeddingFile& data, const EmbeddingFile& mem, const NeighbourIndex& nb,
                 const TrainSettings& s, FusionModel m, AdamW o, int64_t step)
    : Trainer(data, nullptr, std::unique_ptr<ShardedMemory>(new ShardedMemory(mem)), nb, s, std::move(m),
              std::move(o), step) {}

Trainer::Trainer(const EmbeddingFile& data, const ShardedMemory* memp, std::unique_ptr<ShardedMemory> own,
                 const NeighbourIndex& nb, const TrainSettings& s, FusionModel m, AdamW o, int64_t step)
    : settings(s), model(std::move(m)), opt(std::move(o)), data_(data), own_mem_(std::move(own)),
      mem_(own_mem_ ? own_mem_.get() : memp), nb_(nb), step_(step) {
    const ShardedMemory& mem = *mem_;
    if (nb.n != data.n() || nb.k != s.k)
        fail("%s: neighbour index is for %d items with k=%d, the run has %d items with k=%d", data.path().c_str(),
             nb.n, nb.k, data.n(), s.k);
    if (model.dims.d != data.d())
        fail("%s: the fusion model has width d=%d but the data's embeddings have d=%d", data.path().c_str(),
             model.dims.d, data.d());
    mem.open_all();  // rows are read from OpenMP threads in step()
    if (mem.d() != data.d())
        fail("%s (d=%d) and memory %s (d=%d): embedding dimensions differ", data.path().c_str(), data.d(),
             mem.path().c_str(), mem.d());
    if (s.batch < 1) fail("batch must be at least 1 (got %d)", s.batch);
    if (s.batch > data.n())
        fail("%s: batch %d is larger than the data (%d items); use --batch %d or less", data.path().c_str(), s.batch,
             data.n(), data.n());
    if (opt.m.size() != model.params.size() || opt.v.size() != model.params.size())
        fail("trainer: optimiser state does not match the model (%zu vs %zu values)", opt.m.size(),
             model.params.size());
    if (step < 0) fail("trainer: negative step %lld", (long long)step);
    loss_ = settings.loss_kind();  // validates the name
    if ((loss_ == LossKind::sigmoid) != model.dims.logit_bias)
        fail("trainer: the %s loss needs a model %s a logit_bias parameter", loss_name(loss_),
             model.dims.logit_bias ? "without" : "with");
    settings.data_n = data.n();
    fuse_images_for_img_ = settings.mode().fuses_images(Modality::image);
    fuse_images_for_txt_ = settings.mode().fuses_images(Modality::text);
    steps_per_epoch_ = data.n() / s.batch;
    schedule_ = settings.lr_schedule();
}

void Trainer::batch_items(int64_t step, std::vector<int>& items) {
    const int B = settings.batch;
    const int64_t epoch = step / steps_per_epoch_, j = step % steps_per_epoch_;
    items.resize(B);
    if (!settings.shuffle) {
        for (int b = 0; b < B; b++) items[b] = (int)(j * B + b);
        return;
    }
    if (epoch != perm_epoch_) {
        perm_ = epoch_permutation(settings.seed, epoch, data_.n());
        perm_epoch_ = epoch;
    }
    std::copy(perm_.begin() + j * B, perm_.begin() + (j + 1) * B, items.begin());
}

struct Trainer::Gpu {
#if RECO_CUDA
    explicit Gpu(const FusionModel& m, const AdamW& o) : impl(m, &o) {}
    FusionGpu impl;
#endif
};

Trainer::~Trainer() = default;

void Trainer::use_cuda() {
    if (loss_ != LossKind::nce)
        fail("the CUDA backend implements the nce loss only; train the %s loss on the CPU (--device cpu)",
             loss_name(loss_));
#if RECO_CUDA
    gpu_.reset(new Gpu(model, opt));
#else
    fail("this build has no CUDA backend (built with CUDA=0)");
#endif
}

void Trainer::sync_from_device() {
#if RECO_CUDA
    if (gpu_) gpu_->impl.download(model, &opt);
#endif
}

void Trainer::use_data_parallel(Collectives* c, DeviceCollectives* device) {
    if (gpu_ && c && !device)
        fail("data-parallel training on the GPU needs device collectives (NCCL: tools/get_nccl.sh, then make)");
    dp_ = c;
    dp_device_ = device;
    dp_ws_.reset(c ? new DataParallelWorkspace : nullptr);
}

float Trainer::step() {
    const int B = settings.batch, k = settings.k, d = data_.d();
    batch_items(step_, items_);
    int b0 = 0, b1 = B;  // the rows this process loads: all, or its data-parallel slice
    if (dp_) batch_slice(B, dp_->size(), dp_->rank(), &b0, &b1);
    const int Bl = b1 - b0;
    V_.resize((size_t)Bl * d);
    T_.resize((size_t)Bl * d);
    nbr_txt_for_img_.resize((size_t)Bl * k * d);
    nbr_img_for_txt_.resize((size_t)Bl * k * d);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < Bl; b++) {
        const int i = items_[b0 + b];
        data_.image_row(i, V_.data() + (size_t)b * d);
        data_.text_row(i, T_.data() + (size_t)b * d);
        for (int j = 0; j < k; j++) {
            // the paper's mode: image i searched the memory's images, fuse those pairs' texts (and
            // vice versa); --fuse uni takes the query's own modality (retrieval_mode.h)
            const int ri = nb_.img[(size_t)i * k + j], rt = nb_.txt[(size_t)i * k + j];
            float* oi = nbr_txt_for_img_.data() + ((size_t)b * k + j) * d;
            float* ot = nbr_img_for_txt_.data() + ((size_t)b * k + j) * d;
            if (fuse_images_for_img_) mem_->image_row(ri, oi);
            else mem_->text_row(ri, oi);
            if (fuse_images_for_txt_) mem_->image_row(rt, ot);
            else mem_->text_row(rt, ot);
        }
    }
    const double lr = schedule_.lr_at(step_);
    float loss;
#if RECO_CUDA
    if (dp_ && gpu_)  // this rank's rows on its GPU, the collectives on device buffers
        loss = gpu_->impl.train_step_data_parallel(*dp_device_, V_.data(), T_.data(), nbr_txt_for_img_.data(),
                                                   nbr_img_for_txt_.data(), B, k, lr);
    else
#endif
    if (dp_)
        loss = data_parallel_train_step(*dp_, model, opt, *dp_ws_, V_.data(), T_.data(), nbr_txt_for_img_.data(),
                                        nbr_img_for_txt_.data(), B, k, lr, loss_);
    else
#if RECO_CUDA
    if (gpu_)
        loss = gpu_->impl.train_step(V_.data(), T_.data(), nbr_txt_for_img_.data(), nbr_img_for_txt_.data(), B, k, lr);
    else
#endif
        loss = fusion_train_step(model, opt, ws_, V_.data(), T_.data(), nbr_txt_for_img_.data(),
                                 nbr_img_for_txt_.data(), B, k, lr, loss_);
    if (!std::isfinite(loss))
        fail("training diverged: the loss of step %lld is %g (lower --lr?)", (long long)step_ + 1, (double)loss);
    step_++;
    return loss;
}

void Trainer::save(const std::string& path) {
    sync_from_device();
    save_checkpoint(path, model, &opt, settings, step_);
}

TrainLoopResult train_loop(Trainer& t, const TrainLoopOptions& o) {
    using clock = std::chrono::steady_clock;
    TrainLoopResult r;
    const int64_t total = t.settings.total_steps, start = t.steps_done();
    const int64_t end = o.stop_after > 0 ? std::min(total, start + o.stop_after) : total;
    const auto t0 = clock::now();
    auto last_report = t0;
    int64_t last_saved = -1;
    while (t.steps_done() < end) {
        if (o.interrupt && *o.interrupt) {
            r.interrupted = true;
            break;
        }
        const float loss = t.step();
        r.losses.push_back(loss);
        const int64_t n = t.steps_done();  // 1-based number of the step just done
        if (o.on_step) o.on_step(t, n, loss, std::chrono::duration<double>(clock::now() - t0).count());
        if (o.log_every > 0 && (n % o.log_every == 0 || n == end)) {
            fprintf(o.log, "step %lld loss %.9g\n", (long long)n, (double)loss);
            fflush(o.log);
        }
        if (!o.out.empty() && o.save_every > 0 && n % o.save_every == 0 && n < end) {
            t.save(o.out);
            last_saved = n;
        }
        if (o.progress && progress_due(last_report, n == end)) {  // \r on a terminal, a line per 10 s in logs
            const double el = std::chrono::duration<double>(clock::now() - t0).count();
            const double rate = el > 0 ? (double)(n - start) / el : 0;
            const bool tty = stderr_is_tty();
            fprintf(stderr, "%strain step %lld/%lld  epoch %lld  loss %.4f  %.1f steps/s  ETA %.0fs%s", tty ? "\r" : "",
                    (long long)n, (long long)total, (long long)((n - 1) / t.steps_per_epoch()) + 1, (double)loss,
                    rate, rate > 0 ? (double)(end - n) / rate : 0.0, tty ? "   " : "\n");
            if (tty && n == end) fprintf(stderr, "\n");
            fflush(stderr);
        }
    }
    if (o.progress && r.interrupted) fprintf(stderr, "\ninterrupted at step %lld\n", (long long)t.steps_done());
    if (!o.out.empty() && last_saved != t.steps_done()) t.save(o.out);
    t.sync_from_device();  // callers evaluate t.model after the loop
    r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return r;
}

}  // namespace reco
