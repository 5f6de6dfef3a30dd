// data_parallel.cpp — one training step over R ranks (see data_parallel.h, SPEC §9).
#include "dist/data_parallel.h"

#include <algorithm>
#include <cstring>

#include "common.h"
#include "impl.h"
#include "nce_loss.h"
#include "sigmoid_loss.h"

namespace reco {

void batch_slice(int B, int R, int r, int* b0, int* b1) {
    if (B < 0 || R < 1 || r < 0 || r >= R) fail("batch_slice: invalid batch %d, ranks %d, rank %d", B, R, r);
    const int q = B / R, extra = B % R;
    *b0 = r * q + std::min(r, extra);
    *b1 = *b0 + q + (r < extra ? 1 : 0);
}

std::vector<int> batch_slice_rows(int B, int R) {
    std::vector<int> rows(R);
    for (int r = 0; r < R; r++) {
        int b0, b1;
        batch_slice(B, R, r, &b0, &b1);
        rows[r] = b1 - b0;
    }
    return rows;
}

// The loss of fusion_train.cpp's three_term_loss on the gathered global batch.
static float global_loss(LossKind loss, const FusionModel& model, DataParallelWorkspace& ws, int B, float* dscalars) {
    const int D = model.dims.d;
    const float logit_scale = model.logit_scale();
    if (loss == LossKind::sigmoid)
        return reco_sigmoid_loss<float>(ws.Vbar.data(), ws.Tbar.data(), ws.V.data(), ws.T.data(), B, D, logit_scale,
                                        model.logit_bias(), ws.dVbar.data(), ws.dTbar.data(), dscalars,
                                        dscalars + 1);
    return reco_loss<float>(ws.Vbar.data(), ws.Tbar.data(), ws.V.data(), ws.T.data(), B, D, logit_scale,
                            ws.dVbar.data(), ws.dTbar.data(), dscalars);
}

float data_parallel_loss_and_grads(Collectives& c, const FusionModel& model, DataParallelWorkspace& ws,
                                   const float* V, const float* T, const float* nbr_txt_for_img,
                                   const float* nbr_img_for_txt, int B, int k, LossKind loss,
                                   std::vector<float>& grads) {
    const FusionDims& dims = model.dims;
    dims.validate();
    if (B < 1 || k < 0) fail("data-parallel step: invalid batch %d or k %d", B, k);
    if ((loss == LossKind::sigmoid) != dims.logit_bias)
        fail("data-parallel step: the %s loss needs a model %s a logit_bias parameter", loss_name(loss),
             dims.logit_bias ? "without" : "with");
    const int R = c.size(), r = c.rank(), D = dims.d;
    const size_t M = dims.module_numel();
    int b0, b1;
    batch_slice(B, R, r, &b0, &b1);
    const int Bl = b1 - b0;
    const float* p_img = model.params.data();
    const float* p_txt = p_img + M;

    // 1. forward of this rank's rows (the fast query-row path, or the reference layer under --impl reference)
    const bool ref = impl() == Impl::reference;
    if (Bl > 0 && ref) {
        fusion_forward_ref(ws.img_ref, dims, p_img, V, nbr_txt_for_img, Bl, k);
        fusion_forward_ref(ws.txt_ref, dims, p_txt, T, nbr_img_for_txt, Bl, k);
    } else if (Bl > 0) {
        fusion_forward(ws.img, dims, p_img, V, nbr_txt_for_img, Bl, k);
        fusion_forward(ws.txt, dims, p_txt, T, nbr_img_for_txt, Bl, k);
    }
    const float* Vbar_mine = ref ? ws.img_ref.out.data() : ws.img.out.data();
    const float* Tbar_mine = ref ? ws.txt_ref.out.data() : ws.txt.out.data();
    // 2. all-gather [V̄ | T̄ | V | T], one packed row of 4d per item
    ws.mine.resize((size_t)Bl * 4 * D);
    for (int b = 0; b < Bl; b++) {
        float* row = ws.mine.data() + (size_t)b * 4 * D;
        std::memcpy(row, Vbar_mine + (size_t)b * D, D * sizeof(float));
        std::memcpy(row + D, Tbar_mine + (size_t)b * D, D * sizeof(float));
        std::memcpy(row + 2 * D, V + (size_t)b * D, D * sizeof(float));
        std::memcpy(row + 3 * D, T + (size_t)b * D, D * sizeof(float));
    }
    ws.all.resize((size_t)B * 4 * D);
    c.allgather_rows(ws.mine.data(), ws.all.data(), batch_slice_rows(B, R), 4 * D);
    for (auto* v : {&ws.Vbar, &ws.Tbar, &ws.V, &ws.T}) v->resize((size_t)B * D);
    for (int b = 0; b < B; b++) {
        const float* row = ws.all.data() + (size_t)b * 4 * D;
        std::memcpy(ws.Vbar.data() + (size_t)b * D, row, D * sizeof(float));
        std::memcpy(ws.Tbar.data() + (size_t)b * D, row + D, D * sizeof(float));
        std::memcpy(ws.V.data() + (size_t)b * D, row + 2 * D, D * sizeof(float));
        std::memcpy(ws.T.data() + (size_t)b * D, row + 3 * D, D * sizeof(float));
    }
    // 3. the global batch's loss, identical on every rank
    grads.assign(dims.total_numel(), 0.0f);
    ws.dVbar.assign((size_t)B * D, 0.0f);
    ws.dTbar.assign((size_t)B * D, 0.0f);
    const float L = global_loss(loss, model, ws, B, grads.data() + 2 * M);
    // the scalars' gradient is the same on every rank: counted once, from rank 0
    if (r != 0) std::fill(grads.begin() + 2 * M, grads.end(), 0.0f);
    // 4. backward through the gather: this rank's rows of dL/dV̄, dL/dT̄ through its fusion rows
    if (Bl > 0 && ref) {
        fusion_backward_ref(ws.img_ref, dims, p_img, grads.data(), ws.dVbar.data() + (size_t)b0 * D,
                            (float*)nullptr, (float*)nullptr);
        fusion_backward_ref(ws.txt_ref, dims, p_txt, grads.data() + M, ws.dTbar.data() + (size_t)b0 * D,
                            (float*)nullptr, (float*)nullptr);
    } else if (Bl > 0) {
        fusion_backward(ws.img, dims, p_img, grads.data(), ws.dVbar.data() + (size_t)b0 * D, (float*)nullptr,
                        (float*)nullptr);
        fusion_backward(ws.txt, dims, p_txt, grads.data() + M, ws.dTbar.data() + (size_t)b0 * D, (float*)nullptr,
                        (float*)nullptr);
    }
    // 5. parameter gradients summed in rank order
    c.allreduce_sum_ordered(grads.data(), grads.size());
    return L;
}

float data_parallel_train_step(Collectives& c, FusionModel& model, AdamW& opt, DataParallelWorkspace& ws,
                               const float* V, const float* T, const float* nbr_txt_for_img,
                               const float* nbr_img_for_txt, int B, int k, double lr, LossKind loss) {
    const float L =
        data_parallel_loss_and_grads(c, model, ws, V, T, nbr_txt_for_img, nbr_img_for_txt, B, k, loss, ws.grads);
    opt.step(model.params.data(), ws.grads.data(), lr);  // 6. the same update on every rank
    return L;
}

}  // namespace reco
