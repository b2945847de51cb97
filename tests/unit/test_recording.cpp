// The recording reader: text, CSV, HDF5 (cellfit's layout and a named group, non-uniform
// and repeated time stamps), the resampling onto a simulation grid, step detection, sweep
// statistics, and the refusals of bad files.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "features/sweep_statistics.hpp"
#include "io/config.hpp"
#include "io/h5.hpp"
#include "io/recording.hpp"
#include "scratch_dir.hpp"

namespace {

using cellfit::io_error;
using cellfit::read_recording;
using cellfit::test::scratch_dir;

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const cellfit::error& e) {
    return e.what();
  }
  return "";
}

TEST(recording, two_column_text_with_comments_and_commas) {
  scratch_dir d;
  const auto p = d.write("a.txt", "# NEURON output\n0 -65\n0.1, -64.5\n\n0.25\t-64 # note\n");
  const auto r = read_recording(p);
  ASSERT_EQ(r.sweeps.size(), 1u);
  EXPECT_EQ(r.format, "text");
  EXPECT_EQ(r.sweeps[0].t_ms, (std::vector<double>{0, 0.1, 0.25}));
  EXPECT_EQ(r.sweeps[0].v_mv, (std::vector<double>{-65, -64.5, -64}));
  EXPECT_TRUE(r.sweeps[0].i_na.empty());
}

TEST(recording, third_text_column_is_the_current) {
  scratch_dir d;
  const auto r = read_recording(d.write("a.dat", "0 -65 0\n1 -65 0.2\n2 -60 0.2\n3 -62 0\n"));
  EXPECT_EQ(r.sweeps[0].i_na, (std::vector<double>{0, 0.2, 0.2, 0}));
  const auto step = cellfit::detect_step(r.sweeps[0]);
  ASSERT_TRUE(step.found);
  EXPECT_EQ(step.start_ms, 1);
  EXPECT_EQ(step.end_ms, 3);
  EXPECT_DOUBLE_EQ(step.amplitude_na, 0.2);
}

TEST(recording, csv_header_names_sweeps_and_units) {
  scratch_dir d;
  const auto p = d.write("a.csv",
                         "time_s,sweep_a,sweep_b_v,i_pa\n0,-65,-0.064,0\n0.001,-60,-0.063,100\n"
                         "0.0015,-61,-0.062,0\n");
  const auto r = read_recording(p);
  ASSERT_EQ(r.sweeps.size(), 2u);
  EXPECT_EQ(r.sweeps[0].name, "sweep_a");
  EXPECT_DOUBLE_EQ(r.sweeps[0].t_ms[1], 1.0);
  EXPECT_DOUBLE_EQ(r.sweeps[0].t_ms[2], 1.5);
  EXPECT_DOUBLE_EQ(r.sweeps[1].v_mv[0], -64.0);
  EXPECT_DOUBLE_EQ(r.sweeps[1].i_na[1], 0.1);
  EXPECT_EQ(cellfit::select_sweeps(r, "sweep_b_v,0"), (std::vector<std::size_t>{1, 0}));
  EXPECT_NE(message_of([&] { cellfit::select_sweeps(r, "7"); }).find("no sweep \"7\""),
            std::string::npos);
}

TEST(recording, hdf5_group_with_non_uniform_and_repeated_stamps) {
  scratch_dir d;
  const std::string p = d.file("r.h5");
  {
    auto f = cellfit::h5::file::create(p);
    f.write("/rec/t", std::vector<double>{0, 0.5, 2, 2, 3}, {5});
    f.write("/rec/v", std::vector<double>{-70, -69, -66, -40, -42, -71, -70, -67, -41, -43},
            {2, 5});
    f.close();
  }
  const auto r = read_recording(p + ":/rec");
  ASSERT_EQ(r.sweeps.size(), 2u);
  EXPECT_EQ(r.sweeps[1].t_ms[3], 2.0);
  EXPECT_EQ(r.sweeps[1].v_mv[3], -41.0);
  // At the repeated stamp the value before the event, after it the segment from the event.
  const auto g = cellfit::resample_sweep(r.sweeps[0], {0, 0.5, 1, 1.5, 2, 2.5, 3}, "test");
  const std::vector<double> expect{-70, -69, -68, -67, -66, -41, -42};
  ASSERT_EQ(g.size(), expect.size());
  for (std::size_t k = 0; k < g.size(); ++k) EXPECT_NEAR(g[k], expect[k], 1e-12) << k;
  const std::string m = message_of([&] {
    cellfit::resample_sweep(r.sweeps[0], {0, 1, 2, 3, 3.5}, "x");
  });
  EXPECT_NE(m.find("covers 0 to 3 ms, the simulation 0 to 3.5 ms"), std::string::npos) << m;
}

