// test_main.cpp — doctest's main, plus the plain closing line CI reads:
//     N passed, M failed, K skipped
// A test case that called testutil::skip() (no ../shared/data, no CUDA device) and failed nothing
// before it is counted as skipped, not passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "test_util.h"

namespace {
bool g_skipped_this_case = false;

struct TotalsListener : doctest::IReporter {
    explicit TotalsListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override { g_skipped_this_case = false; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats& st) override {
        if (st.failure_flags != 0 || st.numAssertsFailedCurrentTest > 0) failed_++;
        else if (g_skipped_this_case) skipped_++;
        else passed_++;
    }
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
    static unsigned passed_, failed_, skipped_;
};
unsigned TotalsListener::passed_ = 0, TotalsListener::failed_ = 0, TotalsListener::skipped_ = 0;
}  // namespace

void testutil::skip(const char* why) {
    g_skipped_this_case = true;
    printf("SKIPPED (%s): %s\n", doctest::getContextOptions()->currentTest->m_name, why);
    fflush(stdout);
}

DOCTEST_REGISTER_LISTENER("totals", 1, TotalsListener);

int main(int argc, char** argv) {
    doctest::Context ctx(argc, argv);
    int rc = ctx.run();
    fflush(stdout);
    printf("%u passed, %u failed, %u skipped\n", TotalsListener::passed_, TotalsListener::failed_,
           TotalsListener::skipped_);
    return rc;
}
