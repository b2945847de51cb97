#pragma once
// Host driver of the forward kernel: lays a batch of (parameter set x stimulus) cells out in
// the kernel's memory layout, runs it on the default execution space, and returns the
// recorded traces. Cell c simulates parameter set c / n_stimuli with stimulus c % n_stimuli
// (stimulus fastest), the order of the HDF5 traces contract.

#include <functional>
#include <string>
#include <vector>

#include "model/cell_model.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit {

enum class precision { fp64, fp32 };

struct simulation_settings {
  double dt_ms = 0.025;
  double t_stop_ms = 100.0;
  int record_every = 1;                  // record every k-th step (t = 0 included)
  std::vector<int> record_compartments;  // compartment indices
  // The recordings' names ([[simulation.recording]] names, or each site's section(x)); may
  // be left empty by code that sets record_compartments itself.
  std::vector<std::string> record_names;
  precision prec = precision::fp64;
  double v_bound_mv = 400.0;  // |V| beyond this (or NaN) marks a cell failed; <= 400

  int n_steps() const;
  int n_samples() const { return n_steps() / record_every + 1; }
  // The name of recorded site k: its recording name, else "compartment <index>".
  std::string site_name(std::size_t k) const;
  std::vector<std::string> site_names() const;
  // The index of the recording named `name`; -1 if there is none.
  int find_site(const std::string& name) const;
};

// The lane-steps a batch of (sets x stimuli) cells costs run as groups of equal duration,
// and padded to the longest, at `lanes` cells per tile (the rule simulate_batch applies).
struct duration_plan {
  std::vector<std::vector<std::size_t>> groups;  // stimuli by duration, shortest first
  double grouped_cost = 0, padded_cost = 0;
  bool grouped() const { return groups.size() > 1 && grouped_cost < padded_cost; }
};
// lanes 0: the tile width simulate_batch uses for s.prec.
duration_plan plan_durations(std::size_t n_sets, const std::vector<stimulus>& stimuli,
                             const simulation_settings& s, int lanes = 0);

struct simulation_result {
  std::size_t n_cells = 0, n_sites = 0, n_samples = 0;
  std::vector<double> voltage;   // [cell][site][sample], mV; NaN from a failed cell's failure on
  std::vector<int> failed_step;  // [cell]: step at which it diverged, -1 if it did not
  double kernel_seconds = 0;     // time inside the forward kernel
  double setup_seconds = 0;      // layout, copies and initialisation
  std::size_t n_failed() const;
};

// Called between chunks of the batch with (cells done, cells in all, seconds so far).
using progress_callback = std::function<void(std::size_t, std::size_t, double)>;

// Checks a batch before any allocation: settings, recording sites, parameter overrides,
// memory. Throws config_error.
void check_batch(const cell_model& model, const std::vector<parameter_set>& sets,
                 const std::vector<stimulus>& stimuli, const simulation_settings& settings);

// Validates the settings against the model (throws config_error), then simulates. Blocks.
// Protocols of different durations (stimulus::t_stop_ms) are grouped by duration when that
// costs fewer lane-steps than running every cell to the longest (padding), which is chosen
// otherwise; either way a cell's samples after its protocol's end are NaN (failed_step
// stays -1) and the result has the run's n_samples.
simulation_result simulate_batch(const cell_model& model, const std::vector<parameter_set>& sets,
                                 const std::vector<stimulus>& stimuli,
                                 const simulation_settings& settings,
                                 const progress_callback& progress = {});

}  // namespace cellfit
