#pragma once
// Shared by the MPI tests (tests/mpi/main.cpp).

#include "comm/context.hpp"

namespace cellfit::test {

// MPI_COMM_WORLD as a context (duplicated).
const comm::context_ptr& world();

}  // namespace cellfit::test
