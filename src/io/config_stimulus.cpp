// [[stimulus]]: what each simulated cell receives.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "io/config.hpp"
#include "io/detail/config_reader.hpp"
#include "io/detail/config_sections.hpp"

namespace cellfit::detail {

void build_stimuli(const toml::value& arr, run_config& rc) {
  if (!arr.is_array()) fail(arr, "stimulus", "expected [[stimulus]] tables");
  std::size_t index = 0;
  for (const auto& entry : arr.as_array()) {
    const std::string name = "stimulus[" + std::to_string(index) + "]";
    table_reader t(entry, name);
    const std::string type = t.string("type", "step");
    const std::string label = t.string("name", name);
    stimulus_component c;
    if (!t.has("sites")) fail(entry, t.key_name("sites"), "missing (compartments to inject into)");
    c.sites = parse_sites(t.get("sites"), t.key_name("sites"), {rc.model.morph, rc.model.geom});
    // Each type reads only the keys it uses; finish() refuses any other.
    const double t_stop = rc.settings.t_stop_ms;
    auto read_window = [&]() {
      c.delay_ms = t.number("delay_ms", 0.0, 0.0, t_stop);
      c.duration_ms = t.number("duration_ms", t_stop - c.delay_ms, 0.0, 1e12);
    };
    auto read_count = [&]() { return static_cast<int>(t.integer("count", 1, 1, 1000000)); };
    auto read_seed = [&]() {
      // Keyed by the table index too, so two tables with the same seed differ.
      return counter_hash(static_cast<std::uint64_t>(
                              t.integer("seed", 1, 0, std::numeric_limits<long long>::max())),
                          index, 0x57);
    };
    const double holding = type == "holding" ? 0.0 : t.number("holding", 0.0);
    std::vector<stimulus> made;
    auto emit = [&](stimulus_component comp, const std::string& nm) {
      stimulus st;
      st.name = nm;
      st.components.push_back(std::move(comp));
      if (holding != 0) {
        stimulus_component h;
        h.kind = stimulus_kind::holding;
        h.sites = st.components.front().sites;
        h.amplitude = holding;
        st.components.push_back(h);
      }
      made.push_back(std::move(st));
    };
    if (type == "step") {
      c.kind = stimulus_kind::step;
      read_window();
      if (t.has("amplitudes")) {
        if (t.has("amplitude"))
          fail(t.at("amplitude"), t.key_name("amplitude"),
               "give amplitude or amplitudes, not both");
        const toml::value& av = t.get("amplitudes");
        if (!av.is_array() || av.as_array().empty()) {
          fail(av, t.key_name("amplitudes"), "expected a non-empty array of numbers");
        }
        for (const auto& a : av.as_array()) {
          c.amplitude = table_reader::as_number(a, t.key_name("amplitudes"));
          std::ostringstream nm;
          nm << label << " " << c.amplitude;
          emit(c, nm.str());
        }
      } else {
        c.amplitude = t.number("amplitude", 0.0);
        emit(c, label);
      }
    } else if (type == "holding") {
      c.kind = stimulus_kind::holding;
      c.amplitude = t.number("amplitude", 0.0);
      emit(c, label);
    } else if (type == "ramp") {
      c.kind = stimulus_kind::ramp;
      read_window();
      c.amplitude = t.number("amplitude_start", 0.0);
      c.amplitude_end = t.number("amplitude_end", 0.0);
      if (!(c.duration_ms > 0))
        fail(t.at("duration_ms"), t.key_name("duration_ms"), "a ramp needs duration_ms > 0");
      emit(c, label);
    } else if (type == "noise") {
      c.kind = stimulus_kind::noise;
      read_window();
      c.amplitude = t.number("mean", 0.0);
      c.stdev = t.number("std", 0.0, 0.0, 1e12);
      c.sample_ms = t.positive("sample_ms", rc.settings.dt_ms);
      const int count = read_count();
      const std::uint64_t seed = read_seed();
      for (int k = 0; k < count; ++k) {
        c.seed = counter_hash(seed, static_cast<std::uint64_t>(k), 0x4e);
        emit(c, count > 1 ? label + " #" + std::to_string(k) : label);
      }
    } else if (type == "random_steps") {
      c.kind = stimulus_kind::random_steps;
      read_window();
      const int n_int = static_cast<int>(t.integer("intervals", 48, 2, 1000000));
      const double hazard = t.number("hazard", 0.05, 0.0, 1.0);
      const int i_min = static_cast<int>(t.integer("i_min", 0, -1000000000, 1000000000));
      const int i_max = static_cast<int>(t.integer("i_max", 20, -1000000000, 1000000000));
      if (i_max <= i_min) fail(t.at("i_max"), t.key_name("i_max"), "must exceed i_min");
      if (!(c.duration_ms > 0)) fail(t.at("duration_ms"), t.key_name("duration_ms"), "must be > 0");
      const int count = read_count();
      const std::uint64_t seed = read_seed();
      for (int k = 0; k < count; ++k) {
        c.levels.clear();
        for (std::size_t site = 0; site < c.sites.size(); ++site) {
          c.levels.push_back(random_step_levels(seed, static_cast<std::uint64_t>(k), site, n_int,
                                                hazard, i_min, i_max));
        }
        emit(c, count > 1 ? label + " #" + std::to_string(k) : label);
      }
    } else if (type == "waveform") {
      c.kind = stimulus_kind::waveform;
      if (!t.has("file")) fail(entry, t.key_name("file"), "missing (CSV or HDF5 waveform)");
      const toml::value& fv = t.get("file");
      if (!fv.is_string()) fail(fv, t.key_name("file"), "expected a string");
      const std::string file = resolve_path(fv, rc.source);
      c.scale = t.number("scale", 1.0);
      const std::string dataset = t.string("dataset", "");
      c.waveform =
          read_at_key(fv, t.key_name("file"), [&] { return read_waveform(file, dataset); });
      c.delay_ms = 0;
      c.duration_ms = t_stop;
      emit(c, label);
    } else {
      fail(t.get("type"), t.key_name("type"),
           "unknown stimulus type '" + type +
               "' (step, ramp, noise, random_steps, waveform, holding)");
    }
    t.finish();
    for (auto& st : made) rc.stimuli.push_back(std::move(st));
    ++index;
  }
}

}  // namespace cellfit::detail
