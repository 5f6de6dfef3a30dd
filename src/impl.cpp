// impl.cpp — the process-wide --impl choice (impl.h).
#include "impl.h"

#include <atomic>

#include "common.h"

namespace reco {

static std::atomic<Impl> g_impl{Impl::fast};

Impl impl() { return g_impl.load(std::memory_order_relaxed); }
void set_impl(Impl i) { g_impl.store(i, std::memory_order_relaxed); }

Impl parse_impl(const std::string& name) {
    if (name.empty() || name == "fast") return Impl::fast;
    if (name == "reference") return Impl::reference;
    fail("--impl must be fast or reference (got '%s')", name.c_str());
}

const char* impl_name(Impl i) { return i == Impl::reference ? "reference" : "fast"; }

}  // namespace reco
