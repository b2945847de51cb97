#include "app/python_script.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <spawn.h>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

extern char** environ;

namespace cellfit::app {

std::string find_script(const std::string& name, const char* env_var) {
  if (const char* env = std::getenv(env_var)) return env;
  std::vector<std::filesystem::path> candidates;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "../share/cellfit" / name);
#ifdef CELLFIT_SOURCE_DIR
  candidates.push_back(std::filesystem::path(CELLFIT_SOURCE_DIR) / "scripts" / name);
#endif
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c, ec)) return std::filesystem::weakly_canonical(c, ec).string();
  }
  return "";
}

int run_python_script(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"python3", script};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, "python3", nullptr, nullptr, argv.data(), environ) != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace cellfit::app
