#include "io/checkpoint.hpp"

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/signals.hpp"

namespace cellfit::checkpoint {

namespace {

constexpr std::int64_t format_version = 1;

// Keys that change how a fit runs or how long, not what it computes.
bool run_control(const std::string& line) {
  static const char* keys[] = {"output",
                               "fit.output",
                               "fit.checkpoint",
                               "fit.checkpoint_every",
                               "fit.ga.generations",
                               "fit.gradient.epochs",
                               "fit.ga.threads",
                               "parallel",
                               "fit.ensemble",
                               "fit.engine",
                               "fit.max_simulations",
                               "fit.max_seconds",
                               "fit.hybrid"};
  for (const char* k : keys) {
    const std::size_t n = std::strlen(k);
    if (line.compare(0, n, k) == 0 && (line.size() > n && (line[n] == ' ' || line[n] == '.')))
      return true;
  }
  return false;
}

std::vector<std::int64_t> ints(const std::vector<int>& v) { return {v.begin(), v.end()}; }
std::vector<std::int64_t> ints(const std::vector<std::size_t>& v) {
  std::vector<std::int64_t> out;
  for (std::size_t x : v) out.push_back(static_cast<std::int64_t>(x));
  return out;
}

void write_identity(h5::file& f, const identity& id, const std::string& kind) {
  f.write("/checkpoint/identity", id.lines.empty() ? std::vector<std::string>{""} : id.lines);
  f.attribute("/checkpoint", "format", format_version);
  f.attribute("/checkpoint", "engine", id.engine);
  f.attribute("/checkpoint", "kind", kind);
}

std::string key_of(const std::string& line) { return line.substr(0, line.find(" = ")); }

h5::file open_checked(const std::string& path, const identity& expected, const char* kind) {
  h5::file f = [&] {
    try {
      return h5::file::open_read(path);
    } catch (const io_error& e) {
      throw io_error("cellfit::checkpoint: cannot resume from " + path + ": " + e.what());
    }
  }();
  if (!f.exists("/checkpoint") || !f.has_attribute("/checkpoint", "format")) {
    throw io_error("cellfit::checkpoint: " + path +
                   " holds no cellfit checkpoint (no /checkpoint group)");
  }
  const auto version = static_cast<std::int64_t>(f.read_attribute_double("/checkpoint", "format"));
  if (version != format_version) {
    throw io_error("cellfit::checkpoint: " + path + " is checkpoint format " +
                   std::to_string(version) + "; this cellfit reads format " +
                   std::to_string(format_version));
  }
  const std::string engine = f.read_attribute_string("/checkpoint", "engine");
  const std::string stored_kind = f.has_attribute("/checkpoint", "kind")
                                      ? f.read_attribute_string("/checkpoint", "kind")
                                      : std::string("?");
  if (stored_kind != kind) {
    throw config_error("cellfit::checkpoint: " + path + " is a checkpoint of a " + stored_kind +
                       " fit, not of a " + kind + " fit (--engine)");
  }
  if (engine != expected.engine) {
    throw config_error("cellfit::checkpoint: " + path + " is a checkpoint of a " + engine +
                       " fit, this is a " + expected.engine + " fit (--engine)");
  }
  std::vector<std::string> lines = f.read_strings("/checkpoint/identity");
  if (lines.size() == 1 && lines[0].empty()) lines.clear();
  if (lines != expected.lines) {
    // The first line either side lacks, and the same key on the other side.
    std::string there, here;
    for (const auto& l : lines) {
      if (!std::binary_search(expected.lines.begin(), expected.lines.end(), l)) {
        there = l;
        break;
      }
    }
    for (const auto& l : expected.lines) {
      if (!std::binary_search(lines.begin(), lines.end(), l)) {
        here = l;
        break;
      }
    }
    const std::string key = key_of(!there.empty() ? there : here);
    auto find_key = [&](const std::vector<std::string>& v) {
      for (const auto& l : v)
        if (key_of(l) == key) return l;
      return std::string("(not set)");
    };
    throw config_error("cellfit::checkpoint: " + path + " was written for another problem: there " +
                       (there.empty() ? key + " (not set)" : there) + ", here " +
                       find_key(expected.lines) +
                       " (only the number of generations or epochs, "
                       "the output and [parallel] may change on resume)");
  }
  return f;
}

std::vector<double> read_or_empty(const h5::file& f, const std::string& name) {
  if (!f.exists(name)) return {};
  std::vector<std::size_t> dims;
  return f.read_doubles(name, dims);
}

std::vector<std::int64_t> read_ints_or_empty(const h5::file& f, const std::string& name) {
  if (!f.exists(name)) return {};
  std::vector<std::size_t> dims;
  return f.read_ints(name, dims);
}

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw io_error("cellfit::checkpoint: " + path + " is damaged: " + what);
}

}  // namespace

