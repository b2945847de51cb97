#include "app/recording_input.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "app/python_script.hpp"
#include "common/error.hpp"

namespace cellfit::app {

namespace {

bool is_abf(const std::string& path) {
  if (path.size() < 4) return false;
  std::string ext = path.substr(path.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".abf";
}

// Removes the temporary CSV however the read ends.
struct temp_file {
  std::string path;
  ~temp_file() {
    if (!path.empty()) std::remove(path.c_str());
  }
};

}  // namespace

recording read_recording_input(const std::string& path) {
  if (!is_abf(path)) return read_recording(path);
  const std::string where = "cellfit::recording: " + path + ": ";
  if (!std::filesystem::exists(path)) throw io_error(where + "cannot open file for reading");
  const std::string script = find_script("read_abf.py", "CELLFIT_READ_ABF");
  if (script.empty()) {
    throw io_error(where + "scripts/read_abf.py not found (set CELLFIT_READ_ABF to its path)");
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) dir = ".";
  // A .csv name: read_recording tells formats by extension.
  std::string pattern = (dir / "cellfit_abf_XXXXXX.csv").string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemps(name.data(), 4);
  if (fd < 0) throw io_error(where + "cannot create a temporary file in " + dir.string());
  ::close(fd);
  temp_file csv{name.data()};
  const int rc = run_python_script(script, {path, csv.path});
  switch (rc) {
    case 0:
      break;
    case 3:
      throw io_error(where + "reading ABF needs pyabf: pip install pyabf");
    case 5:  // the script named the file and the reason on stderr
      throw io_error(where + "not a current-clamp ABF that pyabf reads (see above)");
    case 127:
      throw io_error(where + "python3 could not be started (it runs " + script + ")");
    default:
      throw io_error(where + script + " failed (exit status " + std::to_string(rc) + ")");
  }
  recording r = read_recording(csv.path);
  r.source = path;
  r.format = "abf";
  for (std::size_t k = 0; k < r.sweeps.size(); ++k) {
    r.sweeps[k].name = "sweep " + std::to_string(k);
    r.sweeps[k].sweep = static_cast<std::int64_t>(k);
  }
  return r;
}

}  // namespace cellfit::app
