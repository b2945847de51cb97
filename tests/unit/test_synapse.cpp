// Synapses driven by given input spikes as protocol elements (exp_syn, exp2_syn as NEURON's
// ExpSyn and Exp2Syn; current_exp_syn): the step at which NEURON's fixed step delivers an
// event, the per-step state, Exp2Syn's normalisation, Poisson trains, how several elements
// at one site add, the config keys and the refusals of bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "config_refusal.hpp"
#include "io/config.hpp"
#include "sim/batch_simulator.hpp"
#include "stimulus/stimulus.hpp"

namespace {

using cellfit::stimulus_kind;
using cellfit::test::config_refusal;

cellfit::stimulus_component synapse(stimulus_kind kind, std::vector<double> events_ms) {
  cellfit::stimulus_component c;
  c.kind = kind;
  c.sites = {0};
  c.weight = 0.002;
  c.tau_ms = 2.0;
  c.tau1_ms = 0.5;
  c.tau2_ms = 3.0;
  c.events_ms = std::move(events_ms);
  return c;
}

// Steps as NEURON 9's fixed step delivers these events (dt 0.025 ms, NetCon.event(t) onto an
// ExpSyn, the step whose currents first see the conductance): up to dt/2 at finitialize;
// otherwise at the end of the step that reaches the first t with t_event <= t + dt/2, where
// t is NEURON's accumulated clock, so that an event exactly half a step past a multiple of
// dt falls on either side by the clock's rounding (1.0125 ms: step 41, not 40).
TEST(synapse, events_are_delivered_at_the_steps_neuron_delivers_them) {
  const double dt = 0.025;
  const auto clock = cellfit::neuron_clock(200, dt);
  ASSERT_EQ(clock.size(), 201u);
  EXPECT_EQ(clock[0], 0.0);
  struct expect {
    double t_ms;
    std::size_t step;
  };
  for (const auto& e : std::vector<expect>{{0.0, 0},
                                           {0.0125, 0},
                                           {0.02, 1},
                                           {1.0, 40},
                                           {1.0125, 41},
                                           {2.0375, 82},
                                           {3.01, 120},
                                           {4.99, 200},
                                           {7.0, 200}}) {
    EXPECT_EQ(cellfit::delivery_step(clock, dt, e.t_ms), e.step) << e.t_ms;
  }
}

TEST(synapse, exp_syn_jumps_by_the_weight_and_decays_by_cnexp) {
  const double dt = 0.025;
  auto c = synapse(stimulus_kind::exp_syn, {0.0, 0.0125, 1.0, 1.0});
  const auto g = cellfit::synapse_per_step(c, 80, dt);
  ASSERT_EQ(g.size(), 80u);
  const double a = 1.0 - std::exp(dt * (-1.0 / c.tau_ms));
  double x = 2 * c.weight;  // two events at finitialize
  EXPECT_EQ(g[0], x);
  for (std::size_t n = 1; n < 80; ++n) {
    x += a * (0.0 - x);
    if (n == 40) x += 2 * c.weight;  // two events at 1 ms add
    EXPECT_DOUBLE_EQ(g[n], x) << n;
  }
  // The current synapse has the same state sequence (its weight in nA).
  c.kind = stimulus_kind::current_exp_syn;
  EXPECT_EQ(cellfit::synapse_per_step(c, 80, dt), g);
}

TEST(synapse, exp2_syn_peaks_at_its_weight) {
  // NEURON's factor: one event's conductance B - A peaks at the weight.
  for (auto [tau1, tau2] : std::vector<std::pair<double, double>>{{0.5, 3.0}, {0.1, 10.0}}) {
    const auto k = cellfit::exp2_syn_setup(tau1, tau2);
    EXPECT_EQ(k.tau1_ms, tau1);
    const double tp = tau1 * tau2 / (tau2 - tau1) * std::log(tau2 / tau1);
    EXPECT_NEAR(k.factor * (std::exp(-tp / tau2) - std::exp(-tp / tau1)), 1.0, 1e-14);
    auto c = synapse(stimulus_kind::exp2_syn, {0.0});
    c.tau1_ms = tau1;
    c.tau2_ms = tau2;
    const auto g = cellfit::synapse_per_step(c, 100000, 0.001);
    const double peak = *std::max_element(g.begin(), g.end());
    EXPECT_NEAR(peak / c.weight, 1.0, 1e-3) << tau1 << " " << tau2;
    EXPECT_EQ(g[0], 0.0);  // A and B start equal: no conductance in the step of the event
    EXPECT_GT(g[1], 0.0);
  }
  // NEURON's adjustments: tau1 at most 0.9999 tau2, at least 1e-9 tau2.
  EXPECT_EQ(cellfit::exp2_syn_setup(2.99999, 3.0).tau1_ms, 0.9999 * 3.0);
  EXPECT_EQ(cellfit::exp2_syn_setup(1e-12, 3.0).tau1_ms, 3.0 * 1e-9);
}

TEST(synapse, poisson_trains_are_seeded_sorted_and_have_the_rate) {
  const auto a = cellfit::poisson_train(7, 50.0, 1000.0, 101000.0);
  EXPECT_EQ(a, cellfit::poisson_train(7, 50.0, 1000.0, 101000.0));
  EXPECT_NE(a, cellfit::poisson_train(8, 50.0, 1000.0, 101000.0));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_GE(a.front(), 1000.0);
  EXPECT_LT(a.back(), 101000.0);
  // 100 s at 50 Hz: 5000 +- 71 spikes; intervals exponential (CV 1).
  EXPECT_NEAR(static_cast<double>(a.size()), 5000.0, 5 * std::sqrt(5000.0));
  double sum = 0, sum2 = 0;
  for (std::size_t k = 1; k < a.size(); ++k) {
    const double isi = a[k] - a[k - 1];
    sum += isi;
    sum2 += isi * isi;
  }
  const double n = static_cast<double>(a.size() - 1), mean = sum / n;
  EXPECT_NEAR(mean, 20.0, 1.0);
  EXPECT_NEAR(std::sqrt(sum2 / n - mean * mean) / mean, 1.0, 0.05);
  EXPECT_TRUE(cellfit::poisson_train(7, 0.0, 0.0, 1000.0).empty());
}

TEST(synapse, elements_at_one_site_add) {
  const double dt = 0.025;
  auto ampa = synapse(stimulus_kind::exp_syn, {0.5});
  ampa.e_mv = 0.0;
  auto gaba = synapse(stimulus_kind::exp2_syn, {0.25});
  gaba.e_mv = -80.0;
  auto cur = synapse(stimulus_kind::current_exp_syn, {0.3});
  cur.weight = 0.1;
  cellfit::stimulus_component step;
  step.sites = {0};
  step.amplitude = 0.05;
  step.duration_ms = 10.0;
  const auto st = cellfit::sample_stimuli({{"x", {ampa, gaba, cur, step}}}, 40, dt);
  ASSERT_TRUE(st.has_synapse_conductance());
  EXPECT_FALSE(st.has_clamp());
  const auto ga = cellfit::synapse_per_step(ampa, 40, dt);
  const auto gg = cellfit::synapse_per_step(gaba, 40, dt);
  const auto ic = cellfit::synapse_per_step(cur, 40, dt);
  for (std::size_t n = 0; n < 40; ++n) {
    const double g = ga[n] + gg[n];
    EXPECT_DOUBLE_EQ(st.synapse_g_us[n], g) << n;
    // The reversal is the conductance-weighted mean: g e_syn = sum of g_k e_k.
    EXPECT_NEAR(st.synapse_g_us[n] * st.synapse_e_mv[n], ga[n] * 0.0 + gg[n] * -80.0, 1e-15);
    EXPECT_DOUBLE_EQ(st.current[n], 0.05 + ic[n]) << n;
  }
  EXPECT_EQ(st.synapse_g_us[9], 0.0);  // nothing before the first event (0.25 ms)
  EXPECT_EQ(st.synapse_e_mv[9], 0.0);
  EXPECT_GT(st.synapse_g_us[11], 0.0);  // Exp2Syn's conductance from the step after it
  EXPECT_EQ(st.synapse_e_mv[11], -80.0);
  // Without a conductance synapse there are no synaptic arrays.
  EXPECT_FALSE(cellfit::sample_stimuli({{"c", {cur}}}, 4, dt).has_synapse_conductance());
}

// A ball-and-stick hh cell with one element `element` (the lines after its type) in
// protocol "syn".
std::string synapse_config(const std::string& element) {
  return "[model]\nmorphology = \"builtin:ball_and_stick\"\n[simulation]\nt_stop_ms = 40.0\n"
         "record_sites = [0, -1]\n[[protocol]]\nname = \"syn\"\n[[protocol.stimulus]]\n" +
         element + "\n";
}

TEST(synapse, config_keys_make_the_element) {
  const auto rc = cellfit::parse_config(
      synapse_config("type = \"exp2_syn\"\nsites = \"dend[0](0.7)\"\nweight = 0.004\ntau1 = "
                     "0.5\ntau2 = 5.0\ne = -10.0\nspikes = [5.0, 5.0, 12.5]\ndelay_ms = 1.5"),
      "run.toml", {});
  ASSERT_EQ(rc.stimuli.size(), 1u);
  ASSERT_EQ(rc.stimuli[0].components.size(), 1u);
  const auto& c = rc.stimuli[0].components[0];
  EXPECT_EQ(c.kind, stimulus_kind::exp2_syn);
  EXPECT_EQ(c.sites, std::vector<int>{4});  // dend(0.7) of nseg 5: the fourth segment
  EXPECT_EQ(c.weight, 0.004);
  EXPECT_EQ(c.tau1_ms, 0.5);
  EXPECT_EQ(c.tau2_ms, 5.0);
  EXPECT_EQ(c.e_mv, -10.0);
  EXPECT_EQ(c.events_ms, (std::vector<double>{6.5, 6.5, 14.0}));
  // The default feature window of synapses alone: first event to the end.
  const auto w = cellfit::active_window(rc.stimuli[0], 40.0);
  EXPECT_EQ(w.start_ms, 6.5);
  EXPECT_EQ(w.end_ms, 40.0);

  // A Poisson train: the seed alone picks it, within [start_ms, stop_ms).
  const auto p = cellfit::parse_config(
      synapse_config("type = \"current_exp_syn\"\nsites = \"soma\"\nweight = -0.2\ntau = 5.0\n"
                     "rate_hz = 500.0\nstart_ms = 10.0\nstop_ms = 30.0\nseed = 3"),
      "run.toml", {});
  const auto& q = p.stimuli[0].components[0];
  EXPECT_EQ(q.kind, stimulus_kind::current_exp_syn);
  EXPECT_EQ(q.weight, -0.2);  // a current synapse may be inhibitory
  EXPECT_EQ(q.events_ms, cellfit::poisson_train(3, 500.0, 10.0, 30.0));
  EXPECT_GT(q.events_ms.size(), 1u);
}

TEST(synapse, excitation_depolarises_and_inhibition_hyperpolarises) {
  auto run = [](const std::string& element) {
    const auto rc = cellfit::parse_config(synapse_config(element), "run.toml", {});
    const auto r = cellfit::simulate_batch(rc.model, rc.sets, rc.stimuli, rc.settings);
    EXPECT_EQ(r.failed_step[0], -1);
    // The soma's voltage at 8 ms (3 ms after the event).
    const auto k = static_cast<std::size_t>(std::lround(8.0 / rc.settings.dt_ms));
    return r.voltage[k];
  };
  const double rest =
      run("type = \"exp_syn\"\nsites = \"soma\"\nweight = 0.0\ntau = 2.0\n"
          "spikes = [5.0]");
  EXPECT_GT(run("type = \"exp_syn\"\nsites = \"soma\"\nweight = 0.001\ntau = 2.0\n"
                "spikes = [5.0]"),
            rest + 0.1);
  EXPECT_LT(run("type = \"exp_syn\"\nsites = \"soma\"\nweight = 0.001\ntau = 2.0\ne = -90.0\n"
                "spikes = [5.0]"),
            rest - 0.1);
  EXPECT_GT(run("type = \"current_exp_syn\"\nsites = \"soma\"\nweight = 0.05\ntau = 2.0\n"
                "spikes = [5.0]"),
            rest + 0.1);
}

TEST(synapse, bad_input_is_refused_naming_file_line_key_and_value) {
  struct refusal {
    std::string element, expect;
  };
  const std::string exp = "type = \"exp_syn\"\nsites = \"soma\"\ntau = 2.0\n";
  const std::vector<refusal> cases = {
      {exp + "weight = 0.001\nspikes = [10.0, 5.0]",
       "run.toml:13: protocol[0].stimulus[0].spikes[1]: spike times must not decrease: 5 ms "
       "after 10 ms"},
      {exp + "weight = 0.001\nspikes = [10.0, 45.0]",
       "run.toml:13: protocol[0].stimulus[0].spikes[1]: spike time 45 ms is outside the "
       "protocol, [0, 40] ms"},
      {exp + "weight = 0.001\nspikes = [-1.0]",
       "protocol[0].stimulus[0].spikes[0]: spike time -1 ms is outside"},
      {exp + "weight = 0.001\nspikes = [1.0, \"x\"]",
       "protocol[0].stimulus[0].spikes[1]: expected a number"},
      {exp + "weight = 0.001\nspikes = 3.0",
       "protocol[0].stimulus[0].spikes: expected an array of times (ms)"},
      {exp + "weight = -0.001\nspikes = [1.0]",
       "run.toml:12: protocol[0].stimulus[0].weight: a conductance synapse's weight is a "
       "conductance (uS) and must be >= 0, got -0.001"},
      {"type = \"exp_syn\"\nsites = \"soma\"\ntau = 0.0\nweight = 0.001\nspikes = [1.0]",
       "run.toml:11: protocol[0].stimulus[0].tau: a time constant must be > 0 ms, got 0"},
      {"type = \"current_exp_syn\"\nsites = \"soma\"\ntau = -5\nweight = 0.1\nspikes = [1.0]",
       "protocol[0].stimulus[0].tau: a time constant must be > 0 ms, got -5"},
      {"type = \"exp_syn\"\nsites = \"soma\"\nweight = 0.001\nspikes = [1.0]",
       "protocol[0].stimulus[0].tau: missing (decay time constant, ms)"},
      {"type = \"exp2_syn\"\nsites = \"soma\"\ntau1 = 5.0\ntau2 = 5.0\nweight = 0.001\n"
       "spikes = [1.0]",
       "run.toml:11: protocol[0].stimulus[0].tau1: the rise time constant tau1 must be below "
       "the decay time constant tau2 (as NEURON's Exp2Syn requires), got tau1 = 5, tau2 = 5"},
      {"type = \"exp2_syn\"\nsites = \"soma\"\ntau1 = 0\ntau2 = 5.0\nweight = 0.001\n"
       "spikes = [1.0]",
       "protocol[0].stimulus[0].tau1: a time constant must be > 0 ms, got 0"},
      {exp + "weight = 0.001\nrate_hz = -3.0",
       "run.toml:13: protocol[0].stimulus[0].rate_hz: must be >= 0, got -3"},
      {exp + "weight = 0.001\nrate_hz = 1e9",
       "run.toml:13: protocol[0].stimulus[0].rate_hz: a Poisson train of 1e+09 Hz over 40 ms "
       "has 4e+07 spikes on average, more than 1e+06"},
      {exp + "weight = 0.001\nrate_hz = 10.0\nstart_ms = 20.0\nstop_ms = 10.0",
       "protocol[0].stimulus[0].stop_ms: must be in [20, 40], got 10"},
      {exp + "weight = 0.001\nrate_hz = 10.0\nspikes = [1.0]",
       "protocol[0].stimulus[0].rate_hz: give spikes (times) or rate_hz (a Poisson train), not "
       "both"},
      {exp + "weight = 0.001", "protocol[0].stimulus[0].spikes: missing (input spike times in ms"},
      {exp + "spikes = [1.0]",
       "protocol[0].stimulus[0].weight: missing (the conductance each input spike adds, uS)"},
      {exp + "weight = 0.001\nspikes = [1.0]\ndelay_ms = -1.0",
       "protocol[0].stimulus[0].delay_ms: must be >= 0, got -1"},
      {"type = \"current_exp_syn\"\nsites = \"soma\"\ntau = 2.0\nweight = 0.1\nspikes = [1.0]\n"
       "e = -70.0",
       "protocol[0].stimulus[0].e: unknown key"},
      {exp + "weight = 0.001\nspikes = [1.0]\nholding = 0.1",
       "protocol[0].stimulus[0].holding: unknown key"},
      {"type = \"exp_sin\"\nsites = \"soma\"", "unknown stimulus type 'exp_sin' (did you mean"},
  };
  for (const auto& c : cases) {
    const std::string why = config_refusal(synapse_config(c.element));
    EXPECT_NE(why.find(c.expect), std::string::npos) << c.element << "\n -> " << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
}

}  // namespace
