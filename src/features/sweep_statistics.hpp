#pragma once
// Feature means and standard deviations over repeated sweeps of one protocol, with
// BluePyEfe's conventions (bluepyefe/recording.py and target.py): a sweep contributes the
// mean of its eFEL values; a sweep where the feature cannot be computed (no values, or an
// infinite mean: BluePyEfe makes both NaN and skips them) contributes nothing; the
// mean and the population standard deviation (numpy.nanmean, numpy.nanstd: ddof 0) are taken
// over the rest; a standard deviation of 0 (one sweep, or identical values) becomes
// default_std; a feature with fewer than min_values sweeps is not a target
// (threshold_nvalue_save). std_fraction, when > 0, raises a std below std_fraction |mean|
// to that bound (BluePyEModel's threshold_efeature_std; std_fraction itself when mean is 0).

#include <string>
#include <vector>

#include "features/feature_library.hpp"

namespace cellfit::features {

struct statistics_settings {
  double default_std = 1e-3;  // BluePyEfe's default_std_value
  int min_values = 1;         // BluePyEfe's threshold_nvalue_save
  double std_fraction = 0;    // BluePyEModel's threshold_efeature_std; 0: none
};

struct sweep_statistics {
  std::string feature;
  bool ok = false;  // at least min_values sweeps gave the feature
  double mean = 0, std = 0;
  int n = 0;           // sweeps that gave the feature
  std::string reason;  // when !ok: why, with the first sweep's reason
};

// values [sweep][feature] as compute_batch returns them, names the features in that order.
std::vector<sweep_statistics> statistics_over_sweeps(const std::vector<std::vector<value>>& values,
                                                     const std::vector<std::string>& names,
                                                     const statistics_settings& s = {});

}  // namespace cellfit::features
