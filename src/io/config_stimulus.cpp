// [[stimulus]]: what each simulated cell receives.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "common/suggest.hpp"
#include "io/config.hpp"
#include "io/detail/config_reader.hpp"
#include "io/detail/config_sections.hpp"
#include "stimulus/stimulus.hpp"

namespace cellfit::detail {

namespace {

// What one table makes: a [[stimulus]] table may make several stimuli (`amplitudes`,
// `count`), each its components and a name; a [[protocol]] element makes exactly one.
struct made_stimulus {
  std::vector<stimulus_component> components;
  std::string name;
};

// The injection sites of a table: `sites` (points, as IClamps are: "soma" is soma[0](0.5))
// or `every` (one electrode in every compartment of the regions named, paper 000's
// "stimulate all"), not both.
std::vector<int> injection_sites(table_reader& t, const toml::value& entry, const run_config& rc) {
  const cable_model_view cell{rc.model.morph, rc.model.geom};
  if (t.has("sites") && t.has("every")) {
    fail(t.at("every"), t.key_name("every"),
         "give sites (points) or every (all compartments of regions), not both");
  }
  if (t.has("every")) return parse_sites(t.get("every"), t.key_name("every"), cell);
  if (!t.has("sites")) {
    fail(entry, t.key_name("sites"),
         "missing (where to inject: a point such as \"soma\" or \"dend[2](0.5)\", or every = "
         "\"<region>\" for every compartment of a region)");
  }
  return parse_sites(t.get("sites"), t.key_name("sites"), cell, site_use::injection);
}

// A time constant (ms) that must be given and be > 0.
double time_constant(table_reader& t, const toml::value& entry, const std::string& key,
                     const std::string& what) {
  if (!t.has(key)) fail(entry, t.key_name(key), "missing (" + what + ", ms)");
  const double tau = t.number(key, 0.0);
  if (!(tau > 0)) {
    std::ostringstream msg;
    msg << "a time constant must be > 0 ms, got " << tau;
    fail(t.at(key), t.key_name(key), msg.str());
  }
  return tau;
}

// More input spikes than any protocol needs (a 1 kHz train for 1000 s), and few enough to
// hold.
constexpr double max_poisson_spikes = 1e6;

// The keys of a synapse (exp_syn, exp2_syn, current_exp_syn; c.kind set) in a protocol of
// t_stop ms: weight, time constants, reversal, and its input: `spikes` (ms) or a seeded
// Poisson train, each plus `delay_ms`.
void read_synapse(table_reader& t, const toml::value& entry, stimulus_component& c, double t_stop) {
  const bool conductance = is_conductance_synapse(c.kind);
  if (!t.has("weight")) {
    fail(entry, t.key_name("weight"),
         conductance ? "missing (the conductance each input spike adds, uS)"
                     : "missing (the current each input spike adds, nA)");
  }
  c.weight = t.number("weight", 0.0);
  if (conductance && c.weight < 0) {
    std::ostringstream msg;
    msg << "a conductance synapse's weight is a conductance (uS) and must be >= 0, got " << c.weight
        << " (an inhibitory synapse has a low reversal e instead)";
    fail(t.at("weight"), t.key_name("weight"), msg.str());
  }
  if (c.kind == stimulus_kind::exp2_syn) {
    c.tau1_ms = time_constant(t, entry, "tau1", "rise time constant");
    c.tau2_ms = time_constant(t, entry, "tau2", "decay time constant");
    if (!(c.tau1_ms < c.tau2_ms)) {
      std::ostringstream msg;
      msg << "the rise time constant tau1 must be below the decay time constant tau2 (as "
             "NEURON's Exp2Syn requires), got tau1 = "
          << c.tau1_ms << ", tau2 = " << c.tau2_ms;
      fail(t.at("tau1"), t.key_name("tau1"), msg.str());
    }
  } else {
    c.tau_ms = time_constant(t, entry, "tau", "decay time constant");
  }
  if (conductance) c.e_mv = t.number("e", 0.0);

  // Input spikes: a list or a Poisson train, not both.
  if (t.has("spikes") && t.has("rate_hz")) {
    fail(t.at("rate_hz"), t.key_name("rate_hz"),
         "give spikes (times) or rate_hz (a Poisson train), not both");
  }
  std::vector<double> spikes;
  if (t.has("spikes")) {
    const toml::value& sv = t.get("spikes");
    if (!sv.is_array()) fail(sv, t.key_name("spikes"), "expected an array of times (ms)");
    const auto& arr = sv.as_array();
    for (std::size_t k = 0; k < arr.size(); ++k) {
      const std::string key = t.key_name("spikes") + "[" + std::to_string(k) + "]";
      const double x = table_reader::as_number(arr[k], key);
      std::ostringstream msg;
      if (!(x >= 0 && x <= t_stop)) {
        msg << "spike time " << x << " ms is outside the protocol, [0, " << t_stop << "] ms";
        fail(arr[k], key, msg.str());
      }
      if (!spikes.empty() && x < spikes.back()) {
        msg << "spike times must not decrease: " << x << " ms after " << spikes.back() << " ms";
        fail(arr[k], key, msg.str());
      }
      spikes.push_back(x);
    }
  } else if (t.has("rate_hz")) {
    const double rate = t.number("rate_hz", 0.0, 0.0, std::numeric_limits<double>::max());
    const double start = t.number("start_ms", 0.0, 0.0, t_stop);
    const double stop = t.number("stop_ms", t_stop, start, t_stop);
    const auto seed =
        static_cast<std::uint64_t>(t.integer("seed", 1, 0, std::numeric_limits<long long>::max()));
    const double expected = rate * (stop - start) / 1000.0;
    if (!(expected <= max_poisson_spikes)) {
      std::ostringstream msg;
      msg << "a Poisson train of " << rate << " Hz over " << (stop - start) << " ms has "
          << expected << " spikes on average, more than " << max_poisson_spikes;
      fail(t.at("rate_hz"), t.key_name("rate_hz"), msg.str());
    }
    spikes = poisson_train(seed, rate, start, stop);
  } else {
    fail(entry, t.key_name("spikes"),
         "missing (input spike times in ms, spikes = [10.0, 30.0], or a Poisson train, "
         "rate_hz = 20.0 with start_ms, stop_ms and seed)");
  }
  // NetCon's delay: each spike arrives delay_ms later.
  c.delay_ms = t.number("delay_ms", 0.0, 0.0, std::numeric_limits<double>::max());
  c.events_ms.clear();
  for (double x : spikes) c.events_ms.push_back(x + c.delay_ms);
}

// One [[stimulus]] table (`protocol` false) or one [[protocol]] element of a protocol lasting
// t_stop ms. `seed_key` makes the random components of this table differ from every other
// table's.
std::vector<made_stimulus> read_stimulus_table(table_reader& t, const toml::value& entry,
                                               const std::string& label, std::uint64_t seed_key,
                                               const run_config& rc, bool protocol, double t_stop) {
  const std::string type = t.string("type", "step");
  stimulus_component c;
  c.sites = injection_sites(t, entry, rc);
  // Each type reads only the keys it uses; finish() refuses any other.
  auto read_window = [&]() {
    c.delay_ms = t.number("delay_ms", 0.0, 0.0, t_stop);
    c.duration_ms = t.number("duration_ms", t_stop - c.delay_ms, 0.0, 1e12);
  };
  // Inside a protocol every element is one current: variants are separate protocols.
  auto read_count = [&]() {
    if (protocol && t.has("count")) {
      fail(t.at("count"), t.key_name("count"),
           "a protocol element is one current: write one [[protocol]] per draw");
    }
    return static_cast<int>(t.integer("count", 1, 1, 1000000));
  };
  auto read_seed = [&]() {
    return counter_hash(
        static_cast<std::uint64_t>(t.integer("seed", 1, 0, std::numeric_limits<long long>::max())),
        seed_key, 0x57);
  };
  const bool synapse = type == "exp_syn" || type == "exp2_syn" || type == "current_exp_syn";
  const double holding =
      type == "holding" || type == "seclamp" || synapse ? 0.0 : t.number("holding", 0.0);
  std::vector<made_stimulus> made;
  auto emit = [&](stimulus_component comp, const std::string& nm) {
    made_stimulus st;
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
      if (protocol) {
        fail(t.at("amplitudes"), t.key_name("amplitudes"),
             "a protocol element is one current: give amplitude, and one [[protocol]] per "
             "amplitude");
      }
      if (t.has("amplitude"))
        fail(t.at("amplitude"), t.key_name("amplitude"), "give amplitude or amplitudes, not both");
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
    c.waveform = read_at_key(fv, t.key_name("file"), [&] { return read_waveform(file, dataset); });
    c.delay_ms = 0;
    c.duration_ms = t_stop;
    emit(c, label);
  } else if (type == "seclamp") {
    // NEURON's SEClamp: on from t = 0 through three levels, off after them.
    c.kind = stimulus_kind::seclamp;
    if (t.has("every")) {
      fail(t.at("every"), t.key_name("every"),
           "a voltage clamp is one electrode: give sites = one point, such as \"soma\"");
    }
    if (c.sites.size() != 1) {
      fail(t.at("sites"), t.key_name("sites"),
           "a voltage clamp is one electrode at one point, got " + std::to_string(c.sites.size()) +
               " sites");
    }
    if (rc.model.geom.point_model) {
      fail(t.get("type"), t.key_name("type"),
           "a voltage clamp needs a cable model (its series resistance is in MOhm, its current "
           "in nA)");
    }
    c.rs_mohm = t.number("rs_mohm", 1.0);  // refuses a value that is not finite
    if (!(c.rs_mohm > 0)) {
      std::ostringstream msg;
      msg << "the series resistance must be > 0 MOhm, got " << c.rs_mohm;
      fail(t.at("rs_mohm"), t.key_name("rs_mohm"), msg.str());
    }
    double total_ms = 0;
    for (int k = 0; k < 3; ++k) {
      const std::string n = std::to_string(k + 1);
      c.clamp_mv[static_cast<std::size_t>(k)] = t.number("amp" + n, 0.0);
      c.clamp_dur_ms[static_cast<std::size_t>(k)] = t.number("dur" + n, 0.0, 0.0, 1e12);
      total_ms += c.clamp_dur_ms[static_cast<std::size_t>(k)];
    }
    if (!(total_ms > 0)) {
      fail(entry, t.key_name("dur1"),
           "a voltage clamp needs a level held for some time: give dur1, dur2 or dur3 > 0 (ms)");
    }
    c.delay_ms = 0;
    c.duration_ms = total_ms;
    emit(c, label);
  } else if (synapse) {
    c.kind = type == "exp_syn"    ? stimulus_kind::exp_syn
             : type == "exp2_syn" ? stimulus_kind::exp2_syn
                                  : stimulus_kind::current_exp_syn;
    read_synapse(t, entry, c, t_stop);
    emit(c, label);
  } else {
    fail(t.get("type"), t.key_name("type"),
         "unknown stimulus type '" + type + "'" +
             did_you_mean(type, {"step", "ramp", "noise", "random_steps", "waveform", "holding",
                                 "seclamp", "exp_syn", "exp2_syn", "current_exp_syn"}) +
             " (step, ramp, noise, random_steps, waveform, holding, seclamp, exp_syn, exp2_syn, "
             "current_exp_syn)");
  }
  return made;
}

// Names identify protocols in results, targets and features: each must be unique.
void add_named(run_config& rc, stimulus st, const toml::value& at, const std::string& key,
               std::vector<const toml::value*>& where_of) {
  for (std::size_t k = 0; k < rc.stimuli.size(); ++k) {
    if (rc.stimuli[k].name != st.name) continue;
    const auto loc = where_of[k]->location();
    fail(at, key,
         "the name \"" + st.name + "\" is already used (" + loc.file_name() +
             (loc.line() > 0 ? ":" + std::to_string(loc.line()) : "") +
             "): protocols and stimuli need distinct names");
  }
  rc.stimuli.push_back(std::move(st));
  where_of.push_back(&at);
}

}  // namespace

void build_stimuli(const toml::value* stimuli, const toml::value* protocols, run_config& rc) {
  std::vector<const toml::value*> where_of;  // the table that made each stimulus
  if (stimuli != nullptr) {
    if (!stimuli->is_array()) fail(*stimuli, "stimulus", "expected [[stimulus]] tables");
    std::size_t index = 0;
    for (const auto& entry : stimuli->as_array()) {
      const std::string name = "stimulus[" + std::to_string(index) + "]";
      table_reader t(entry, name);
      const std::string label = t.string("name", name);
      // Keyed by the table index, so two tables with the same seed differ.
      for (auto& m :
           read_stimulus_table(t, entry, label, index, rc, false, rc.settings.t_stop_ms)) {
        stimulus st;
        st.name = std::move(m.name);
        st.components = std::move(m.components);
        add_named(rc, std::move(st), t.at("name"), t.key_name("name"), where_of);
      }
      t.finish();
      ++index;
    }
  }
  if (protocols == nullptr) return;
  if (!protocols->is_array()) fail(*protocols, "protocol", "expected [[protocol]] tables");
  std::size_t index = 0;
  for (const auto& entry : protocols->as_array()) {
    const std::string key = "protocol[" + std::to_string(index) + "]";
    table_reader t(entry, key);
    if (!t.has("name")) fail(entry, t.key_name("name"), "missing (results and targets name it)");
    stimulus st;
    st.name = t.string("name", "");
    if (st.name.empty()) fail(t.at("name"), t.key_name("name"), "must not be empty");
    // Its own duration (BluePyOpt's totduration), within the run: simulate_batch groups
    // protocols by duration where that saves work.
    const double run_stop = rc.settings.t_stop_ms;
    st.t_stop_ms = t.number("t_stop_ms", run_stop, 0.0, run_stop, true);
    const double steps = st.t_stop_ms / rc.settings.dt_ms;
    if (std::fabs(steps - std::round(steps)) > 1e-6) {
      fail(t.at("t_stop_ms"), t.key_name("t_stop_ms"),
           "must be a whole number of simulation.dt_ms steps");
    }
    if (st.t_stop_ms == run_stop) st.t_stop_ms = 0;
    if (t.has("stimulus")) {
      const toml::value& ev = t.get("stimulus");
      if (!ev.is_array()) fail(ev, t.key_name("stimulus"), "expected [[protocol.stimulus]] tables");
      std::size_t k = 0;
      for (const auto& element : ev.as_array()) {
        const std::string ename = key + ".stimulus[" + std::to_string(k) + "]";
        table_reader et(element, ename);
        // Seeds keyed by (protocol, element): apart from each other and from [[stimulus]].
        const std::uint64_t seed_key = counter_hash(0x70726f746fULL, index, k);
        auto made = read_stimulus_table(et, element, st.name, seed_key, rc, true,
                                        st.t_stop_ms > 0 ? st.t_stop_ms : run_stop);
        for (auto& c : made.front().components) st.components.push_back(std::move(c));
        et.finish();
        ++k;
      }
    }
    add_named(rc, std::move(st), t.at("name"), t.key_name("name"), where_of);
    t.finish();
    ++index;
  }
}

}  // namespace cellfit::detail
