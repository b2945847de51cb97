#pragma once
// Recorded voltage traces (experiments, or another simulator's output) read from the files
// labs keep them in, as sweeps on their own time stamps. Formats (docs/features.md,
// "Recordings"), chosen by the file name's extension:
//
//   .txt .dat   columns t_ms v_mv [i_na], whitespace or comma separated, '#' comments
//   .csv        a header naming the columns: a time column (t, time, t_ms, time_ms; t_s,
//               time_s in seconds), voltage columns (one sweep each; a name ending _v is in
//               volts, otherwise mV) and current columns (i, i_*, i<digit>*, current*; nA,
//               or pA with a _pa suffix): one current column for all sweeps, or one per sweep
//   .h5 .hdf5   cellfit's /traces layout (/traces/voltage [cell][site][sample] with
//               /traces/time_ms: one sweep per cell and site), or "file.h5:/group" naming a
//               group with a time dataset (t, time, t_ms, time_ms) and a voltage dataset
//               (v, voltage, v_mv, voltage_mv; [sample] or [sweep][sample]) and optionally a
//               current (i, i_na, current)
//   .nwb        NWB 2.x: every CurrentClampSeries under /acquisition, read through the HDF5
//               layer, with its CurrentClampStimulusSeries under /stimulus/presentation
//               (the one its row of the icephys intracellular_recordings table names, else
//               the one with its sweep_number)
//   .abf        not here: app/recording_input.hpp runs scripts/read_abf.py (pyabf)
//
// Time stamps must be finite and non-decreasing; a stamp may repeat (NEURON's variable-step
// output repeats the time of every stimulus on- and offset, with the voltage before and after
// the event). A file that breaks a rule is refused with an io_error naming the file, the line
// or dataset and the value.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cellfit {

// One recorded sweep.
struct recorded_sweep {
  std::string name;          // column, dataset or series name
  std::string protocol;      // the protocol (NWB stimulus_description) when the file names one
  std::int64_t sweep = -1;   // the file's sweep number; -1 when it has none
  std::vector<double> t_ms;  // non-decreasing; a time may repeat
  std::vector<double> v_mv;
  std::vector<double> i_na;  // the injected current at t_ms; empty when the file has none
};

struct recording {
  std::string source;  // the path as given
  std::string format;  // "text", "csv", "hdf5", "nwb"
  std::vector<recorded_sweep> sweeps;
};

// Reads every sweep of `path` ("file.h5:/group" for a group of an HDF5 file). Blocks.
// Throws io_error.
recording read_recording(const std::string& path);

// The sweeps a selection names: "" all of them, else comma-separated indices into
// r.sweeps or sweep names ("0,2", "CurrentClampSeries_001"). Throws usage_error naming an
// index or name the recording does not have.
std::vector<std::size_t> select_sweeps(const recording& r, const std::string& selection);

// The voltage of sweep s at the times `at_ms` (non-decreasing), linearly interpolated (at a
// repeated time stamp: the value before the event at that time, the value after it
// afterwards, as eFEL's resampling takes them). Throws io_error naming `where` when the
// sweep does not cover [at_ms.front(), at_ms.back()] (a tolerance of 1e-9 ms, relative).
std::vector<double> resample_sweep(const recorded_sweep& s, const std::vector<double>& at_ms,
                                   const std::string& where);

// A step stimulus read off a recorded current: the first and last sample whose current
// differs from the holding current (the first sample's) by more than 1e-6 of the largest
// difference. found == false when the current is constant or absent.
struct detected_step {
  bool found = false;
  double start_ms = 0, end_ms = 0;  // end: the first sample back at the holding current
  double amplitude_na = 0;          // the median step current minus the holding current
  double holding_na = 0;
};
detected_step detect_step(const recorded_sweep& s);

}  // namespace cellfit
