#pragma once
// SIGTERM, SIGINT and SIGUSR1. Slurm sends SIGTERM (scancel, the time limit) or a signal
// chosen with --signal (SIGUSR1 by convention) some time before it kills a job; mpirun
// passes both on to every rank.
//
// Outside a stop_scope the process dies by the signal at once, after removing the temporary
// file being written (h5::atomic_output), so a killed job never leaves a half-written file.
// Inside a stop_scope (a fit that can checkpoint) the first signal only records a stop
// request: the fit polls stop_requested() at safe points, writes a checkpoint and exits with
// exit_interrupted. A second signal acts at once, as outside a scope.
//
// The handlers use only async-signal-safe calls (unlink, signal, raise) and lock-free
// atomics.

#include <csignal>

namespace cellfit::signals {

// Installs the handlers (idempotent; called by the first stop_scope or pending temp file).
void install();

// The signal number of the pending stop request, 0 when there is none.
int stop_requested();

// Clears the stop request (a fit that has acted on it, tests).
void clear_stop_request();

// Graceful stop while alive. Scopes do not nest.
class stop_scope {
 public:
  stop_scope();
  ~stop_scope();
  stop_scope(const stop_scope&) = delete;
  stop_scope& operator=(const stop_scope&) = delete;
};

// For a host process with handlers of its own (the Python interpreter): installs cellfit's
// handlers for the scope's lifetime and puts the previous ones back after it, so that a
// signal during a fit stops it gracefully and one after it reaches the host as before.
// Scopes do not nest.
class handler_scope {
 public:
  handler_scope();
  ~handler_scope();
  handler_scope(const handler_scope&) = delete;
  handler_scope& operator=(const handler_scope&) = delete;

 private:
  struct sigaction previous_[3];
};

// The temporary file to remove when a signal kills the process (nullptr: none). The path
// is copied; paths longer than 4095 bytes are not tracked.
void set_pending_temp(const char* path);

}  // namespace cellfit::signals
