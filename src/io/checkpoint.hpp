#pragma once
// Checkpoints of a fit (docs/checkpoint.md): the engine's evaluation log (ga::ga_log,
// gradient_log) and the identity of the problem it belongs to, in /checkpoint of an HDF5
// file. `cellfit fit` writes one every fit.checkpoint_every generations/evaluations and when
// SIGTERM or SIGUSR1 arrives, always atomically (temporary file, then rename), and puts the
// same group into the final fit output, so a finished fit can be extended as well.
//
// A checkpoint is resumed only into the problem it was written for: the identity is the
// config after --set (one line per value, run-control keys left out: output, checkpoint,
// generations/epochs, threads, [parallel]) plus digests of the data the config points to
// (target traces, feature targets). Any difference is refused, naming the first line.

#include <string>
#include <vector>

#include "ga/genetic_fit.hpp"
#include "gradient/gradient_fit.hpp"
#include "io/config.hpp"
#include "io/h5.hpp"

namespace cellfit::checkpoint {

struct identity {
  std::string engine;              // "ga" or "gradient"
  std::vector<std::string> lines;  // sorted
};

// The identity of a fit: rc.canonical less the run-control keys, the engine, and `extra`
// lines from the driver (digest("target", data), ...).
identity make_identity(const run_config& rc, const std::string& engine,
                       const std::vector<std::string>& extra);

// "<name> = <FNV-1a 64 of the values' bytes, hex>".
std::string digest(const std::string& name, const std::vector<double>& values);

// /checkpoint in an open file.
void write(h5::file& f, const identity& id, const ga::ga_log& log);
void write(h5::file& f, const identity& id, const gradient_log& log);

// What a checkpoint records as its cause in /checkpoint@written_on: "SIGINT", "SIGTERM",
// "SIGUSR1" for a stop request with that signal number, "schedule" for none (0).
std::string written_on(int signal_number);

// The cause a checkpoint file records, "" when the file cannot be read as one (or predates
// the attribute). Never throws.
std::string read_written_on(const std::string& path);

// A file holding only the checkpoint, written atomically (its cause: the pending stop
// request, signals::stop_requested()). Throws io_error.
void save(const std::string& path, const identity& id, const ga::ga_log& log);
void save(const std::string& path, const identity& id, const gradient_log& log);

// Reads a checkpoint. Throws io_error when the file cannot be read or holds no cellfit
// checkpoint, config_error when it was written for another engine or problem. Never
// modifies the file.
ga::ga_log load_ga(const std::string& path, const identity& expected);
gradient_log load_gradient(const std::string& path, const identity& expected);

}  // namespace cellfit::checkpoint
