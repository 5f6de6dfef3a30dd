// comm_backend.h — the two primitives a communication backend provides (private to src/dist/).
// comm.cpp builds the whole interface of comm.h on these. Implemented by comm_mpi.cpp when MPI is
// compiled in (RECO_MPI=1; it falls back to one process when not launched by mpirun), else by the
// single-process backend at the end of comm.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace reco {
namespace dist {
namespace backend {

void init(int* argc, char*** argv);  // see dist::init
void finalize();
[[noreturn]] void abort_all(int code);
int rank();
int size();
const char* name();
void barrier();
void broadcast(void* data, size_t n, int root);
// Every rank's n bytes concatenated in rank order into `all`; counts[r] = rank r's n.
void allgatherv(const uint8_t* mine, size_t n, std::vector<size_t>& counts, std::vector<uint8_t>& all);

}  // namespace backend
}  // namespace dist
}  // namespace reco
