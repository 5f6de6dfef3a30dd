// test_main.cpp — doctest's main, plus the plain closing line CI reads:
//     N passed, M failed
// (doctest's own totals, printed after its summary).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {
struct TotalsListener : doctest::IReporter {
    explicit TotalsListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats& s) override {
        passed_ = s.numTestCasesPassingFilters - s.numTestCasesFailed;
        failed_ = s.numTestCasesFailed;
    }
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
    static unsigned passed_, failed_;
};
unsigned TotalsListener::passed_ = 0, TotalsListener::failed_ = 0;
}  // namespace

DOCTEST_REGISTER_LISTENER("totals", 1, TotalsListener);

int main(int argc, char** argv) {
    doctest::Context ctx(argc, argv);
    int rc = ctx.run();
    fflush(stdout);
    printf("%u passed, %u failed\n", TotalsListener::passed_, TotalsListener::failed_);
    return rc;
}
