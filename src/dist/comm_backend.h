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
// All-to-all with uneven counts: `send` holds, in rank order, send_counts[s] bytes for each rank s;
// `recv` receives, in rank order, what each rank sent to this one (recv_counts[r] bytes from rank r,
// which the caller knows in advance).
void alltoallv(const uint8_t* send, const std::vector<size_t>& send_counts, uint8_t* recv,
               const std::vector<size_t>& recv_counts);

}  // namespace backend
}  // namespace dist
}  // namespace reco