std::string digest(const std::string& name, const std::vector<double>& values) {
  std::uint64_t h = 1469598103934665603ull;
  for (double v : values) {
    unsigned char b[sizeof(double)];
    std::memcpy(b, &v, sizeof b);
    for (unsigned char c : b) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return name + " = " + buf;
}

identity make_identity(const run_config& rc, const std::string& engine,
                       const std::vector<std::string>& extra) {
  identity id;
  id.engine = engine;
  for (const auto& l : rc.canonical)
    if (!run_control(l)) id.lines.push_back(l);
  id.lines.insert(id.lines.end(), extra.begin(), extra.end());
  id.lines.push_back("cellfit.version = 0.1.0");
  std::sort(id.lines.begin(), id.lines.end());
  return id;
}

void write(h5::file& f, const identity& id, const ga::ga_log& log) {
  write_identity(f, id, "ga");
  const std::size_t G = log.generations(),
                    N = log.genomes.size() / std::max<std::size_t>(1, log.n_params);
  f.attribute("/checkpoint", "generations", static_cast<std::int64_t>(G));
  f.attribute("/checkpoint", "n_params", static_cast<std::int64_t>(log.n_params));
  f.attribute("/checkpoint", "n_objectives", static_cast<std::int64_t>(log.n_objectives));
  if (G == 0) return;
  f.write("/checkpoint/ga/evaluated", ints(log.evaluated), {G});
  f.write("/checkpoint/ga/genomes", log.genomes, {N, log.n_params});
  f.write("/checkpoint/ga/objectives", log.objectives, {N, log.n_objectives});
  f.write("/checkpoint/ga/diverged", ints(log.diverged), {G});
  f.write("/checkpoint/ga/wall_s", log.wall_s, {G});
  f.write("/checkpoint/ga/simulate_s", log.simulate_s, {G});
  f.write("/checkpoint/ga/copy_s", log.copy_s, {G});
  f.write("/checkpoint/ga/score_s", log.score_s, {G});
  f.write("/checkpoint/ga/communicate_s", log.communicate_s, {G});
  f.write("/checkpoint/ga/select_s", log.select_s, {G});
  f.write("/checkpoint/ga/simulations", log.simulations, {G});
}

void write(h5::file& f, const identity& id, const gradient_log& log) {
  write_identity(f, id, "gradient");
  const std::size_t E = log.size(), P = log.n_params;
  f.attribute("/checkpoint", "evaluations", static_cast<std::int64_t>(E));
  f.attribute("/checkpoint", "n_params", static_cast<std::int64_t>(P));
  if (E == 0) return;
  f.write("/checkpoint/gradient/x", log.x, {E, P});
  f.write("/checkpoint/gradient/grad", log.grad, {E, P});
  f.write("/checkpoint/gradient/loss", log.loss, {E});
  f.write("/checkpoint/gradient/diverged", ints(log.diverged), {E});
  f.write("/checkpoint/gradient/with_gradient", ints(log.with_gradient), {E});
  f.write("/checkpoint/gradient/wall_s", log.wall_s, {E});
  f.write("/checkpoint/gradient/simulations", log.simulations, {E});
}

std::string written_on(int signal_number) {
  switch (signal_number) {
    case 0:
      return "schedule";
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "signal " + std::to_string(signal_number);
  }
}

std::string read_written_on(const std::string& path) {
  try {
    const h5::file f = h5::file::open_read(path);
    if (!f.exists("/checkpoint") || !f.has_attribute("/checkpoint", "written_on")) return "";
    return f.read_attribute_string("/checkpoint", "written_on");
  } catch (const error&) {
    return "";
  }
}

namespace {
template <class Log>
void save_impl(const std::string& path, const identity& id, const Log& log) {
  h5::atomic_output out(path);
  {
    h5::file f = h5::file::create(out.temp_path());
    write(f, id, log);
    // What made this checkpoint: a new fit moves aside one written on Ctrl-C (an
    // interactive run) but refuses to start over one a scheduler's signal or the periodic
    // schedule wrote (a batch job that should be resumed).
    f.attribute("/checkpoint", "written_on", written_on(signals::stop_requested()));
    f.attribute("/", "cellfit_version", std::string("0.1.0"));
    f.attribute("/", "command", std::string("fit checkpoint"));
    f.close();
  }
  out.commit();
}
}  // namespace

void save(const std::string& path, const identity& id, const ga::ga_log& log) {
  save_impl(path, id, log);
}
void save(const std::string& path, const identity& id, const gradient_log& log) {
  save_impl(path, id, log);
}

ga::ga_log load_ga(const std::string& path, const identity& expected) {
  h5::file f = open_checked(path, expected, "ga");
  ga::ga_log log;
  log.n_params = static_cast<std::size_t>(f.read_attribute_double("/checkpoint", "n_params"));
  log.n_objectives =
      static_cast<std::size_t>(f.read_attribute_double("/checkpoint", "n_objectives"));
  const auto G = static_cast<std::size_t>(f.read_attribute_double("/checkpoint", "generations"));
  if (G == 0) return log;
  for (auto x : read_ints_or_empty(f, "/checkpoint/ga/evaluated"))
    log.evaluated.push_back(static_cast<std::size_t>(x));
  log.genomes = read_or_empty(f, "/checkpoint/ga/genomes");
  log.objectives = read_or_empty(f, "/checkpoint/ga/objectives");
  for (auto x : read_ints_or_empty(f, "/checkpoint/ga/diverged"))
    log.diverged.push_back(static_cast<int>(x));
  log.wall_s = read_or_empty(f, "/checkpoint/ga/wall_s");
  log.simulate_s = read_or_empty(f, "/checkpoint/ga/simulate_s");
  log.copy_s = read_or_empty(f, "/checkpoint/ga/copy_s");
  log.score_s = read_or_empty(f, "/checkpoint/ga/score_s");
  log.communicate_s = read_or_empty(f, "/checkpoint/ga/communicate_s");
  log.select_s = read_or_empty(f, "/checkpoint/ga/select_s");
  log.simulations = read_or_empty(f, "/checkpoint/ga/simulations");
  std::size_t n = 0;
  for (std::size_t e : log.evaluated) n += e;
  for (const auto* v : {&log.wall_s, &log.simulate_s, &log.copy_s, &log.score_s, &log.communicate_s,
                        &log.select_s, &log.simulations}) {
    if (v->size() != G)
      corrupt(path, "a per-generation record is not " + std::to_string(G) + " long");
  }
  if (log.evaluated.size() != G || log.diverged.size() != G) corrupt(path, "generation counts");
  if (log.genomes.size() != n * log.n_params || log.objectives.size() != n * log.n_objectives)
    corrupt(path, "genomes or objectives do not match the generation sizes");
  return log;
}

gradient_log load_gradient(const std::string& path, const identity& expected) {
  h5::file f = open_checked(path, expected, "gradient");
  gradient_log log;
  log.n_params = static_cast<std::size_t>(f.read_attribute_double("/checkpoint", "n_params"));
  const auto E = static_cast<std::size_t>(f.read_attribute_double("/checkpoint", "evaluations"));
  if (E == 0) return log;
  log.x = read_or_empty(f, "/checkpoint/gradient/x");
  log.grad = read_or_empty(f, "/checkpoint/gradient/grad");
  log.loss = read_or_empty(f, "/checkpoint/gradient/loss");
  for (auto x : read_ints_or_empty(f, "/checkpoint/gradient/diverged"))
    log.diverged.push_back(static_cast<int>(x));
  for (auto x : read_ints_or_empty(f, "/checkpoint/gradient/with_gradient"))
    log.with_gradient.push_back(static_cast<int>(x));
  log.wall_s = read_or_empty(f, "/checkpoint/gradient/wall_s");
  log.simulations = read_or_empty(f, "/checkpoint/gradient/simulations");
  if (log.loss.size() != E || log.diverged.size() != E || log.with_gradient.size() != E ||
      log.wall_s.size() != E || log.simulations.size() != E || log.x.size() != E * log.n_params ||
      log.grad.size() != E * log.n_params)
    corrupt(path, "the evaluation records do not have " + std::to_string(E) + " entries");
  return log;
}

}  // namespace cellfit::checkpoint
