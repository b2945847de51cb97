#include "io/detail/config_reader.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "common/quote.hpp"
#include "model/soma_distance.hpp"

namespace cellfit::detail {

std::string where(const toml::value& v, const std::string& key) {
  const auto loc = v.location();
  std::string w = loc.file_name();
  if (w.rfind("--set", 0) == 0) {  // a command-line override: "--set a.b", then the key
    return w == "--set " + key ? w : w + ": " + key;
  }
  if (loc.line() > 0) w += ":" + std::to_string(loc.line());
  return w + ": " + key;
}

std::string one_line_toml_error(const std::string& msg, const std::string& fallback_file,
                                const std::string& kind) {
  std::istringstream in(msg);
  std::string line, what, file = fallback_file, number, detail;
  while (std::getline(in, line)) {
    const auto err = line.find("[error] ");
    if (err != std::string::npos && what.empty()) {
      what = line.substr(err + 8);
      const auto colon = what.find(": ");
      if (what.rfind("toml::", 0) == 0 && colon != std::string::npos) what = what.substr(colon + 2);
      continue;
    }
    const auto arrow = line.find("--> ");
    if (arrow != std::string::npos) {
      file = line.substr(arrow + 4);
      continue;
    }
    const auto bar = line.find(" | ");
    if (bar != std::string::npos && number.empty()) {
      const std::string n = line.substr(0, bar);
      const auto first = n.find_first_not_of(' ');
      if (first != std::string::npos && n.find_first_not_of("0123456789 ") == std::string::npos) {
        number = n.substr(first);
      }
    }
    const auto caret = line.find("^-");
    if (caret != std::string::npos && detail.empty()) {
      detail = line.substr(line.find_first_not_of("^-", caret));
      while (!detail.empty() && detail.front() == ' ') detail.erase(detail.begin());
    }
  }
  if (what.empty()) what = msg.substr(0, msg.find('\n'));  // not in toml11's layout
  std::string out =
      file + (number.empty() ? "" : ":" + number) + ": " + kind + ": " + printable_text(what);
  if (!detail.empty()) out += " (" + printable_text(detail) + ")";
  return out;
}

// Keys come from the document: a quoted key may hold any character.
[[noreturn]] void fail(const toml::value& v, const std::string& key, const std::string& what) {
  // A message passed on from a deeper check keeps its text, not its own "cellfit::config: "
  // prefix (one prefix per line, the location first).
  std::string text = what;
  const std::string prefix = "cellfit::config: ";
  if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
  throw config_error(prefix + where(v, printable_text(key)) + ": " + text);
}

double positive(const toml::value& v, const std::string& key, double x) {
  if (!(x > 0)) fail(v, key, "must be positive, got " + std::to_string(x));
  return x;
}

std::vector<int> parse_sites(const toml::value& x, const std::string& key,
                             const cable_model_view& cell, site_use use) {
  const cable_geometry& g = cell.geom;
  std::vector<int> out;
  const int n = g.n_compartments();
  auto add_one = [&](const toml::value& e) {
    if (e.is_integer()) {
      const long long i = e.as_integer();
      const long long k = i < 0 ? n + i : i;
      if (k < 0 || k >= n) {
        fail(e, key,
             "compartment " + std::to_string(i) + " out of range (the model has " +
                 std::to_string(n) + ")");
      }
      out.push_back(static_cast<int>(k));
    } else if (e.is_string()) {
      const std::string text = e.as_string().str;
      try {
        const auto open = text.find('(');
        if (open != std::string::npos) {  // section(x)
          const std::string arg = text.substr(open + 1);
          std::size_t used = 0;
          double xv = std::nan("");
          try {
            xv = std::stod(arg, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used == 0 || arg.substr(used) != ")")
            fail(e, key, "expected section(x) such as \"soma[0](0.5)\", got \"" + text + "\"");
          out.push_back(compartment_at(cell.morph, g, text.substr(0, open), xv));
        } else if (cell.morph.value_graph &&
                   std::any_of(cell.morph.sections.begin(), cell.morph.sections.end(),
                               [&](const section& sec) { return sec.name == text; })) {
          out.push_back(compartment_at(cell.morph, g, text, 0.5));  // a graph's compartment
        } else if (use != site_use::compartments && section_list_rank(text) >= 0) {
          if (text != "soma" && text != "somatic") {
            throw config_error(
                "cellfit::config: \"" + text +
                "\" is a section list, not a point: name a point such as "
                "\"soma\" or \"dend[0](0.5)\"" +
                (use == site_use::injection
                     ? ", or write every = \"" + text + "\" to inject into every compartment of it"
                     : std::string()));
          }
          out.push_back(soma_point(cell.morph, g));
        } else {
          const auto r = compartments_in_region(g, text);
          out.insert(out.end(), r.begin(), r.end());
        }
      } catch (const config_error& err) {
        const std::string what = err.what();
        const std::string prefix = "cellfit::config: ";
        fail(e, key, what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what);
      }
    } else if (e.is_table()) {  // { section_list = "apical", soma_distance_um = 660 }
      table_reader st(e, key);
      const std::string list = st.string("section_list", "");
      if (!st.has("section_list") || !st.has("soma_distance_um"))
        fail(e, key, "a point at a distance needs section_list and soma_distance_um");
      const toml::value& dv = st.get("soma_distance_um");
      const double d = table_reader::as_number(dv, st.key_name("soma_distance_um"));
      st.finish();
      try {
        out.push_back(soma_distance_compartment(cell.morph, g, list, d));
      } catch (const error& err) {
        fail(dv, key, without_prefix(err.what()));
      }
    } else {
      fail(e, key,
           "expected a compartment index, a region name, section(x) or "
           "{ section_list = ..., soma_distance_um = ... }");
    }
  };
  if (x.is_array()) {
    for (const auto& e : x.as_array()) add_one(e);
  } else {
    add_one(x);
  }
  if (out.empty()) fail(x, key, "selects no compartment");
  // A compartment named twice (an index and its region, say) is one site.
  std::vector<int> unique;
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  for (int c : out) {
    if (!seen[static_cast<std::size_t>(c)]) {
      seen[static_cast<std::size_t>(c)] = 1;
      unique.push_back(c);
    }
  }
  return unique;
}

void sort_by_scope(parameter_set& set) {
  std::stable_sort(set.begin(), set.end(),
                   [](const parameter_override& a, const parameter_override& b) {
                     return scope_precedence(a.scope) < scope_precedence(b.scope);
                   });
}

std::vector<std::string> string_list(const toml::value& x, const std::string& key) {
  std::vector<std::string> out;
  if (x.is_string()) {
    out.push_back(x.as_string().str);
  } else if (x.is_array()) {
    for (const auto& e : x.as_array()) {
      if (!e.is_string()) fail(e, key, "expected strings");
      out.push_back(e.as_string().str);
    }
  } else {
    fail(x, key, "expected a string or an array of strings");
  }
  return out;
}

parameter_override parse_param_key(const toml::value& at, const std::string& key) {
  parameter_override o;
  std::string k = key;
  const auto atpos = k.find('@');
  if (atpos != std::string::npos) {
    o.scope = k.substr(atpos + 1);
    k = k.substr(0, atpos);
  }
  const auto dot = k.find('.');
  if (dot == std::string::npos) {
    // The passive properties have no mechanism (NEURON's cm and Ra).
    if (k == "cm" || k == "Ra") {
      o.param = k;
      return o;
    }
    fail(at, key, "expected 'mechanism.parameter[@region]', 'cm[@region]' or 'Ra[@region]'");
  }
  o.mechanism = k.substr(0, dot);
  o.param = k.substr(dot + 1);
  return o;
}

distance_function read_distribution(const toml::value& v, const std::string& key,
                                    const std::map<std::string, std::string>& declared) {
  std::string text, name;
  if (v.is_table() && v.as_table().count("expression")) {
    // BluePyOpt's dist_param_names: {name} placeholders given as numbers here, written into
    // the expression with every digit (as BluePyOpt formats them into its string).
    table_reader t(v, key);
    const toml::value& ev = t.get("expression");
    if (!ev.is_string()) fail(ev, key + ".expression", "expected a string");
    text = ev.as_string().str;
    for (const auto& [k, x] : v.as_table()) {
      if (k == "expression") continue;
      const double number = table_reader::as_number(t.get(k), key + "." + k);
      const std::string placeholder = "{" + k + "}";
      if (k == "distance" || k == "value" || text.find(placeholder) == std::string::npos) {
        fail(x, key + "." + k,
             "the expression has no placeholder " + placeholder +
                 " (other keys name {placeholders} of the expression, not distance or value)");
      }
      char buf[40];
      std::snprintf(buf, sizeof buf, "(%.17g)", number);
      for (auto at = text.find(placeholder); at != std::string::npos;
           at = text.find(placeholder, at + std::strlen(buf))) {
        text.replace(at, placeholder.size(), buf);
      }
    }
  } else if (v.is_table()) {
    table_reader t(v, key);
    if (!t.has("shape")) {
      std::string names;
      for (const auto& s : distribution_shapes()) names += (names.empty() ? "" : ", ") + s.name;
      fail(v, key + ".shape", "missing (one of " + names + "), or give an expression");
    }
    const std::string shape_name = t.string("shape", "");
    const distribution_shape* shape = find_distribution_shape(shape_name);
    if (!shape) {
      std::string names;
      for (const auto& s : distribution_shapes()) names += (names.empty() ? "" : ", ") + s.name;
      fail(t.at("shape"), key + ".shape",
           "unknown shape \"" + shape_name + "\" (shapes: " + names + ")");
    }
    std::map<std::string, double> params;
    for (const auto& [pname, def] : shape->parameters) {
      if (t.has(pname)) {
        params[pname] = t.number(pname, def);
      } else if (std::isnan(def)) {
        fail(v, key + "." + pname, "missing (shape " + shape->name + ": " + shape->formula + ")");
      }
    }
    for (const auto& [k, x] : v.as_table()) {
      if (k == "shape" || params.count(k)) continue;
      std::string known;
      for (const auto& [pname, def] : shape->parameters) known += ", " + pname;
      fail(x, key + "." + k, "unknown key (shape " + shape->name + " takes shape" + known + ")");
    }
    try {
      text = shape_expression(*shape, params);
    } catch (const config_error& e) {
      fail(v, key, e.what());
    }
  } else if (v.is_string()) {
    text = v.as_string().str;
    const auto it = declared.find(text);
    if (it != declared.end()) {
      name = text;
      text = it->second;
    } else if (!text.empty() &&
               text.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
                   std::string::npos &&
               text != "distance" && text != "value" && (text[0] < '0' || text[0] > '9')) {
      // One word that names nothing: most likely a declaration that is missing.
      std::string names;
      for (const auto& [n, e] : declared) names += (names.empty() ? "" : ", ") + n;
      fail(v, key,
           "no distribution named \"" + text + "\" in [model.distributions] (declared: " +
               (names.empty() ? std::string("none") : names) +
               "); or write an expression of distance and value");
    }
  } else {
    fail(v, key,
         "expected a string (an expression of distance and value, or a name declared in "
         "[model.distributions]), a {shape = ...} or an {expression = ...} table");
  }
  try {
    return distance_function(text, name);
  } catch (const config_error& e) {
    fail(v, key, e.what());
  }
}

std::string resolve_path(const toml::value& v, const std::string& config_path) {
  const std::string value = v.as_string().str;
  if (value.empty() || value[0] == '/' || value.rfind("builtin:", 0) == 0) return value;
  if (v.location().file_name().rfind("--set", 0) == 0) return value;
  const auto slash = config_path.rfind('/');
  if (slash == std::string::npos) return value;
  return config_path.substr(0, slash + 1) + value;
}

std::string without_prefix(const std::string& msg) {
  const auto colon = msg.rfind("cellfit::", 0) == 0 ? msg.find(": ") : std::string::npos;
  return colon == std::string::npos ? msg : msg.substr(colon + 2);
}

std::string as_toml_text(const toml::value& v) {
  if (v.is_floating()) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v.as_floating());
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) s += ".0";  // stays a float
    return s;
  }
  if (v.is_integer()) return std::to_string(v.as_integer());
  if (v.is_boolean()) return v.as_boolean() ? "true" : "false";
  if (v.is_string()) {
    std::string s = "\"";
    for (char c : v.as_string().str) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    return s + "\"";
  }
  if (v.is_array()) {
    std::string s = "[";
    for (const auto& x : v.as_array()) s += (s.size() > 1 ? ", " : "") + as_toml_text(x);
    return s + "]";
  }
  fail(v, "value", "cannot be used here (a table)");
}

}  // namespace cellfit::detail
