// The MPI test driver: GoogleTest under `mpirun -np N`. MPI and Kokkos are initialised once;
// only rank 0 prints; the exit code is the largest over the ranks, so a test that fails on
// any rank fails the run. Tests reach the ranks through world().
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <Kokkos_Core.hpp>

#include "comm/mpi_context.hpp"
#include "mpi_test.hpp"

namespace cellfit::test {
namespace {
comm::context_ptr world_ctx;

// Ranks other than 0 print only their failures, tagged with the rank.
class failure_printer : public ::testing::EmptyTestEventListener {
 public:
  explicit failure_printer(int rank) : rank_(rank) {}
  // The test's name is taken here: GoogleTest holds its lock while reporting a failure.
  void OnTestStart(const ::testing::TestInfo& t) override {
    test_ = std::string(t.test_suite_name()) + "." + t.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::printf("[rank %d] %s: %s:%d: %s\n", rank_, test_.c_str(),
                r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
    std::fflush(stdout);
  }

 private:
  int rank_;
  std::string test_;
};
}  // namespace
const comm::context_ptr& world() { return world_ctx; }
}  // namespace cellfit::test

int main(int argc, char** argv) {
  cellfit::comm::mpi_session mpi(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rc = 1;
  {
    Kokkos::ScopeGuard kokkos(argc, argv);
    cellfit::test::world_ctx = cellfit::comm::make_mpi_context(MPI_COMM_WORLD);
    const auto& ctx = *cellfit::test::world_ctx;
    if (ctx.rank() != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new cellfit::test::failure_printer(ctx.rank()));
    }
    rc = RUN_ALL_TESTS();
    rc = static_cast<int>(ctx.max(rc));
    cellfit::test::world_ctx.reset();
  }
  return rc;
}
