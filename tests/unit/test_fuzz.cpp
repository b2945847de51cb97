// Seeded mutation fuzzing of the two readers of user files: SWC morphologies (parse_swc,
// Import3d's conversion, discretisation, and an export that must read back) and TOML configs
// (load_config, the entry point of the command line, with and without --set overrides).
// Every input is either accepted or refused with a cellfit::error whose message is one
// printable line, starts with "cellfit::" and names the input with a line number (where the
// input has lines); anything else (another exception, a crash, a stack overflow) fails.
//
// The inputs are mutations (byte flips, deletions, duplicated or swapped lines, inserted
// tokens: huge numbers, nan, inf, -1, brackets, quotes, CR, NUL, very long tokens, deep
// nesting) of valid seeds: a small SWC tree, examples/data/branched.swc and every
// examples/*.toml; and random small SWC trees with values at the ends of their ranges. The
// run is fixed by its seed; a longer one, or another seed, from the environment:
//   CELLFIT_FUZZ_SEED=7 CELLFIT_FUZZ_COUNT=50000 cellfit_unit_tests --gtest_filter='fuzz.*'
// (CELLFIT_FUZZ_COUNT inputs per reader; the default 1500 runs in seconds.)
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/quote.hpp"
#include "io/config.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"
#include "model/swc.hpp"

namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

std::uint64_t fuzz_seed() { return env_or("CELLFIT_FUZZ_SEED", 20240611); }
int fuzz_count() { return static_cast<int>(env_or("CELLFIT_FUZZ_COUNT", 1500)); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> example_configs() {
  const std::string dir = std::string(CELLFIT_SOURCE_DIR) + "/examples";
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".toml") == 0) {
      out.push_back(read_file(dir + "/" + name));
    }
  }
  closedir(d);
  return out;
}

// Text a reader might meet: numbers at and beyond every range, TOML and SWC structure,
// control bytes, and long or deeply nested runs.
std::vector<std::string> tokens() {
  // A table, not one token per line:
  // clang-format off
  std::vector<std::string> t = {
      "1e300", "-1e300", "1e-50", "1e400", "-1e-400", "nan", "-nan", "inf", "-inf", "+inf",
      "-1", "-2", "0", "0.0", "-0", "2147483647", "2147483648", "-2147483649",
      "9223372036854775808", "99999999999999999999", "0x1p3", "1_000", "1e", ".", "..", "=",
      ",", "[", "]", "{", "}", "[[", "]]", "\"", "'", "\"\"\"", "'''", "\\", "\\u0000", "#",
      "\r", "\n", "\r\n", "\t", std::string(1, '\0'), "\x1b[31m", "\xff\xfe", "true", "[]",
      "{}", "a.b.c", "1979-05-27T07:32:00Z", " 1 1 0 0 0 1 -1\n", "x = 1\n", "[model]\n",
      "[[stimulus]]\n", "builtin:random_tree:3", "/dev/null", "/tmp"};
  // clang-format on
  t.push_back(std::string(5000, '7'));
  t.push_back(std::string(70000, 'x'));
  t.push_back(std::string(100, '['));
  t.push_back(std::string(6000, '['));
  std::string tables, dots = "a";
  for (int i = 0; i < 3000; ++i) tables += "{a=";
  for (int i = 0; i < 200; ++i) dots += ".a";
  t.push_back(tables);
  t.push_back(dots);
  t.push_back("[" + dots + "]\n");
  return t;
}

class mutator {
 public:
  explicit mutator(std::uint64_t seed) : rng_(seed), tokens_(tokens()) {}

