#pragma once
// Reads a whole input file (SWC, config) into memory, with the reason a read failed.

#include <cstddef>
#include <string>

namespace cellfit {

// The contents of `path`, at most `max_bytes` + 1 bytes of it (so that a caller with a size
// limit can tell "too large" without reading an endless file such as /dev/zero). Blocks
// until read. Throws io_error "cellfit::<where>: ..." naming the path: "is a directory",
// or the system's reason (strerror) when it cannot be opened or read.
std::string read_text_file(const std::string& path, const std::string& where,
                           std::size_t max_bytes = static_cast<std::size_t>(-1) - 1);

}  // namespace cellfit
