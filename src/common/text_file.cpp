#include "common/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace cellfit {

namespace {

// Closes the descriptor on every way out.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string read_text_file(const std::string& path, const std::string& where,
                           std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw io_error("cellfit::" + where + ": cannot open '" + path + "': " + std::strerror(errno));
  }
  fd_guard guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw io_error("cellfit::" + where + ": cannot open '" + path + "': " + std::strerror(errno));
  }
  // A directory opens for reading on Linux; its read() then fails with EISDIR, which a
  // stream turns into an empty file.
  if (S_ISDIR(st.st_mode)) throw io_error("cellfit::" + where + ": " + path + ": is a directory");
  std::string text;
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    text.reserve(std::min(static_cast<std::size_t>(st.st_size), max_bytes + 1));
  }
  char buf[65536];
  while (text.size() <= max_bytes) {
    const std::size_t want = std::min(sizeof buf, max_bytes + 1 - text.size());
    const ssize_t got = ::read(fd, buf, want);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw io_error("cellfit::" + where + ": error reading '" + path +
                     "': " + std::strerror(errno));
    }
    if (got == 0) break;
    text.append(buf, static_cast<std::size_t>(got));
  }
  return text;
}

}  // namespace cellfit
