#include "common/signals.hpp"

#include <atomic>
#include <csignal>
#include <cstring>

#include <unistd.h>

namespace cellfit::signals {

namespace {

char pending_temp[4096] = {0};
std::atomic<int> pending_set{0};
std::atomic<int> graceful{0};
std::atomic<int> requested{0};
std::atomic<int> installed{0};

static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");

extern "C" void on_signal(int sig) {
  if (graceful.load() && requested.load() == 0) {
    requested.store(sig);
    return;
  }
  if (pending_set.load()) ::unlink(pending_temp);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

void install() {
  if (installed.exchange(1)) return;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGUSR1, on_signal);
}

namespace {
constexpr int handled[3] = {SIGTERM, SIGINT, SIGUSR1};
}  // namespace

handler_scope::handler_scope() {
  struct sigaction ours {};
  ours.sa_handler = on_signal;
  sigemptyset(&ours.sa_mask);
  for (int k = 0; k < 3; ++k) sigaction(handled[k], &ours, &previous_[k]);
  installed.store(1);
}

handler_scope::~handler_scope() {
  for (int k = 0; k < 3; ++k) sigaction(handled[k], &previous_[k], nullptr);
  // The next install() (a scope, a pending temporary file) installs them again.
  installed.store(0);
  requested.store(0);
}

int stop_requested() { return requested.load(); }

void clear_stop_request() { requested.store(0); }

stop_scope::stop_scope() {
  install();
  graceful.store(1);
}

stop_scope::~stop_scope() { graceful.store(0); }

void set_pending_temp(const char* path) {
  pending_set.store(0);
  if (path == nullptr) return;
  const std::size_t n = std::strlen(path);
  if (n >= sizeof pending_temp) return;
  std::memcpy(pending_temp, path, n + 1);
  install();
  pending_set.store(1);
}

}  // namespace cellfit::signals
