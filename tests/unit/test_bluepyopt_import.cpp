// BluePyOpt's config layout (parameters, mechanisms, protocols and features JSON, written
// by the tests in the L5PC example's form) turned into a cellfit config: the config loads,
// its model, recordings, protocols, fitted parameters and feature targets are those of the
// files, and bad input is refused with one line naming the file and key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.hpp"
#include "io/bluepyopt_import.hpp"
#include "io/config.hpp"
#include "io/feature_targets.hpp"
#include "model/parameter_space.hpp"
#include "scratch_dir.hpp"

namespace {

namespace fs = std::filesystem;

using cellfit::test::scratch_dir;

// A soma, a 60 um axon, a 100 um basal and a 300 um apical dendrite.
const char* cell_swc = R"(1 1 0 0 0 10 -1
2 2 0 -10 0 0.5 1
3 2 0 -70 0 0.5 2
4 3 10 0 0 1 1
5 3 110 0 0 1 4
6 4 0 10 0 1.5 1
7 4 0 160 0 1.2 6
8 4 0 310 0 1 7
)";

const char* mechanisms_json = R"({
  "all": ["pas"],
  "somatic": ["NaTs2_t", "SKv3_1", "CaDynamics_E2", "Ca_HVA"],
  "axonal": ["NaTa_t", "SKv3_1"],
  "apical": ["Ih", "NaTs2_t"]
})";

const char* parameters_json = R"([
  {"param_name": "g_pas", "sectionlist": "all", "type": "section", "dist_type": "uniform",
   "value": 3e-05},
  {"param_name": "e_pas", "sectionlist": "all", "type": "section", "dist_type": "uniform",
   "value": -75},
  {"param_name": "cm", "sectionlist": "all", "type": "section", "dist_type": "uniform",
   "value": 1},
  {"param_name": "Ra", "sectionlist": "all", "type": "section", "dist_type": "uniform",
   "value": 100},
  {"param_name": "v_init", "type": "global", "value": -65},
  {"param_name": "celsius", "type": "global", "value": 34},
  {"param_name": "cm", "sectionlist": "apical", "type": "section", "dist_type": "uniform",
   "value": 2},
  {"param_name": "ena", "sectionlist": "somatic", "type": "section", "dist_type": "uniform",
   "value": 50},
  {"param_name": "ek", "sectionlist": "somatic", "type": "section", "dist_type": "uniform",
   "value": -85},
  {"param_name": "gIhbar_Ih", "mech": "Ih", "mech_param": "gIhbar", "sectionlist": "apical",
   "type": "range", "dist_type": "exp", "value": 8e-05,
   "dist": "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"},
  {"param_name": "gNaTs2_tbar_NaTs2_t", "mech": "NaTs2_t", "mech_param": "gNaTs2_tbar",
   "sectionlist": "apical", "type": "range", "dist_type": "uniform", "bounds": [0, 0.04]},
  {"param_name": "gNaTs2_tbar_NaTs2_t", "mech": "NaTs2_t", "mech_param": "gNaTs2_tbar",
   "sectionlist": "somatic", "type": "range", "dist_type": "uniform", "bounds": [0, 1]},
  {"param_name": "gSKv3_1bar_SKv3_1", "mech": "SKv3_1", "mech_param": "gSKv3_1bar",
   "sectionlist": "somatic", "type": "range", "dist_type": "uniform", "value": 0.3},
  {"param_name": "gNaTa_tbar_NaTa_t", "mech": "NaTa_t", "mech_param": "gNaTa_tbar",
   "sectionlist": "axonal", "type": "range", "dist_type": "uniform", "bounds": [0, 4]}
])";

const char* protocols_json = R"({
  "bAP": {"stimuli": [{"delay": 20, "amp": 1.9, "duration": 5, "totduration": 60}],
          "extra_recordings": [{"var": "v", "somadistance": 150, "type": "somadistance",
                                "name": "dend1", "seclist_name": "apical",
                                "arbor_branch_index": 3}]},
  "Step1": {"stimuli": [{"delay": 10, "amp": 0.458, "duration": 50, "totduration": 80},
                        {"delay": 0, "amp": -0.126, "duration": 80, "totduration": 80}]}
})";

