// cellfit plot: PNG plots of a fit or simulate result through scripts/plot_result.py
// (matplotlib). The file is checked here first, so that a missing, unreadable or foreign
// file gets the same messages and exit codes as in the other commands.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "app/commands.hpp"
#include "app/python_script.hpp"
#include "common/error.hpp"
#include "io/h5.hpp"

namespace cellfit::app {

namespace {

// "fit" or "simulate"; throws io_error for anything else.
std::string result_kind(const std::string& path) {
  const std::string where = "cellfit::plot: " + path + ": ";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw io_error(where + "no such file");
  if (std::filesystem::is_directory(path, ec))
    throw io_error(where + "a directory, not a cellfit result file");
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    throw io_error(where + "cannot be read (" + std::strerror(errno) + ")");
  }
  const h5::file f = h5::file::open_read(path);  // io_error: not HDF5
  const std::string command =
      f.has_attribute("/", "command") ? f.read_attribute_string("/", "command") : "";
  if (command == "compare") {
    throw io_error(where +
                   "a `cellfit compare` result: compare draws its own plots (python3 "
                   "scripts/plot_compare.py " +
                   path + ")");
  }
  if (f.exists("/fit/history/loss") && f.exists("/fit/best/params")) return "fit";
  if (f.exists("/traces/voltage")) return "simulate";
  if (command == "fit") {
    throw io_error(where +
                   "a fit file without /fit/history/loss and /fit/best/params (a "
                   "checkpoint? `cellfit fit --resume` continues it)");
  }
  throw io_error(where +
                 "not a cellfit fit or simulate result (no /fit/history/loss, no "
                 "/traces/voltage; root attribute command = '" +
                 command + "')");
}

}  // namespace

int run_plot(const plot_options& o) {
  const std::string kind = result_kind(o.file);
  const std::string script = find_script("plot_result.py", "CELLFIT_PLOT_RESULT");
  if (script.empty()) {
    throw error(
        "cellfit::plot: scripts/plot_result.py not found (set CELLFIT_PLOT_RESULT to "
        "its path)");
  }
  std::vector<std::string> args = {o.file, "--out-dir", o.out_dir};
  if (o.dpi > 0) {
    args.push_back("--dpi");
    args.push_back(std::to_string(o.dpi));
  }
  const int rc = run_python_script(script, args);
  switch (rc) {
    case 0:
      return exit_ok;
    case 2:
      return exit_io;  // the script named the file and the reason
    case 3:
      throw error("cellfit::plot: matplotlib or h5py is missing: pip install matplotlib h5py");
    case 127:
      throw error("cellfit::plot: python3 could not be started (it runs " + script + ")");
    default:
      throw error("cellfit::plot: " + script + " failed on the " + kind + " file " + o.file +
                  " (exit status " + std::to_string(rc) + ")");
  }
}

}  // namespace cellfit::app
