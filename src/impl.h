// impl.h — which implementation runs: the fast machinery or the plain reference (--impl).
//
// Every command accepts --impl fast|reference (default fast), set once per process by main.cpp.
// The reference path runs only the plain code of src/reference/ and the readable full-sequence
// fusion layer (fusion.cpp): plain-loop matrix products, brute-force top-k, plain AdamW, the
// fusion layer over all k+1 tokens exactly as the paper writes it. It is there to be read first
// and run side by side with the fast path, which must reproduce it (tests/test_reference_twins.cpp).
// The reference runs on the CPU only (device.cpp: --device auto picks the CPU, cuda is an error).
//
// The switch is consulted at a few central points, never in the commands:
//   topk_search        (topk.cpp)         → topk_search_reference   (reference/topk.cpp)
//   matmul_forward[_packed] (gemm.cpp)    → matmul_reference        (reference/matmul.cpp)
//   attention_forward[_qkv] (ops.cpp)     → attention_reference     (reference/attention.cpp)
//   gemm, gemm_batched (fusion_gemm.cpp)  → gemm_reference          (reference/matmul.cpp)
//   fusion_loss        (fusion_train.cpp) → fusion_forward_ref / fusion_backward_ref (fusion.cpp)
//   fusion_refine      (fusion.cpp)       → fusion_forward_ref
//   AdamW::step        (adamw.cpp)        → adamw_step_reference    (reference/adamw.cpp)
#pragma once
#include <string>

namespace reco {

enum class Impl { fast, reference };

Impl impl();           // the process-wide choice (fast unless set)
void set_impl(Impl);   // main.cpp sets it from --impl before the command runs; tests use ImplScope
// "fast" / "reference" → Impl; anything else: reco::fail("--impl must be fast or reference (got '...')").
Impl parse_impl(const std::string& name);
const char* impl_name(Impl);

// Sets the choice for one scope and restores the previous one (tests).
struct ImplScope {
    explicit ImplScope(Impl i) : saved_(impl()) { set_impl(i); }
    ~ImplScope() { set_impl(saved_); }
    ImplScope(const ImplScope&) = delete;
    ImplScope& operator=(const ImplScope&) = delete;

private:
    Impl saved_;
};

}  // namespace reco