const char* features_json = R"({
  "bAP": {"soma": {"Spikecount": [1.0, 0.01]},
          "dend1": [{"feature": "AP_amplitude_from_voltagebase", "val": [45, 10],
                     "threshold": -55}]},
  "Step1": {"soma": {"AP_height": [25.0, 3.1], "AHP_slow_time": [0.16, 0.05]}}
})";

struct bluepyopt_files {
  scratch_dir dir;
  std::string morphology;
  bluepyopt_files(const std::string& mechanisms = mechanisms_json,
                  const std::string& parameters = parameters_json,
                  const std::string& protocols = protocols_json,
                  const std::string& features = features_json) {
    morphology = dir.write("cell.swc", cell_swc);
    dir.write("mechanisms.json", mechanisms);
    dir.write("parameters.json", parameters);
    dir.write("protocols.json", protocols);
    if (!features.empty()) dir.write("features.json", features);
  }
  std::string convert() const {
    cellfit::bluepyopt_import_options o;
    o.config_dir = dir.path();
    o.morphology = morphology;
    return cellfit::bluepyopt_config_to_toml(o);
  }
  // The one-line message with which the files are refused ("" if they are converted).
  std::string refusal() const {
    try {
      convert();
    } catch (const cellfit::error& e) {
      return e.what();
    }
    return "";
  }
};

TEST(bluepyopt_import, the_config_loads_with_the_files_model_protocols_and_targets) {
  const bluepyopt_files f;
  const std::string text = f.convert();
  const auto rc = cellfit::parse_config(text, f.dir.path() + "/model.toml", {});
  EXPECT_DOUBLE_EQ(rc.model.celsius, 34.0);
  EXPECT_EQ(rc.settings.record_names, (std::vector<std::string>{"soma", "dend1"}));
  ASSERT_EQ(rc.stimuli.size(), 2u);
  EXPECT_EQ(rc.stimuli[0].name, "bAP");
  EXPECT_EQ(rc.stimuli[1].name, "Step1");
  ASSERT_EQ(rc.stimuli[1].components.size(), 2u);
  EXPECT_EQ(rc.stimuli[1].components[1].kind, cellfit::stimulus_kind::holding);
  EXPECT_DOUBLE_EQ(rc.stimuli[1].components[1].amplitude, -0.126);
  EXPECT_DOUBLE_EQ(rc.settings.t_stop_ms, 80.0);
  EXPECT_DOUBLE_EQ(rc.stimuli[0].t_stop_ms, 60.0);
  // The three bounded parameters, scoped by section list, starting mid-bounds.
  ASSERT_EQ(rc.fit.parameters.size(), 3u);
  const cellfit::parameter_space space(rc.model, rc.fit.parameters);
  EXPECT_EQ(space.names(),
            (std::vector<std::string>{"NaTs2_t.gNaTs2_tbar@apical", "NaTs2_t.gNaTs2_tbar@somatic",
                                      "NaTa_t.gNaTa_tbar@axonal"}));
  // The distribution and the fixed values reach the TOML as written in the files.
  EXPECT_NE(text.find("exp = \"(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}\""),
            std::string::npos);
  EXPECT_NE(text.find("gIhbar = { apical = { value = 8e-05, distribution = \"exp\" } }"),
            std::string::npos);
  EXPECT_NE(text.find("cm = { default = 1.0, apical = 2.0 }"), std::string::npos);
  EXPECT_NE(text.find("ra = 100.0"), std::string::npos);
  // The feature targets, read as cellfit fit reads them: the dendritic one at dend1 with its
  // own threshold.
  ASSERT_EQ(rc.fit.target.type, "features");
  const auto bp =
      cellfit::read_bluepyopt_targets(rc.fit.target.features_file, "", rc.stimuli, 0, rc.settings);
  ASSERT_EQ(bp.targets.size(), 4u);
  EXPECT_EQ(bp.targets[1].feature, "AP_amplitude_from_voltagebase");
  EXPECT_EQ(bp.targets[1].site, 1u);
  ASSERT_EQ(bp.targets[1].efel.size(), 1u);
  EXPECT_EQ(bp.targets[1].efel[0].number, -55);
}