  std::size_t below(std::size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  // One to four mutations of `s`, kept under 300 kB.
  std::string mutate(std::string s) {
    const std::size_t rounds = 1 + below(4);
    for (std::size_t r = 0; r < rounds; ++r) {
      switch (below(8)) {
        case 0:  // flip a byte
          if (!s.empty()) s[below(s.size())] = static_cast<char>(below(256));
          break;
        case 1:  // delete a run
          if (!s.empty()) {
            const std::size_t at = below(s.size());
            s.erase(at, 1 + below(16));
          }
          break;
        case 2:
        case 3:  // insert a token
          s.insert(below(s.size() + 1), tokens_[below(tokens_.size())]);
          break;
        case 4:  // replace a field (a run of non-blanks) by a token
        {
          const std::size_t at = below(s.size() + 1);
          const std::size_t from = s.find_last_of(" \t\n=", at == 0 ? 0 : at - 1);
          const std::size_t start = from == std::string::npos ? 0 : from + 1;
          std::size_t end = s.find_first_of(" \t\n", start);
          if (end == std::string::npos) end = s.size();
          s.replace(start, end - start, tokens_[below(tokens_.size())]);
          break;
        }
        default: {  // duplicate, delete or swap lines
          std::vector<std::string> lines;
          std::istringstream in(s);
          for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
          if (lines.empty()) break;
          const std::size_t a = below(lines.size()), b = below(lines.size());
          const std::size_t op = below(3);
          if (op == 0) lines.insert(lines.begin() + static_cast<long>(a), lines[a]);
          if (op == 1) lines.erase(lines.begin() + static_cast<long>(a));
          if (op == 2) std::swap(lines[a], lines[b]);
          s.clear();
          for (const auto& l : lines) s += l;
        }
      }
    }
    if (s.size() > 300000) s.resize(300000);
    return s;
  }

  const std::string& token() { return tokens_[below(tokens_.size())]; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> tokens_;
};

// A refusal message: one printable line, "cellfit::" first, and the input named with a line
// number (`name:N`) when the input has lines, else at least named.
::testing::AssertionResult well_formed(const std::string& msg, const std::string& name,
                                       bool has_lines) {
  for (const char c : msg) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return ::testing::AssertionFailure() << "control byte in " << cellfit::quote_value(msg, 500);
    }
  }
  if (msg.rfind("cellfit::", 0) != 0) return ::testing::AssertionFailure() << "prefix: " << msg;
  if (!has_lines) {
    if (msg.find(name) == std::string::npos) {
      return ::testing::AssertionFailure() << "does not name " << name << ": " << msg;
    }
    return ::testing::AssertionSuccess();
  }
  for (std::size_t at = msg.find(name + ":"); at != std::string::npos;
       at = msg.find(name + ":", at + 1)) {
    const std::size_t digit = at + name.size() + 1;
    if (digit < msg.size() && std::isdigit(static_cast<unsigned char>(msg[digit]))) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no " << name << ":LINE in: " << msg;
}

// A scratch folder that the test empties and removes; it must hold nothing else at the end.
class scratch_dir {
 public:
  scratch_dir() {
    std::string tmpl = ::testing::TempDir() + "/cellfit_fuzz_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~scratch_dir() { rmdir(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    DIR* d = opendir(path_.c_str());
    while (const dirent* e = d != nullptr ? readdir(d) : nullptr) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    if (d != nullptr) closedir(d);
    return out;
  }

