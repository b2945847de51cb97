#pragma once
// BluePyOpt's config layout (the four JSON files of its L5PC example) turned into the
// equivalent cellfit config, so a cell set up for BluePyOpt runs in cellfit unchanged:
//
//   mechanisms.json  {"<section list>": ["<mechanism>", ...]}
//   parameters.json  [{"param_name", "type": "global" | "section" | "range", "sectionlist",
//                      "mech", "mech_param", "dist_type", "dist", "value" | "bounds"}, ...]
//   protocols.json   {"<protocol>": {"stimuli": [{"delay", "amp", "duration",
//                     "totduration"}], "extra_recordings": [{"type": "somadistance",
//                     "name", "seclist_name", "somadistance", "var": "v"}]}}
//   features.json    (optional) BluePyOpt's feature targets, referenced by the config as
//                    fit.target.features_file and checked here (io/feature_targets.hpp)
//
// Everything the layout says is either written into the config or refused: an unknown
// section list, mechanism, mechanism parameter, global, key or recording, a fitted
// parameter cellfit cannot fit (cm, Ra, reversal potentials, globals), a feature not in
// cellfit's library, a morphology that does not exist. Errors are config_error or io_error
// "cellfit::import: FILE: KEY: why", thrown before anything is written.

#include <string>

namespace cellfit {

struct bluepyopt_import_options {
  std::string config_dir;     // holds parameters.json, mechanisms.json, protocols.json
                              // and optionally features.json
  std::string morphology;     // SWC or ASC file; written into the config as an absolute path
  bool replace_axon = false;  // BluePyOpt's NrnFileMorphology(do_replace_axon=...)
  double dt_ms = 0.025;
};

// The cellfit config (TOML text) equivalent to the BluePyOpt files. Blocks (reads files).
std::string bluepyopt_config_to_toml(const bluepyopt_import_options& o);

}  // namespace cellfit
