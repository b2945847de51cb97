#pragma once
// The communication context: the collectives cellfit uses, with a local implementation
// (one process, no MPI: unit tests and laptops) and an MPI one (comm/mpi_context.hpp). The
// engines talk to a context, never to MPI, so the same code runs under `mpirun -np 4` and
// without it.
//
// Every member is a collective: all ranks of the context call it, in the same order, or
// the program hangs. Error agreement (agree() below) is what keeps that true when a rank
// throws. The MPI implementation duplicates the user's communicator and checks every call
// (a failed call throws cellfit::error naming it).

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace cellfit::comm {

class context {
 public:
  virtual ~context() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's index among the ranks of its node, and their number (for the rank-to-GPU
  // mapping: one rank per GPU, the node-local rank picks it).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string name() const = 0;  // "local" or "mpi"

  // Element-wise sum over ranks, in place, on every rank. The result is exact (and so
  // independent of the number of ranks) when at most one rank holds a non-zero per element,
  // which is how the engines use it.
  virtual void sum(std::vector<double>& v) const = 0;
  // Maximum over ranks, on every rank.
  virtual long long max(long long x) const = 0;
  // root's value on every rank (resized to root's size).
  virtual void broadcast(std::vector<double>& v, int root) const = 0;
  virtual void broadcast(std::string& s, int root) const = 0;
  // Every rank's vector, concatenated in rank order, on root (empty elsewhere); counts, when
  // given, receives each rank's length on root.
  virtual std::vector<double> gather(const std::vector<double>& local, int root,
                                     std::vector<std::size_t>* counts = nullptr) const = 0;
  // The same on every rank.
  virtual std::vector<double> gather_all(const std::vector<double>& local,
                                         std::vector<std::size_t>* counts = nullptr) const = 0;
  virtual void barrier() const = 0;
  // Ranks with the same color form a new context (ordered by rank). For ensembles of fits.
  virtual std::shared_ptr<const context> split(int color) const = 0;
};

using context_ptr = std::shared_ptr<const context>;

// One process, no MPI.
context_ptr make_local_context();

// Runs f() on every rank of ctx and agrees on the outcome (a collective). When f throws on
// any rank, every rank throws: with one rank the exception itself; with several, each
// failing rank prints its message (a rank whose message is the same as rank 0's stays quiet)
// and every rank throws peer_error carrying the largest exit code, which main() returns
// without printing again. So no rank waits in a collective for one that has failed, and the
// ranks agree on the exit code.
template <class F>
void agree(const context& ctx, F&& f);

namespace detail {
// The agreement after f() has run: `failure` is f's exception (null when it returned).
void settle(const context& ctx, std::exception_ptr failure);
}  // namespace detail

template <class F>
void agree(const context& ctx, F&& f) {
  std::exception_ptr failure;
  try {
    f();
  } catch (...) {
    failure = std::current_exception();
  }
  detail::settle(ctx, failure);
}

// The one-line message main() prints for an exception ("config error: cellfit::...").
std::string describe(const std::exception& e);

}  // namespace cellfit::comm
