#pragma once
// Recordings as the commands read them: every format of io/recording.hpp, and ABF through
// scripts/read_abf.py (pyabf), which the binary runs rather than links Python.

#include <string>

#include "io/recording.hpp"

namespace cellfit::app {

// read_recording(path), or for a .abf file the CSV scripts/read_abf.py writes of it (a
// temporary file, removed afterwards). Blocks. Throws io_error naming the file; for ABF
// also when python3, pyabf or the script is missing.
recording read_recording_input(const std::string& path);

}  // namespace cellfit::app
