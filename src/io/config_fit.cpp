// [fit]: what is fitted, to what, and by which engine.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <toml.hpp>

#include "common/error.hpp"
#include "common/suggest.hpp"
#include "features/feature_library.hpp"
#include "io/config.hpp"
#include "io/detail/config_reader.hpp"
#include "io/detail/config_sections.hpp"

namespace cellfit::detail {

namespace {

transform_kind parse_transform(const toml::value& v, const std::string& key) {
  if (!v.is_string()) fail(v, key, "expected \"linear\", \"log\" or \"sigmoid\"");
  const std::string t = v.as_string().str;
  if (t == "linear") return transform_kind::linear;
  if (t == "log") return transform_kind::log;
  if (t == "sigmoid") return transform_kind::sigmoid;
  fail(v, key, "expected \"linear\", \"log\" or \"sigmoid\", got \"" + t + "\"");
}

void build_ga(const toml::value& v, run_config& rc) {
  table_reader t(v, "fit.ga");
  ga_fit_settings& g = rc.fit.ga;
  ga::ga_settings& a = g.algorithm;
  const std::string alg = t.string("algorithm", ga::strategy_name(a.algorithm));
  if (alg == "mu_comma_lambda") {
    a.algorithm = ga::strategy::mu_comma_lambda;
  } else if (alg == "mu_plus_lambda") {
    a.algorithm = ga::strategy::mu_plus_lambda;
  } else if (alg == "cmaes") {
    a.algorithm = ga::strategy::cmaes;
  } else if (alg == "de") {
    a.algorithm = ga::strategy::de;
  } else if (alg == "pso") {
    a.algorithm = ga::strategy::pso;
  } else {
    fail(t.at("algorithm"), "fit.ga.algorithm",
         "expected \"mu_comma_lambda\", \"mu_plus_lambda\", \"cmaes\", \"de\" or \"pso\", " +
             ("got \"" + alg + "\""));
  }
  // CMA-ES, DE and PSO minimise the summed objective: their selection is "single", and a
  // multi-objective one given in the config is not used (a warning, not an error, so that
  // --set fit.ga.algorithm=de works on a config written for IBEA).
  const bool summed = ga::summed_objective(a.algorithm);
  const std::string sel =
      t.string("selection", ga::selection_name(summed ? ga::selection_kind::single : a.selection));
  if (sel == "ibea") {
    a.selection = ga::selection_kind::ibea;
  } else if (sel == "nsga2") {
    a.selection = ga::selection_kind::nsga2;
  } else if (sel == "single") {
    a.selection = ga::selection_kind::single;
  } else {
    fail(t.at("selection"), "fit.ga.selection",
         "expected \"ibea\", \"nsga2\" or \"single\", got \"" + sel + "\"");
  }
  if (summed && a.selection != ga::selection_kind::single) {
    g.selection_warning = "fit.ga.selection = \"" + sel + "\" is not used: fit.ga.algorithm = \"" +
                          alg + "\" minimises the summed objective (as selection \"single\")";
    a.selection = ga::selection_kind::single;
  }
  const std::string de_strategy = t.string("de_strategy", ga::de_strategy_name(a.de.strategy));
  if (de_strategy == "rand1bin") {
    a.de.strategy = ga::de_strategy::rand1bin;
  } else if (de_strategy == "best1bin") {
    a.de.strategy = ga::de_strategy::best1bin;
  } else if (de_strategy == "currenttobest1bin") {
    a.de.strategy = ga::de_strategy::current_to_best1bin;
  } else {
    fail(t.at("de_strategy"), "fit.ga.de_strategy",
         "expected \"rand1bin\", \"best1bin\" or \"currenttobest1bin\", got \"" + de_strategy +
             "\"");
  }
  a.de.f = t.number("de_f", a.de.f, 0.0, 2.0, true);
  a.de.cr = t.number("de_cr", a.de.cr, 0.0, 1.0);
  a.pso.w = t.number("pso_w", a.pso.w, 0.0, 1.0);
  a.pso.c1 = t.number("pso_c1", a.pso.c1, 0.0, 4.0);
  a.pso.c2 = t.number("pso_c2", a.pso.c2, 0.0, 4.0);
  a.pso.vmax = t.positive("pso_vmax", a.pso.vmax);
  a.population = static_cast<int>(t.integer("population", a.population, 2, 10000000));
  if (a.algorithm == ga::strategy::de &&
      static_cast<std::size_t>(a.population) < ga::de_min_population(a.de.strategy)) {
    fail(t.at("population"), "fit.ga.population",
         "de_strategy \"" + de_strategy + "\" needs a population of at least " +
             std::to_string(ga::de_min_population(a.de.strategy)) + ", got " +
             std::to_string(a.population));
  }
  a.offspring =
      static_cast<int>(t.integer("offspring", a.algorithm == ga::strategy::cmaes ? 0 : a.population,
                                 a.algorithm == ga::strategy::cmaes ? 0 : 1, 10000000));
  // DE and PSO evaluate one genome per member of the population.
  if (a.algorithm == ga::strategy::de || a.algorithm == ga::strategy::pso)
    a.offspring = a.population;
  a.generations = static_cast<int>(t.integer("generations", a.generations, 0, 100000000));
  a.crossover_prob = t.number("crossover_prob", a.crossover_prob, 0.0, 1.0);
  a.mutation_prob = t.number("mutation_prob", a.mutation_prob, 0.0, 1.0);
  a.gene_mutation_prob = t.number("gene_mutation_prob", a.gene_mutation_prob, 0.0, 1.0);
  a.eta_crossover = t.number("eta_crossover", a.eta_crossover, 0.0, 1e6, true);
  a.eta_mutation = t.number("eta_mutation", a.eta_mutation, 0.0, 1e6, true);
  a.tournament = static_cast<int>(t.integer("tournament", a.tournament, 1, 1000));
  a.hall_of_fame = static_cast<int>(t.integer("hall_of_fame", a.hall_of_fame, 1, 1000000));
  a.ibea_kappa = t.number("ibea_kappa", a.ibea_kappa, 0.0, 1e6, true);
  a.cmaes_sigma = t.number("cmaes_sigma", a.cmaes_sigma, 0.0, 10.0, true);
  a.seed = static_cast<std::uint64_t>(
      t.integer("seed", static_cast<long long>(a.seed), 0, std::numeric_limits<long long>::max()));
  a.record_population = t.boolean("record_population", a.record_population);
  g.objective = t.string("objective", g.objective);
  if (g.objective != "features" && g.objective != "mse" && g.objective != "spike_time" &&
      g.objective != "gamma_factor" && g.objective != "van_rossum") {
    fail(t.at("objective"), "fit.ga.objective",
         "expected \"features\", \"mse\", \"spike_time\", \"gamma_factor\" or "
         "\"van_rossum\", got \"" +
             g.objective + "\"");
  }
  g.gamma_window_ms = t.positive("gamma_window_ms", g.gamma_window_ms);
  g.van_rossum_tau_ms = t.positive("van_rossum_tau_ms", g.van_rossum_tau_ms);
  const std::string grouping = t.string("grouping", "per_feature");
  if (grouping == "per_feature") {
    g.grouping = ga::objective_grouping::per_feature;
  } else if (grouping == "per_stimulus_feature") {
    g.grouping = ga::objective_grouping::per_stimulus_feature;
  } else if (grouping == "sum") {
    g.grouping = ga::objective_grouping::sum;
  } else {
    fail(t.at("grouping"), "fit.ga.grouping",
         "expected \"per_feature\", \"per_stimulus_feature\" or \"sum\", got \"" + grouping + "\"");
  }
  if (t.has("features")) {
    const toml::value& fv = t.get("features");
    g.features = string_list(fv, "fit.ga.features");
    if (g.features.empty()) fail(fv, "fit.ga.features", "needs at least one feature");
    for (const auto& name : g.features) {
      if (!features::is_known(name)) {
        std::string known;
        for (const auto& k : features::available()) known += (known.empty() ? "" : ", ") + k;
        fail(fv, "fit.ga.features",
             "unknown feature '" + name + "'" + did_you_mean(name, features::available()) +
                 " (known: " + known + ")");
      }
    }
  }
  // The recording scored: its index, or its name ([[simulation.recording]] name, or the
  // section(x) of a record_sites entry).
  if (t.has("feature_site") && t.get("feature_site").is_string()) {
    const std::string name = t.get("feature_site").as_string().str;
    const int k = rc.settings.find_site(name);
    if (k < 0) {
      std::string known;
      for (const auto& n : rc.settings.site_names()) known += (known.empty() ? "" : ", ") + n;
      fail(t.at("feature_site"), "fit.ga.feature_site",
           "no recording named \"" + name + "\" (recordings: " + known + ")");
    }
    g.feature_site = k;
  } else {
    g.feature_site = static_cast<int>(t.integer("feature_site", g.feature_site, 0, 1000000000));
  }
  g.penalty = t.number("penalty", g.penalty, 0.0, 1e300);
  g.threads = static_cast<int>(t.integer("threads", g.threads, 0, 4096));
  g.threshold_mv = t.number("threshold_mv", g.threshold_mv, -400.0, 400.0);
  g.derivative_threshold = t.positive("derivative_threshold", g.derivative_threshold);
  if (t.has("stim_start_ms")) g.stim_start_ms = t.number("stim_start_ms", 0.0, 0.0, 1e12);
  if (t.has("stim_end_ms")) g.stim_end_ms = t.number("stim_end_ms", 0.0, 0.0, 1e12);
  if (t.has("stim_start_ms") != t.has("stim_end_ms")) {
    fail(v, "fit.ga.stim_start_ms", "give both stim_start_ms and stim_end_ms, or neither");
  }
  if (t.has("stim_end_ms") && !(g.stim_end_ms > g.stim_start_ms)) {
    fail(t.at("stim_end_ms"), "fit.ga.stim_end_ms", "must exceed fit.ga.stim_start_ms");
  }
  t.finish();
}

}  // namespace

void build_fit(const toml::value& fv, run_config& rc) {
  table_reader t(fv, "fit");
  fit_settings& f = rc.fit;
  f.present = true;
  f.engine = t.string("engine", f.engine);
  if (f.engine != "gradient" && f.engine != "ga" && f.engine != "hybrid") {
    fail(t.at("engine"), "fit.engine",
         "expected \"gradient\", \"ga\" or \"hybrid\", got \"" + f.engine + "\"");
  }
  f.output = t.string("output", f.output);
  if (t.has("parameter")) {
    const toml::value& pv = t.get("parameter");
    if (!pv.is_array()) fail(pv, "fit.parameter", "expected [[fit.parameter]] tables");
    std::size_t k = 0;
    for (const auto& e : pv.as_array()) {
      const std::string nm = "fit.parameter[" + std::to_string(k++) + "]";
      table_reader pt(e, nm);
      fit_parameter p;
      if (!pt.has("name"))
        fail(e, nm + ".name", "missing (mechanism.parameter, e.g. \"hh.gnabar\")");
      const toml::value& nv = pt.get("name");
      if (!nv.is_string()) fail(nv, nm + ".name", "expected a string");
      const parameter_override o = parse_param_key(nv, nv.as_string().str);
      p.mechanism = o.mechanism;
      p.param = o.param;
      p.scope = pt.string("scope", o.scope);
      if (!pt.has("bounds")) fail(e, nm + ".bounds", "missing ([lower, upper] in physical units)");
      const toml::value& bv = pt.get("bounds");
      if (!bv.is_array() || bv.as_array().size() != 2)
        fail(bv, nm + ".bounds", "expected [lower, upper]");
      p.lower = table_reader::as_number(bv.as_array()[0], nm + ".bounds");
      p.upper = table_reader::as_number(bv.as_array()[1], nm + ".bounds");
      if (pt.has("transform"))
        p.transform = parse_transform(pt.get("transform"), nm + ".transform");
      if (pt.has("initial")) {
        const toml::value& iv = pt.get("initial");
        if (iv.is_array()) {
          for (const auto& x : iv.as_array())
            p.initial.push_back(table_reader::as_number(x, nm + ".initial"));
        } else {
          p.initial.push_back(table_reader::as_number(iv, nm + ".initial"));
        }
      }
      if (pt.has("distribution")) {
        const toml::value& dv = pt.get("distribution");
        if (p.scope == "per_compartment") {
          fail(dv, nm + ".distribution",
               "a per_compartment parameter has a value per compartment: no distribution");
        }
        p.distribution = read_distribution(dv, nm + ".distribution", rc.model.distributions).text();
      }
      const auto loc = e.location();
      p.where =
          loc.file_name() + (loc.line() > 0 ? ":" + std::to_string(loc.line()) : "") + ": " + nm;
      pt.finish();
      f.parameters.push_back(p);
    }
  }
  if (t.has("target")) {
    table_reader tt(t.get("target"), "fit.target");
    target_settings& g = f.target;
    g.type = tt.string("type", g.type);
    if (g.type == "synthetic") {
      g.low = tt.number("low", g.low, 0.0, 1e6);
      g.high = tt.number("high", g.high, 0.0, 1e6);
      if (!(g.high >= g.low)) fail(tt.at("high"), "fit.target.high", "must be >= fit.target.low");
      g.seed = static_cast<std::uint64_t>(tt.integer("seed", static_cast<long long>(g.seed), 0,
                                                     std::numeric_limits<long long>::max()));
    } else if (g.type == "file") {
      if (tt.has("recording")) {
        if (tt.has("file")) {
          fail(tt.at("file"), "fit.target.file",
               "give file or [[fit.target.recording]] tables, not both");
        }
        const toml::value& rv = tt.get("recording");
        if (!rv.is_array() || rv.as_array().empty()) {
          fail(rv, "fit.target.recording", "expected one or more [[fit.target.recording]] tables");
        }
        std::size_t k = 0;
        for (const auto& entry : rv.as_array()) {
          table_reader r(entry, "fit.target.recording[" + std::to_string(k++) + "]");
          recording_target x;
          if (!r.has("stimulus")) fail(entry, r.key_name("stimulus"), "missing (a stimulus name)");
          x.stimulus = r.string("stimulus", "");
          if (!r.has("file")) fail(entry, r.key_name("file"), "missing (a recording file)");
          const toml::value& rf = r.get("file");
          if (!rf.is_string()) fail(rf, r.key_name("file"), "expected a string");
          x.file = resolve_path(rf, rc.source);
          for (const char* key : {"sweep", "site"}) {
            if (!r.has(key)) continue;
            const toml::value& v = r.get(key);
            std::string text;
            if (v.is_integer() && v.as_integer() >= 0) {
              text = std::to_string(v.as_integer());
            } else if (v.is_string() && !v.as_string().str.empty()) {
              text = v.as_string().str;
            } else {
              fail(v, r.key_name(key), "expected an index >= 0 or a name");
            }
            (std::string(key) == "sweep" ? x.sweep : x.site) = text;
          }
          x.where = where(entry, r.key_name("file"));
          r.finish();
          g.recordings.push_back(x);
        }
      } else {
        if (!tt.has("file")) {
          fail(t.get("target"), "fit.target.file",
               "missing (HDF5 traces or a recording to fit, or [[fit.target.recording]] tables)");
        }
        const toml::value& fv2 = tt.get("file");
        if (!fv2.is_string()) fail(fv2, "fit.target.file", "expected a string");
        g.file = resolve_path(fv2, rc.source);
        g.dataset = tt.string("dataset", g.dataset);
        if (tt.has("sweeps")) {
          const toml::value& sv = tt.get("sweeps");
          if (sv.is_string()) {
            g.sweeps = sv.as_string().str;
          } else if (sv.is_array()) {
            for (const auto& e : sv.as_array()) {
              if (!e.is_integer() || e.as_integer() < 0)
                fail(e, "fit.target.sweeps", "expected sweep indices >= 0");
              g.sweeps += (g.sweeps.empty() ? "" : ",") + std::to_string(e.as_integer());
            }
          } else {
            fail(sv, "fit.target.sweeps", "expected a list of sweep indices or a string");
          }
        }
      }
    } else if (g.type == "features") {
      if (!tt.has("features_file")) {
        fail(t.get("target"), "fit.target.features_file",
             "missing (feature means and stds, BluePyOpt's features.json layout)");
      }
      const toml::value& ff = tt.get("features_file");
      if (!ff.is_string()) fail(ff, "fit.target.features_file", "expected a string");
      g.features_file = resolve_path(ff, rc.source);
      if (tt.has("protocols_file")) {
        const toml::value& pf = tt.get("protocols_file");
        if (!pf.is_string()) fail(pf, "fit.target.protocols_file", "expected a string");
        g.protocols_file = resolve_path(pf, rc.source);
      }
    } else {
      fail(tt.at("type"), "fit.target.type",
           "expected \"synthetic\", \"file\" or \"features\", got \"" + g.type + "\"");
    }
    if (g.type != "features") {
      g.std_fraction = tt.number("std_fraction", g.std_fraction, 0.0, 1e6);
      g.std_floor = tt.number("std_floor", g.std_floor, 0.0, 1e12, true);
    }
    tt.finish();
  }
  if (t.has("gradient")) {
    table_reader gt(t.get("gradient"), "fit.gradient");
    gradient_settings& g = f.gradient;
    const std::string opt = gt.string("optimizer", "adam");
    if (opt == "adam") {
      g.optimizer = optimizer_kind::adam;
    } else if (opt == "lbfgsb") {
      g.optimizer = optimizer_kind::lbfgsb;
    } else {
      fail(gt.at("optimizer"), "fit.gradient.optimizer",
           "expected \"adam\" or \"lbfgsb\", got \"" + opt + "\"");
    }
    g.epochs = static_cast<int>(gt.integer("epochs", g.epochs, 0, 10000000));
    g.lr = gt.positive("lr", g.lr);
    g.beta1 = gt.number("beta1", g.beta1, 0.0, 1.0);
    g.beta2 = gt.number("beta2", g.beta2, 0.0, 1.0);
    if (!(g.beta1 < 1)) fail(gt.at("beta1"), "fit.gradient.beta1", "must be < 1");
    if (!(g.beta2 < 1)) fail(gt.at("beta2"), "fit.gradient.beta2", "must be < 1");
    g.epsilon = gt.positive("epsilon", g.epsilon);
    g.lbfgs_memory = static_cast<int>(gt.integer("lbfgs_memory", g.lbfgs_memory, 1, 1000));
    const std::string loss = gt.string("loss", "normalized");
    if (loss == "mse") {
      g.loss.kind = loss_kind::mse;
    } else if (loss == "normalized") {
      g.loss.kind = loss_kind::normalized;
    } else if (loss == "spike_time") {
      g.loss.kind = loss_kind::spike_time;
    } else if (loss == "van_rossum") {
      g.loss.kind = loss_kind::van_rossum;
    } else if (loss == "gamma_factor") {
      // A count of coincidences: piecewise constant in the spike times, its gradient is zero
      // wherever it exists (docs/gradient.md).
      fail(gt.at("loss"), "fit.gradient.loss",
           "\"gamma_factor\" counts coincidences and has no gradient: it is a GA objective "
           "(fit.ga.objective = \"gamma_factor\"); for gradients use \"spike_time\" or "
           "\"van_rossum\"");
    } else {
      fail(gt.at("loss"), "fit.gradient.loss",
           "expected \"mse\", \"normalized\", \"spike_time\" or \"van_rossum\", got \"" + loss +
               "\"");
    }
    g.spike_weight_given = gt.has("spike_weight");
    g.loss.spike_weight = gt.number("spike_weight", 0.0, 0.0, 1e12);
    if (is_spike_loss(g.loss.kind) && g.loss.spike_weight > 0) {
      fail(gt.at("spike_weight"), "fit.gradient.spike_weight",
           "adds a spike term to the trace losses (\"mse\", \"normalized\"), not to \"" + loss +
               "\"");
    }
    g.loss.spike_threshold_mv = gt.number("spike_threshold_mv", -20.0, -400.0, 400.0);
    g.loss.van_rossum_tau_ms = gt.positive("van_rossum_tau_ms", g.loss.van_rossum_tau_ms);
    g.early_stop = gt.number("early_stop", 0.0, 0.0, 1.0);
    g.patience = static_cast<int>(gt.integer("patience", g.patience, 1, 1000000));
    g.adjoint.checkpoint_every = static_cast<int>(gt.integer("checkpoint_every", 0, 0, 1000000000));
    g.adjoint.memory_budget_bytes = 1e6 * gt.number("memory_budget_mb", 0.0, 0.0, 1e12);
    gt.finish();
  }
  if (t.has("ga")) build_ga(t.get("ga"), rc);
  if (t.has("hybrid")) {
    table_reader ht(t.get("hybrid"), "fit.hybrid");
    f.hybrid.polish = static_cast<int>(ht.integer("polish", f.hybrid.polish, 1, 1000000));
    f.hybrid.ga_fraction = ht.number("ga_fraction", f.hybrid.ga_fraction, 0.0, 1.0);
    if (!(f.hybrid.ga_fraction > 0 && f.hybrid.ga_fraction < 1))
      fail(ht.at("ga_fraction"), "fit.hybrid.ga_fraction", "must lie strictly between 0 and 1");
    ht.finish();
  }
  f.max_simulations = t.number("max_simulations", 0.0, 0.0, 1e18);
  f.max_seconds = t.number("max_seconds", 0.0, 0.0, 1e12);
  f.gradient.max_simulations = f.ga.algorithm.max_simulations = f.max_simulations;
  f.gradient.max_wall_s = f.ga.algorithm.max_wall_s = f.max_seconds;
  f.checkpoint_every =
      static_cast<int>(t.integer("checkpoint_every", f.checkpoint_every, 0, 1000000000));
  f.checkpoint = t.string("checkpoint", f.checkpoint);
  if (t.has("ensemble")) {
    table_reader et(t.get("ensemble"), "fit.ensemble");
    ensemble_settings& e = f.ensemble;
    e.present = true;
    e.vary = et.string("vary", "");
    if (e.vary.empty() || e.vary.rfind("fit.ensemble", 0) == 0 ||
        e.vary.find('=') != std::string::npos) {
      fail(et.at("vary"), "fit.ensemble.vary",
           "expected the config key each member changes, e.g. \"fit.target.seed\"");
    }
    if (!et.has("values") || !et.get("values").is_array() || et.get("values").as_array().empty()) {
      fail(et.at("values"), "fit.ensemble.values",
           "expected a non-empty array, one value per member");
    }
    for (const auto& x : et.get("values").as_array()) e.values.push_back(as_toml_text(x));
    e.groups = static_cast<int>(et.integer("groups", 0, 0, 1000000));
    et.finish();
  }
  t.finish();
}

}  // namespace cellfit::detail