 private:
  std::string path_;
};

bool has_lines(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") != std::string::npos;
}

// A random tree of up to 12 samples, soma-heavy, with coordinates and radii at and near the
// ends of their ranges and at scales where single precision loses the difference: the
// cases where exporting a cell that reads back is hard.
std::string random_swc_tree(mutator& mut) {
  static const double values[] = {0,   1,   -1,   0.5, 10,  1e-6,       1e9,  -1e9,
                                  1e6, 3.3, 1e-3, 7,   0.1, 123456.789, 2e-6, -5e8};
  static const double radii[] = {1e-6, 1e-3, 0.1, 0.5, 1, 7, 1e3, 1e6};
  const auto value = [&] {
    const double v = values[mut.below(16)];
    return mut.below(3) == 0 ? v * (1 + 1e-9 * static_cast<double>(mut.below(100))) : v;
  };
  std::ostringstream out;
  out.precision(17);
  const std::size_t n = 1 + mut.below(12);
  for (std::size_t i = 1; i <= n; ++i) {
    const std::size_t type = mut.below(3) == 0 ? 1 : 1 + mut.below(5);
    const long parent =
        i == 1 ? -1 : static_cast<long>(mut.below(2) ? i - 1 : 1 + mut.below(i - 1));
    out << i << " " << type << " " << value() << " " << value() << " " << value() << " "
        << radii[mut.below(8)] << " " << parent << "\n";
  }
  return out.str();
}

const char* const swc_seed =
    "# soma, two dendrites and an axon\n"
    "1 1 0 0 0 5 -1\n2 1 0 -5 0 5 1\n3 1 0 5 0 5 1\n"
    "4 3 5 0 0 1 1\n5 3 20 3 0 0.8 4\n6 3 35 10 1 0.6 5\n7 3 35 -4 1 0.5 5\n"
    "8 4 -5 0 0 1.5 1\n9 4 -30 2 0 1.2 8\n10 2 0 -5 0 0.4 1\n11 2 0 -80 0 0.4 10\n";

TEST(fuzz, swc_inputs_are_accepted_or_refused_with_a_located_message) {
  const std::uint64_t seed = fuzz_seed();
  mutator mut(seed);
  const std::vector<std::string> seeds = {
      swc_seed, read_file(std::string(CELLFIT_SOURCE_DIR) + "/examples/data/branched.swc")};
  scratch_dir dir;
  const std::string exported = dir.path() + "/exported.swc";
  int accepted = 0;
  const int count = fuzz_count();
  for (int i = 0; i < count; ++i) {
    // Half mutated files, half random trees (a quarter of them mutated too).
    std::string text;
    if (mut.below(2) == 0) {
      text = mut.mutate(seeds[mut.below(seeds.size())]);
    } else {
      text = random_swc_tree(mut);
      if (mut.below(4) == 0) text = mut.mutate(text);
    }
    const std::string name = "fuzz.swc";
    const auto context = [&] {
      return "seed " + std::to_string(seed) + ", input " + std::to_string(i) + ": " +
             cellfit::quote_value(text, 400);
    };
    cellfit::morphology m;
    try {
      m = cellfit::morphology_from_swc(cellfit::parse_swc(text, name), name);
      cellfit::discretize(m, {});
    } catch (const cellfit::error& e) {
      EXPECT_TRUE(well_formed(e.what(), name, has_lines(text))) << context();
      continue;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a cellfit::error: " << e.what() << "\n" << context();
      continue;
    }
    ++accepted;
    // What the reader accepts, the writer exports to a file the reader accepts again.
    try {
      cellfit::write_swc(m, exported);
      cellfit::discretize(cellfit::load_morphology(exported), {});
    } catch (const std::exception& e) {
      ADD_FAILURE() << "export does not read back: " << e.what() << "\n" << context();
    }
    std::remove(exported.c_str());
  }
  EXPECT_GT(accepted, count / 20) << "the mutations leave too few valid inputs to test export";
  EXPECT_TRUE(dir.entries().empty());
}

TEST(fuzz, configs_are_accepted_or_refused_with_a_located_message) {
  const std::uint64_t seed = fuzz_seed() ^ 0x70a1;
  mutator mut(seed);
  const std::vector<std::string> seeds = example_configs();
  ASSERT_FALSE(seeds.empty());
  scratch_dir dir;
  // The examples name data files relative to themselves.
  const std::string data = dir.path() + "/data";
  ASSERT_EQ(symlink((std::string(CELLFIT_SOURCE_DIR) + "/examples/data").c_str(), data.c_str()), 0);
  const std::string path = dir.path() + "/fuzz.toml";
  const char* const keys[] = {"simulation.dt_ms",
                              "model.morphology",
                              "stimulus.0.amplitude",
                              "batch.seed",
                              "model.mechanisms.hh.gnabar",
                              "fit.engine",
                              "a.b"};
  const int count = fuzz_count();
  for (int i = 0; i < count; ++i) {
    const std::string text = mut.mutate(seeds[mut.below(seeds.size())]);
    std::vector<std::string> overrides;
    if (mut.below(8) == 0) overrides.push_back(keys[mut.below(7)] + ("=" + mut.token()));
    const auto context = [&] {
      std::string c = "seed " + std::to_string(seed) + ", input " + std::to_string(i) + ": " +
                      cellfit::quote_value(text, 400);
      for (const auto& o : overrides) c += " --set " + cellfit::quote_value(o, 100);
      return c;
    };
    std::ofstream(path, std::ios::binary) << text;
    try {
      cellfit::load_config(path, overrides);
    } catch (const cellfit::error& e) {
      const std::string msg = e.what();
      if (!overrides.empty() && msg.find("--set ") != std::string::npos) {
        // An override is named by its key instead of a file line.
        EXPECT_TRUE(well_formed(msg, "--set", false)) << context();
      } else if (msg.rfind("cellfit::swc: ", 0) == 0) {
        // An error in the SWC file the config names: that file is the location (the SWC
        // reader's messages are checked above).
        EXPECT_TRUE(well_formed(msg, "", false)) << context();
      } else {
        EXPECT_TRUE(well_formed(msg, path, has_lines(text))) << context();
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a cellfit::error: " << e.what() << "\n" << context();
    }
    std::remove(path.c_str());
  }
  std::remove(data.c_str());
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