TEST(recording, cellfit_traces_layout_gives_one_sweep_per_cell_and_site) {
  scratch_dir d;
  const std::string p = d.file("sim.h5");
  {
    auto f = cellfit::h5::file::create(p);
    f.write("/traces/time_ms", std::vector<double>{0, 1, 2}, {3});
    f.write("/traces/voltage", std::vector<double>{1, 2, 3, 4, 5, std::nan("")}, {2, 1, 3});
    f.close();
  }
  const auto r = read_recording(p);
  ASSERT_EQ(r.sweeps.size(), 2u);
  EXPECT_EQ(r.sweeps[1].v_mv, (std::vector<double>{4, 5}));  // ends where its protocol ends
}

// The NWB layout pynwb writes (python/tests/test_recordings.py checks real pynwb files):
// series groups with neurodata_type, data with conversion and unit, starting_time with rate.
void write_series(cellfit::h5::file& f, const std::string& g, const char* type,
                  const std::vector<double>& data, double conversion, const char* unit,
                  std::int64_t sweep) {
  f.write(g + "/data", data, {data.size()});
  f.write(g + "/starting_time", std::vector<double>{0.5}, {1});
  f.attribute(g, "neurodata_type", std::string(type));
  f.attribute(g, "sweep_number", sweep);
  f.attribute(g + "/data", "conversion", conversion);
  f.attribute(g + "/data", "unit", std::string(unit));
  f.attribute(g + "/starting_time", "rate", 2000.0);
}

TEST(recording, nwb_current_clamp_series_with_their_stimuli) {
  scratch_dir d;
  const std::string p = d.file("cell.nwb");
  {
    auto f = cellfit::h5::file::create(p);
    write_series(f, "/acquisition/b", "CurrentClampSeries", {-70, -60, -65}, 1e-3, "volts", 1);
    write_series(f, "/acquisition/a", "CurrentClampSeries", {-0.07, -0.05, -0.07}, 1.0, "volts", 0);
    f.attribute("/acquisition/a", "stimulus_description", std::string("IDrest"));
    write_series(f, "/stimulus/presentation/s1", "CurrentClampStimulusSeries", {0, 300, 0}, 1e-12,
                 "amperes", 1);
    write_series(f, "/stimulus/presentation/s0", "CurrentClampStimulusSeries", {0, 0.1, 0}, 1e-9,
                 "amperes", 0);
    f.close();
  }
  const auto r = read_recording(p);
  ASSERT_EQ(r.sweeps.size(), 2u);
  EXPECT_EQ(r.sweeps[0].name, "a");  // by sweep number
  EXPECT_EQ(r.sweeps[0].protocol, "IDrest");
  EXPECT_EQ(r.sweeps[1].protocol, "");
  EXPECT_DOUBLE_EQ(r.sweeps[0].t_ms[0], 500.0);  // starting_time 0.5 s
  EXPECT_DOUBLE_EQ(r.sweeps[0].t_ms[2], 501.0);  // + 2 / 2000 Hz
  EXPECT_DOUBLE_EQ(r.sweeps[0].v_mv[1], -50.0);
  EXPECT_DOUBLE_EQ(r.sweeps[1].v_mv[1], -60.0);
  EXPECT_NEAR(r.sweeps[0].i_na[1], 0.1, 1e-15);
  EXPECT_NEAR(r.sweeps[1].i_na[1], 0.3, 1e-15);

  const std::string q = d.file("bad.nwb");
  {
    auto f = cellfit::h5::file::create(q);
    write_series(f, "/acquisition/a", "CurrentClampSeries", {1, 2, 3}, 1.0, "amperes", 0);
    f.close();
  }
  const std::string m = message_of([&] { read_recording(q); });
  EXPECT_NE(m.find("bad.nwb:/acquisition/a/data@unit = \"amperes\", expected \"volts\""),
            std::string::npos)
      << m;
}

