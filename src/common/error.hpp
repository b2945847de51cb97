#pragma once
// The one exception hierarchy of cellfit. `error` and its subclasses are bad input or a bad
// environment (the user can fix them); `internal_error` is a bug. Messages start with
// "cellfit::<where>:" and name the offending file, line, key or value. The CLI maps each
// class to its own exit code (see exit_code_of()).

#include <stdexcept>
#include <string>

namespace cellfit {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command line that cannot be understood.
class usage_error : public error {
 public:
  using error::error;
};

// A config file or --set override: syntax, unknown key, wrong type, impossible value.
class config_error : public error {
 public:
  using error::error;
};

// A morphology (SWC file or built-in generator arguments) that is not a valid tree.
class morphology_error : public error {
 public:
  using error::error;
};

// A file that cannot be read or written (missing, permissions, not HDF5, HDF5 failure).
class io_error : public error {
 public:
  using error::error;
};

// Another rank failed: it reports its own error; this rank stops with the same exit code so
// that no rank waits in a collective for one that has gone (comm/context.hpp).
class peer_error : public error {
 public:
  peer_error(const std::string& what, int exit_code) : error(what), code_(exit_code) {}
  int exit_code() const { return code_; }

 private:
  int code_;
};

class internal_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Exit codes, documented in docs/cli.md.
enum exit_status : int {
  exit_ok = 0,
  exit_failure = 1,  // an error of no more specific class
  exit_usage = 2,
  exit_config = 3,
  exit_morphology = 4,
  exit_io = 5,
  exit_diverged = 6,  // every simulated cell diverged
  exit_internal = 70,
  // Stopped by SIGTERM/SIGUSR1 after writing a checkpoint: `cellfit fit --resume` continues
  // (EX_TEMPFAIL: try again later).
  exit_interrupted = 75,
};

// The exit code of an exception (the CLI's mapping): peer errors carry theirs.
inline int exit_code_of(const std::exception& e) {
  if (const auto* p = dynamic_cast<const peer_error*>(&e)) return p->exit_code();
  if (dynamic_cast<const usage_error*>(&e)) return exit_usage;
  if (dynamic_cast<const config_error*>(&e)) return exit_config;
  if (dynamic_cast<const morphology_error*>(&e)) return exit_morphology;
  if (dynamic_cast<const io_error*>(&e)) return exit_io;
  if (dynamic_cast<const error*>(&e)) return exit_failure;
  return exit_internal;
}

}  // namespace cellfit
