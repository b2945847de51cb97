#pragma once
// Feature targets for the GA in BluePyOpt's layout, so an optimisation set up for BluePyOpt
// can be fitted with cellfit where it maps onto cellfit's stimuli:
//
//   features.json   {"<protocol>": {"<location>": <features>}}
//                   <features>: {"<eFEL name>": [mean, std], ...}      (L5PC example)
//                           or: [{"feature": "<name>", "val": [mean, std], <settings>}, ...]
//                           or: [{"feature": "<name>", "mean": m, "std": s, <settings>}, ...]
//   protocols.json  {"<protocol>": {"stimuli": [{"delay": ms, "amp": nA, "duration": ms,
//                                                "totduration": ms}, ...]}}
//
// <settings> are the per-feature entries of BluePyOpt's eFELFeature: "threshold",
// "strict_stim", "interp_step", any eFEL setting cellfit implements by its eFEL name, the
// groups "double_settings", "int_settings", "string_settings" (and BluePyEModel's
// "efel_settings") of such names, the target's own "stim_start", "stim_end" and
// "stimulus_current", "weight" 1, and the bookkeeping keys "n", "fid", "comment". Any other
// key, an eFEL setting cellfit does not implement, or a feature not in cellfit's library is
// refused (config_error naming the file, protocol, location, feature and key): a fit that
// silently scored otherwise than its file says could not be compared with BluePyOpt's.
//
// The first stimulus of a protocol is a step at soma[0](0.5); a further one that starts at 0
// and lasts totduration is a holding current. A location ("dend1", "soma.v") is scored at
// the recording of that name ([[simulation.recording]]); "soma" without such a recording is
// the fit's feature site. Other locations, and extra recordings that the config does not
// record, are reported in `notes` and left out. Without protocols.json, protocol names must
// be the names of the config's stimuli and protocols.

#include <string>
#include <vector>

#include "ga/objectives.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

struct bluepyopt_targets {
  std::vector<stimulus> stimuli;  // from protocols.json (empty without one), in file order
  double t_stop_ms = 0;           // the longest totduration (each protocol lasts its own)
  std::vector<ga::feature_target> targets;
  std::vector<std::string> notes;  // locations and recordings left out, and why
};

// Throws io_error (unreadable, not JSON) or config_error (layout, values) naming the file
// and the entry.
bluepyopt_targets read_bluepyopt_targets(const std::string& features_file,
                                         const std::string& protocols_file,
                                         const std::vector<stimulus>& config_stimuli,
                                         int soma_point, const simulation_settings& sim);

}  // namespace cellfit