TEST(bluepyopt_import, bad_input_is_refused_naming_file_and_key) {
  auto refused = [](const bluepyopt_files& f, const std::string& want) {
    const std::string msg = f.refusal();
    EXPECT_NE(msg.find(want), std::string::npos) << "message: " << msg << "\nwanted: " << want;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };
  auto replaced = [](std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  // An unknown mechanism, in mechanisms.json and as a parameter's mechanism.
  refused(bluepyopt_files(replaced(mechanisms_json, "\"Ih\"", "\"Ihh\"")),
          "mechanisms.json: apical: unknown mechanism 'Ihh' (did you mean 'Ih'?) (catalogue: ");
  refused(bluepyopt_files(mechanisms_json,
                          replaced(parameters_json, "\"mech\": \"NaTa_t\"", "\"mech\": \"NaT\"")),
          "parameters.json: [13] (gNaTa_tbar_NaTa_t).mech: unknown mechanism 'NaT'");
  refused(bluepyopt_files(mechanisms_json, replaced(parameters_json, "\"mech_param\": \"gIhbar\"",
                                                    "\"mech_param\": \"gbar\"")),
          "parameters.json: [9] (gIhbar_Ih).mech_param: 'Ih' has no RANGE parameter 'gbar'");
  // An unknown location (section list), in each file that names one.
  refused(bluepyopt_files(replaced(mechanisms_json, "\"axonal\"", "\"myelinated\"")),
          "mechanisms.json: myelinated: unknown section list 'myelinated'");
  refused(bluepyopt_files(mechanisms_json, replaced(parameters_json, "\"sectionlist\": \"apical\"",
                                                    "\"sectionlist\": \"apic\"")),
          "parameters.json: [6] (cm).sectionlist: unknown section list 'apic'");
  refused(bluepyopt_files(mechanisms_json, parameters_json,
                          replaced(protocols_json, "\"seclist_name\": \"apical\"",
                                   "\"seclist_name\": \"tuft\"")),
          "protocols.json: bAP.extra_recordings[0].seclist_name: unknown section list 'tuft'");
  // A mechanism parameter on a section list without the mechanism.
  refused(bluepyopt_files(mechanisms_json, replaced(parameters_json, "\"sectionlist\": \"axonal\"",
                                                    "\"sectionlist\": \"basal\"")),
          "parameters.json: [13] (gNaTa_tbar_NaTa_t): mechanism 'NaTa_t' is not inserted on basal");
  // What cellfit cannot fit, and unknown keys.
  refused(bluepyopt_files(mechanisms_json,
                          replaced(parameters_json, "\"value\": -85", "\"bounds\": [-90, -80]")),
          "parameters.json: [8] (ek).bounds: cellfit fits mechanism parameters, cm and Ra, not ek");
  // A fitted Ra or cm is a cellfit fit parameter.
  EXPECT_EQ(bluepyopt_files(mechanisms_json,
                            replaced(parameters_json, "\"value\": 100", "\"bounds\": [50, 150]"))
                .refusal(),
            "");
  refused(bluepyopt_files(mechanisms_json, replaced(parameters_json, "\"value\": 34",
                                                    "\"value\": 34, \"units\": \"C\"")),
          "parameters.json: [5] (celsius).units: unknown key");
  // An unknown feature, and a feature at a recording the protocols do not define.
  refused(bluepyopt_files(mechanisms_json, parameters_json, protocols_json,
                          replaced(features_json, "AHP_slow_time", "AHP_slow_tme")),
          "features.json: Step1.soma: feature 'AHP_slow_tme' is not in cellfit's library");
  refused(bluepyopt_files(mechanisms_json, parameters_json, protocols_json,
                          replaced(features_json, "\"dend1\"", "\"dend3\"")),
          "features.json: bAP.dend3: names a recording not defined in ");
  refused(bluepyopt_files(mechanisms_json, parameters_json, protocols_json,
                          replaced(features_json, "\"Step1\"", "\"Step4\"")),
          "features.json: Step4: no protocol of that name in ");
  // A morphology that does not exist: an I/O error.
  bluepyopt_files missing;
  missing.morphology = missing.dir.path() + "/nope.asc";
  try {
    missing.convert();
    FAIL() << "no exception";
  } catch (const cellfit::io_error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.asc: no such morphology file"), std::string::npos)
        << e.what();
  }
}

}  // namespace
