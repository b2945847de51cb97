#pragma once
// The MPI implementation of comm::context (context.hpp) and the process's MPI session.

#include <mpi.h>

#include "comm/context.hpp"

namespace cellfit::comm {

// A context over a duplicate of `comm` (the duplicate is freed with the context), with
// MPI_ERRORS_RETURN so a failed call becomes a cellfit::error instead of an abort.
context_ptr make_mpi_context(MPI_Comm comm);

// True when a launcher started this process as an MPI rank (mpirun/mpiexec, srun): the
// environment names a rank. CELLFIT_MPI=0 or 1 overrides the detection.
bool launched_by_mpi();

// MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread calls MPI; scoring threads and
// the pipeline's simulation thread never do) and MPI_Finalize. One per process.
class mpi_session {
 public:
  mpi_session(int& argc, char**& argv);
  ~mpi_session();
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
};

// Ends every rank of MPI_COMM_WORLD now (an error that escaped error agreement).
[[noreturn]] void abort_world(int exit_code);

}  // namespace cellfit::comm
