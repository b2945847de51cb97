#include "comm/context.hpp"

#include <cstdio>

namespace cellfit::comm {

namespace {

class local_context final : public context {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string name() const override { return "local"; }
  void sum(std::vector<double>&) const override {}
  long long max(long long x) const override { return x; }
  void broadcast(std::vector<double>&, int) const override {}
  void broadcast(std::string&, int) const override {}
  std::vector<double> gather(const std::vector<double>& local, int,
                             std::vector<std::size_t>* counts) const override {
    if (counts) *counts = {local.size()};
    return local;
  }
  std::vector<double> gather_all(const std::vector<double>& local,
                                 std::vector<std::size_t>* counts) const override {
    return gather(local, 0, counts);
  }
  void barrier() const override {}
  context_ptr split(int) const override { return std::make_shared<local_context>(); }
};

}  // namespace

context_ptr make_local_context() { return std::make_shared<local_context>(); }

std::string describe(const std::exception& e) {
  const char* kind = "error: ";
  if (dynamic_cast<const usage_error*>(&e)) {
    kind = "usage error: ";
  } else if (dynamic_cast<const config_error*>(&e)) {
    kind = "config error: ";
  } else if (dynamic_cast<const morphology_error*>(&e)) {
    kind = "morphology error: ";
  } else if (dynamic_cast<const io_error*>(&e)) {
    kind = "I/O error: ";
  } else if (!dynamic_cast<const error*>(&e)) {
    kind = "internal error (please report): ";
  }
  return std::string(kind) + e.what();
}

namespace detail {

void settle(const context& ctx, std::exception_ptr failure) {
  if (ctx.size() == 1) {
    if (failure) std::rethrow_exception(failure);
    return;
  }
  int code = 0;
  std::string message;
  bool reported = false;
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const peer_error& e) {
      code = e.exit_code();  // already printed by the rank that failed
      reported = true;
    } catch (const std::exception& e) {
      code = exit_code_of(e);
      message = describe(e);
    } catch (...) {
      code = exit_internal;
      message = "internal error (please report): unknown exception";
    }
  }
  // The largest exit code, and the highest rank that has it, in one reduction.
  const long long agreed = ctx.max(static_cast<long long>(code) << 24 | ctx.rank());
  const int agreed_code = static_cast<int>(agreed >> 24);
  if (agreed_code == 0) return;
  // Rank 0's message, so that ranks which failed the same way (a bad config) stay quiet.
  std::string first = ctx.rank() == 0 ? message : std::string();
  ctx.broadcast(first, 0);
  if (failure && !reported && (ctx.rank() == 0 || message != first)) {
    std::fprintf(stderr, "cellfit: [rank %d] %s\n", ctx.rank(), message.c_str());
    std::fflush(stderr);
  }
  const int culprit = static_cast<int>(agreed & 0xffffff);
  throw peer_error("cellfit::comm: rank " + std::to_string(culprit) + " failed (exit code " +
                       std::to_string(agreed_code) + ")",
                   agreed_code);
}

}  // namespace detail

}  // namespace cellfit::comm