TEST(recording, bad_files_are_refused_naming_file_line_and_value) {
  scratch_dir d;
  auto msg = [&](const std::string& name, const std::string& text) {
    const auto p = d.write(name, text);
    return message_of([&] { read_recording(p); });
  };
  std::string m = msg("a.txt", "0 -65\n1 x\n");
  EXPECT_NE(m.find("a.txt:2: column 2 (v_mv): \"x\" is not a number"), std::string::npos) << m;
  m = msg("b.txt", "0 -65\n2 -64\n1 -63\n");
  EXPECT_NE(m.find("sample 2: time 1 ms is before the previous 2 ms"), std::string::npos) << m;
  m = msg("c.txt", "0 -65 1 2\n");
  EXPECT_NE(m.find("c.txt:1: 4 columns"), std::string::npos) << m;
  m = msg("d.csv", "0,-65\n");
  EXPECT_NE(m.find("d.csv:1: no header line"), std::string::npos) << m;
  m = msg("e.csv", "v1,v2\n1,2\n");
  EXPECT_NE(m.find("e.csv:1: 0 time columns"), std::string::npos) << m;
  m = msg("f.txt", "0 -65\n1 -64 3\n");
  EXPECT_NE(m.find("f.txt:2: 3 values, expected 2"), std::string::npos) << m;
  m = msg("g.xyz", "0 1\n");
  EXPECT_NE(m.find("unknown recording format \".xyz\""), std::string::npos) << m;
  m = msg("h.txt", "0 nan\n1 -65\n");
  EXPECT_NE(m.find("sample 0: voltage nan"), std::string::npos) << m;
  EXPECT_NE(message_of([&] { read_recording(d.file("missing.txt")); }).find("missing.txt"),
            std::string::npos);
}

TEST(recording, sweep_statistics_follow_bluepyefe) {
  namespace ft = cellfit::features;
  auto val = [](std::vector<double> x) {
    ft::value v;
    v.ok = true;
    v.values = std::move(x);
    return v;
  };
  ft::value missing;
  missing.reason = "no spikes";
  // Feature 0: sweeps give means 2, 4 and nothing; feature 1: equal values; feature 2: none.
  const std::vector<std::vector<ft::value>> values{{val({1, 3}), val({5}), missing},
                                                   {val({4}), val({5}), missing},
                                                   {missing, val({5}), missing}};
  const auto s = ft::statistics_over_sweeps(values, {"a", "b", "c"});
  EXPECT_TRUE(s[0].ok);
  EXPECT_EQ(s[0].n, 2);
  EXPECT_DOUBLE_EQ(s[0].mean, 3.0);
  EXPECT_DOUBLE_EQ(s[0].std, 1.0);   // population std (numpy.nanstd)
  EXPECT_DOUBLE_EQ(s[1].std, 1e-3);  // BluePyEfe's default_std_value for a zero std
  EXPECT_FALSE(s[2].ok);
  EXPECT_NE(s[2].reason.find("sweep 0: no spikes"), std::string::npos);
  ft::statistics_settings st;
  st.std_fraction = 0.5;
  st.min_values = 3;
  const auto t = ft::statistics_over_sweeps(values, {"a", "b", "c"}, st);
  EXPECT_FALSE(t[0].ok);
  EXPECT_DOUBLE_EQ(t[1].std, 2.5);
}

const char* const fit_config = R"(
[model]
morphology = "builtin:ball_and_stick"
[model.mechanisms.hh]
regions = "all"
[[stimulus]]
type = "step"
sites = "soma"
amplitude = 0.1
delay_ms = 5.0
duration_ms = 20.0
[fit]
[[fit.parameter]]
name = "hh.gnabar"
bounds = [0.05, 0.3]
[fit.target]
type = "file"
)";

TEST(recording, fit_target_recording_tables) {
  const auto rc = cellfit::parse_config(std::string(fit_config) + R"(
[[fit.target.recording]]
stimulus = "a"
file = "a.txt"
sweep = 2
site = "soma"
)",
                                        "/data/run.toml", {});
  ASSERT_EQ(rc.fit.target.recordings.size(), 1u);
  const auto& r = rc.fit.target.recordings[0];
  EXPECT_EQ(r.stimulus, "a");
  EXPECT_EQ(r.file, "/data/a.txt");
  EXPECT_EQ(r.sweep, "2");
  EXPECT_EQ(r.site, "soma");
  EXPECT_NE(r.where.find("run.toml:"), std::string::npos) << r.where;
  std::string m = message_of([] {
    cellfit::parse_config(std::string(fit_config) + "[[fit.target.recording]]\nfile = \"a.txt\"\n",
                          "run.toml", {});
  });
  EXPECT_NE(m.find("fit.target.recording[0].stimulus"), std::string::npos) << m;
  m = message_of([] {
    cellfit::parse_config(std::string(fit_config) +
                              "file = \"x.txt\"\n[[fit.target.recording]]\nstimulus = \"a\"\n"
                              "file = \"a.txt\"\n",
                          "run.toml", {});
  });
  EXPECT_NE(m.find("not both"), std::string::npos) << m;
  const auto one = cellfit::parse_config(
      std::string(fit_config) + "file = \"x.nwb\"\nsweeps = [1, 3]\n", "run.toml", {});
  EXPECT_EQ(one.fit.target.sweeps, "1,3");
}

}  // namespace
