#include "model/distance_function.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include <muParser.h>

#include "common/error.hpp"
#include "model/cable_geometry.hpp"

namespace cellfit {

namespace {

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// A number in an expression: every digit, so that it reads back as the same double.
std::string num(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

// A number inside an expression: negatives parenthesised, so that "a + -b" never appears.
// A number in a message: enough digits to tell values apart, not every digit.
std::string show(double x) {
  if (std::isnan(x)) return "nan";  // printf may write "-nan"
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

std::string term(double x) { return x < 0 ? "(" + num(x) + ")" : num(x); }

[[noreturn]] void syntax(const std::string& text, const std::string& why, std::size_t column) {
  throw config_error("cannot parse distribution \"" + text + "\": " + why + " at column " +
                     std::to_string(column + 1));
}

// BluePyOpt's spelling -> the plain one; origin[k] is the column of `text` that character k
// of the result comes from (for messages).
std::string translate(const std::string& text, std::vector<std::size_t>& origin) {
  std::string out;
  auto emit = [&](const std::string& s, std::size_t at) {
    out += s;
    origin.insert(origin.end(), s.size(), at);
  };
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '{') {
      const auto close = text.find('}', i);
      if (close == std::string::npos) syntax(text, "'{' without '}'", i);
      const std::string name = text.substr(i + 1, close - i - 1);
      if (name != "distance" && name != "value") {
        syntax(text,
               "unknown placeholder {" + name +
                   "} (only {distance} and {value}; give others as numbers in an {expression = "
                   "...} table)",
               i);
      }
      emit(name, i);
      i = close + 1;
    } else if (text.compare(i, 5, "math.") == 0 && (i == 0 || !ident_char(text[i - 1]))) {
      // math.pi and math.e are constants; math.f(...) is the function f.
      std::size_t end = i + 5;
      while (end < text.size() && ident_char(text[end])) ++end;
      const std::string name = text.substr(i + 5, end - i - 5);
      emit(name == "e" ? "_e" : name == "pi" ? "_pi" : name, i);
      i = end;
    } else if (text.compare(i, 2, "**") == 0) {
      emit("^", i);
      i += 2;
    } else {
      emit(std::string(1, c), i);
      ++i;
    }
  }
  return out;
}

double fabs1(double x) { return std::fabs(x); }
double floor1(double x) { return std::floor(x); }
double ceil1(double x) { return std::ceil(x); }
double pow2(double x, double y) { return std::pow(x, y); }

const char* known_names =
    "variables distance, value; constants pi, _pi, _e; functions exp, log (natural), ln, log10, "
    "log2, sqrt, pow, abs, fabs, floor, ceil, sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, "
    "min, max, sign";

// muParser's message without its own "at position N" (the column is given separately, in
// the user's text).
std::string mu_message(const mu::ParserError& e) {
  std::string m = e.GetMsg();
  for (const char* cut : {" found at position", " at position"}) {
    const auto k = m.find(cut);
    if (k != std::string::npos) m = m.substr(0, k);
  }
  while (!m.empty() && (m.back() == '.' || m.back() == ' ')) m.pop_back();
  if (!m.empty() && m[0] >= 'A' && m[0] <= 'Z') m[0] = static_cast<char>(m[0] - 'A' + 'a');
  return m;
}

}  // namespace

struct distance_function::compiled {
  mu::Parser parser;
  double distance = 0, value = 0;
};

distance_function::distance_function(std::string text, std::string name)
    : text_(std::move(text)), name_(std::move(name)), impl_(std::make_shared<compiled>()) {
  std::vector<std::size_t> origin;
  expression_ = translate(text_, origin);
  const auto column = [&](std::size_t pos) {
    return pos < origin.size() ? origin[pos] : text_.size();
  };
  if (expression_.find_first_not_of(" \t") == std::string::npos) {
    syntax(text_, "empty expression", 0);
  }
  // muParser assigns with '=': a distribution only reads its variables.
  for (std::size_t k = 0; k < expression_.size(); ++k) {
    if (expression_[k] != '=') continue;
    const char before = k > 0 ? expression_[k - 1] : ' ';
    const char after = k + 1 < expression_.size() ? expression_[k + 1] : ' ';
    if (after == '=') {
      ++k;
      continue;
    }
    if (before != '<' && before != '>' && before != '!') {
      syntax(text_, "'=' assigns (compare with ==)", column(k));
    }
  }
  mu::Parser& p = impl_->parser;
  try {
    // Operations in the order written, as Python evaluates BluePyOpt's expressions: the
    // optimiser would fold constants and fuse multiply-adds into other roundings.
    p.EnableOptimizer(false);
    p.DefineVar("distance", &impl_->distance);
    p.DefineVar("value", &impl_->value);
    // muParser's own _pi and _e carry 13 digits; Python's math.pi and math.e all 17.
    p.DefineConst("pi", 3.14159265358979323846);
    p.DefineConst("_pi", 3.14159265358979323846);
    p.DefineConst("_e", 2.71828182845904523536);
    p.DefineFun("fabs", fabs1);
    p.DefineFun("floor", floor1);
    p.DefineFun("ceil", ceil1);
    p.DefineFun("pow", pow2);
  } catch (const mu::ParserError& e) {
    throw internal_error("cellfit::distance_function: muParser setup: " + e.GetMsg());
  }
  try {
    p.SetExpr(expression_);
    impl_->distance = 0;
    impl_->value = 1;
    p.Eval();  // parses: syntax errors and unknown names surface here
    int n = 0;
    p.Eval(n);
    if (n != 1) syntax(text_, "several comma-separated results (expected one)", 0);
    uses_value_ = p.GetUsedVar().count("value") != 0;
  } catch (const mu::ParserError& e) {
    const std::size_t pos = static_cast<std::size_t>(std::max(0, e.GetPos()));
    if (e.GetCode() == mu::ecUNASSIGNABLE_TOKEN) {
      syntax(text_, "unknown name '" + e.GetToken() + "' (" + known_names + ")", column(pos));
    }
    syntax(text_, mu_message(e), column(pos));
  }
}

std::string distance_function::describe() const {
  return (name_.empty() ? "" : "\"" + name_ + "\" = ") + "\"" + text_ + "\"";
}

double distance_function::operator()(double distance_um, double value) const {
  impl_->distance = distance_um;
  impl_->value = value;
  try {
    return impl_->parser.Eval();
  } catch (const mu::ParserError& e) {
    throw config_error("distribution " + describe() + " cannot be evaluated: " + mu_message(e));
  }
}

const std::vector<distribution_shape>& distribution_shapes() {
  const double required = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  static const std::vector<distribution_shape> all = {
      {"linear", "value * (offset + slope * distance)", {{"offset", 1.0}, {"slope", required}}},
      {"exponential",
       "value * (offset + scale * exp(rate * distance))",
       {{"offset", 0.0}, {"scale", 1.0}, {"rate", required}}},
      {"sigmoid",
       "value * (offset + scale / (1 + exp((midpoint - distance) / width)))",
       {{"offset", 0.0}, {"scale", 1.0}, {"midpoint", required}, {"width", required}}},
      {"step",
       "value * (start <= distance <= end ? inside : outside)",
       {{"start", 0.0}, {"end", inf}, {"inside", 1.0}, {"outside", 0.0}}},
  };
  return all;
}

const distribution_shape* find_distribution_shape(const std::string& name) {
  for (const auto& s : distribution_shapes()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string shape_expression(const distribution_shape& shape,
                             const std::map<std::string, double>& params) {
  auto get = [&](const std::string& key) {
    const auto it = params.find(key);
    if (it != params.end()) return it->second;
    for (const auto& [name, def] : shape.parameters) {
      if (name == key && !std::isnan(def)) return def;
    }
    throw config_error("shape \"" + shape.name + "\" needs '" + key + "'");
  };
  for (const auto& [name, def] : shape.parameters) get(name);  // all required ones present
  if (shape.name == "linear") {
    return "value*(" + term(get("offset")) + " + " + term(get("slope")) + "*distance)";
  }
  if (shape.name == "exponential") {
    return "value*(" + term(get("offset")) + " + " + term(get("scale")) + "*exp(" +
           term(get("rate")) + "*distance))";
  }
  if (shape.name == "sigmoid") {
    if (get("width") == 0) throw config_error("shape \"sigmoid\" needs width != 0");
    return "value*(" + term(get("offset")) + " + " + term(get("scale")) + "/(1 + exp((" +
           term(get("midpoint")) + " - distance)/" + term(get("width")) + ")))";
  }
  if (shape.name == "step") {
    const double start = get("start"), end = get("end");
    if (!(start <= end)) {
      throw config_error("shape \"step\" needs start <= end, got " + show(start) + " > " +
                         show(end));
    }
    std::string inside = "distance >= " + term(start);
    if (std::isfinite(end)) inside += " && distance <= " + term(end);
    return "value*((" + inside + ") ? " + term(get("inside")) + " : " + term(get("outside")) + ")";
  }
  throw internal_error("cellfit::shape_expression: no expansion for shape " + shape.name);
}

namespace {

const std::vector<double>& distances_of(const cell_model& m) {
  if (m.geom.point_model || m.morph.point_model) {
    throw config_error("a distribution of path distance needs a cable model (" + m.morph.source +
                       " is a point model: no distances from the soma)");
  }
  if (m.morph.value_graph) {
    throw config_error("a distribution of path distance needs a cable model (" + m.morph.source +
                       " is a value graph: no distances from the soma)");
  }
  if (m.geom.distance_um.size() != static_cast<std::size_t>(m.geom.n_compartments())) {
    throw internal_error("cellfit::distance_function: the geometry has no path distances");
  }
  return m.geom.distance_um;
}

}  // namespace

std::string describe_compartment(const cell_model& m, int compartment) {
  const cable_geometry& g = m.geom;
  const auto c = static_cast<std::size_t>(compartment);
  const auto node = static_cast<std::size_t>(g.node_of[c]);
  const section& s = m.morph.sections[static_cast<std::size_t>(g.section_of[node])];
  char buf[160];
  std::snprintf(buf, sizeof buf, "compartment %d (%s(%.6g), %.6g um from %s(0.5))", compartment,
                s.name.c_str(), g.x[node],
                c < g.distance_um.size() ? g.distance_um[c] : std::nan(""),
                m.morph.sections.front().name.c_str());
  return buf;
}

std::vector<double> distributed_values(const distance_function& f, const cell_model& m,
                                       const std::vector<int>& compartments, double value) {
  const std::vector<double>& dist = distances_of(m);
  std::vector<double> out;
  out.reserve(compartments.size());
  for (int c : compartments) {
    const double r = f(dist[static_cast<std::size_t>(c)], value);
    if (!std::isfinite(r)) {
      throw config_error("distribution " + f.describe() + " gives " + show(r) + " at " +
                         describe_compartment(m, c));
    }
    if (value >= 0 ? r < 0 : r > 0) {
      throw config_error("distribution " + f.describe() + " gives " + show(r) + " at " +
                         describe_compartment(m, c) + ": the opposite sign of the value " +
                         show(value));
    }
    out.push_back(r);
  }
  return out;
}

std::vector<double> linear_factors(const distance_function& f, const cell_model& m,
                                   const std::vector<int>& compartments) {
  const std::vector<double>& dist = distances_of(m);
  // "To rounding": an expression that multiplies value into a function of distance gives
  // these exactly or within a few ulps; anything that adds to or bends value misses by far
  // more than this.
  const double tol = 1e-12;
  std::vector<double> out;
  out.reserve(compartments.size());
  for (int c : compartments) {
    const double d = dist[static_cast<std::size_t>(c)];
    const double f0 = f(d, 0), f1 = f(d, 1), f2 = f(d, 2);
    if (!std::isfinite(f1)) {
      throw config_error("distribution " + f.describe() + " gives " + show(f1) +
                         " for value 1 at " + describe_compartment(m, c));
    }
    if (!(std::fabs(f0) <= tol * std::fabs(f1)) ||
        !(std::fabs(f2 - 2 * f1) <= tol * std::fabs(f2))) {
      throw config_error("distribution " + f.describe() + " is not linear in value at " +
                         describe_compartment(m, c) + " (f(0) = " + show(f0) +
                         ", f(1) = " + show(f1) + ", f(2) = " + show(f2) +
                         "): a fitted parameter needs value times a function of distance");
    }
    if (f1 < 0) {
      throw config_error("distribution " + f.describe() + " gives " + show(f1) +
                         " for value 1 at " + describe_compartment(m, c) +
                         ": a negative factor flips the sign of the fitted value");
    }
    out.push_back(f1);
  }
  return out;
}

}  // namespace cellfit
