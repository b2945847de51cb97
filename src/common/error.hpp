#pragma once
// The one exception hierarchy of cellfit. `error` and its subclasses are bad input or a bad
// environment (the user can fix them); `internal_error` is a bug. Messages start with
// "cellfit::<where>:" and name the offending file, line, key or value. The CLI maps each
// class to its own exit code (see exit_code()).

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
};

}  // namespace cellfit
