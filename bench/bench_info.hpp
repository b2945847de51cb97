#pragma once
// What every benchmark prints about where it ran: the CPU model, the load average and the
// output of a shell command (the git commit), for the table header and the CSV.

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

namespace cellfit::bench {

// stdout of `cmd`, trailing newlines and spaces removed ("" if it cannot run).
inline std::string run_command(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// The 1-, 5- and 15-minute load averages ("2.10 1.95 1.60"), to show how busy the machine
// was during a timing run.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

}  // namespace cellfit::bench
