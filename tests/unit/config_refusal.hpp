#pragma once
// The one-line message with which a config text is refused ("" if it is accepted), for the
// unit tests of the config reader's sections.

#include <string>
#include <vector>

#include "common/error.hpp"
#include "io/config.hpp"

namespace cellfit::test {

inline std::string config_refusal(const std::string& text,
                                  const std::vector<std::string>& sets = {}) {
  try {
    cellfit::parse_config(text, "run.toml", sets);
  } catch (const cellfit::config_error& e) {
    return e.what();
  } catch (const cellfit::usage_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace cellfit::test
