#pragma once
// The config reader's sections, one file each (io/config_<section>.cpp). Each reads its
// table into the run_config, checking every key. Internal to io/.

#include <string>

#include <toml.hpp>

#include "io/config.hpp"
#include "io/detail/config_reader.hpp"

namespace cellfit::detail {

// [model]; `source` is the config file (relative paths are resolved against it).
void build_model(table_reader& t, cell_model& m, const std::string& source);

// [[stimulus]] and [[protocol]] tables (either may be null), after [model] and
// [simulation]: the stimuli in that order, each name unique.
void build_stimuli(const toml::value* stimuli, const toml::value* protocols, run_config& rc);

// [fit], after the model, the settings and the stimuli.
void build_fit(const toml::value& fv, run_config& rc);

}  // namespace cellfit::detail
