// mpi_util.h — running the MPI tests: the launcher command line and visible skips.
//
// The tests start R ranks with `mpirun --allow-run-as-root --oversubscribe -np R` (oversubscribe:
// more ranks than this machine's cores; allow-run-as-root: CI runs as root) under `timeout`, so a
// hang fails the test instead of the suite. They skip visibly when this build has no MPI (make
// MPI=0, make sanitize) or when no mpirun is installed.
#pragma once
#include <string>

#include "dist/comm.h"
#include "test_util.h"

namespace testutil {

inline bool have_mpirun() { return ::run_cmd("command -v mpirun >/dev/null") == 0; }

// "timeout S mpirun ... -np R " (then the program and its arguments).
inline std::string mpirun(int ranks, int timeout_s = 120) {
    return "timeout " + std::to_string(timeout_s) +
           " mpirun --allow-run-as-root --oversubscribe --bind-to none -np " + std::to_string(ranks) + " ";
}

}  // namespace testutil

// Skip the rest of a test case, loudly, when MPI is not built in or mpirun is absent.
#define REQUIRE_MPI()                                                                              \
    do {                                                                                           \
        if (!RECO_MPI) {                                                                           \
            testutil::skip("built without MPI (make MPI=0 / make sanitize, or no mpicxx found)");  \
            return;                                                                                \
        }                                                                                          \
        if (!testutil::have_mpirun()) {                                                            \
            testutil::skip("no mpirun on the PATH (apt-get install openmpi-bin)");                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)
