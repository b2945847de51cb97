// cellfit fit with [fit.ensemble]: independent fits side by side (seeds, recording or
// stimulation conditions, paper 000's experiments), one per value of one config key. The
// ranks are split into groups (contiguous blocks of ranks, one sub-communicator each);
// member m runs on group m % groups, members of a group one after another, each a complete
// `cellfit fit` with its own output (OUT stem + ".m<m>.h5") and checkpoint.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "app/fit_common.hpp"
#include "common/error.hpp"
#include "io/h5.hpp"

namespace cellfit::app {

std::string ensemble_member_output(const std::string& out, int m) {
  const auto dot = out.rfind('.');
  const auto slash = out.rfind('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return (has_ext ? out.substr(0, dot) : out) + ".m" + std::to_string(m) +
         (has_ext ? out.substr(dot) : std::string(".h5"));
}

int run_ensemble(const run_config& rc, const fit_options& o) {
  const comm::context_ptr world = o.comm ? o.comm : comm::make_local_context();
  const ensemble_settings& e = rc.fit.ensemble;
  if (!o.resume.empty()) {
    throw usage_error(
        "cellfit::fit: --resume applies to one fit: resume an ensemble member with its own "
        "command (--set " +
        e.vary +
        "=VALUE --set fit.ensemble.groups=... is not needed; "
        "see docs/checkpoint.md)");
  }
  const int members = static_cast<int>(e.values.size());
  const int groups = std::max(1, std::min(e.groups > 0 ? e.groups : members, world->size()));
  const int color = world->rank() * groups / world->size();
  const comm::context_ptr group = world->split(color);
  const std::string out = o.out.empty() ? rc.fit.output : o.out;
  if (world->rank() == 0 && !o.quiet) {
    std::fprintf(stderr,
                 "cellfit fit: ensemble of %d fits over %s = %s ... on %d rank%s in %d group%s "
                 "(progress of group 0's fits below)\n",
                 members, e.vary.c_str(), e.values.front().c_str(), world->size(),
                 world->size() == 1 ? "" : "s", groups, groups == 1 ? "" : "s");
  }
  auto member_options = [&](int m) {
    fit_options mo = o;
    mo.comm = group;
    mo.member = m;
    mo.out = ensemble_member_output(out, m);
    mo.quiet = o.quiet || color != 0;
    mo.overrides.push_back(e.vary + "=" + e.values[static_cast<std::size_t>(m)]);
    return mo;
  };
  // Every member's config and outputs are checked before any member runs: a bad value must
  // not be found after the others have spent their time and written their files.
  comm::agree(*world, [&] {
    for (int m = 0; m < members; ++m) {
      const fit_options mo = member_options(m);
      try {
        const run_config mrc = load_config(mo.config, mo.overrides);
        check_fit_config(mrc, mo);
        if (world->rank() == 0) {
          check_writable(mo.out, "fit");
          check_writable(mo.checkpoint.empty() ? mo.out + ".ckpt" : mo.checkpoint, "fit",
                         "checkpoint");
        }
      } catch (const error& x) {
        const std::string why = x.what();
        const std::string text = "cellfit::fit: ensemble member " + std::to_string(m) + " (" +
                                 e.vary + " = " + e.values[static_cast<std::size_t>(m)] +
                                 "): " + why + "; no member was run";
        if (dynamic_cast<const config_error*>(&x)) throw config_error(text);
        if (dynamic_cast<const io_error*>(&x)) throw io_error(text);
        if (dynamic_cast<const usage_error*>(&x)) throw usage_error(text);
        if (dynamic_cast<const morphology_error*>(&x)) throw morphology_error(text);
        throw error(text);
      }
    }
  });
  std::vector<double> codes(static_cast<std::size_t>(members), 0.0);
  for (int m = color; m < members; m += groups) {
    const fit_options mo = member_options(m);
    int code = exit_ok;
    try {
      code = run_fit(mo);
    } catch (const peer_error& x) {
      code = x.exit_code();
    } catch (const std::exception& x) {
      // Agreed within the group (run_fit's collective sections); reported once there.
      if (group->rank() == 0)
        std::fprintf(stderr, "cellfit: [member %d] %s\n", m, comm::describe(x).c_str());
      code = exit_code_of(x);
    }
    if (group->rank() == 0) codes[static_cast<std::size_t>(m)] = code;
  }
  world->sum(codes);  // each member's code comes from one group root: exact
  int worst = 0;
  for (double c : codes) worst = std::max(worst, static_cast<int>(c));
  if (world->rank() != 0) return worst;

  std::printf("ensemble: %d fits, %s varied\n%-7s %-24s %6s %14s %12s %10s  %s\n", members,
              e.vary.c_str(), "member", "value", "exit", "best loss", "GT error", "wall s",
              "output");
  for (int m = 0; m < members; ++m) {
    const std::string file = ensemble_member_output(out, m);
    double loss = NAN, gte = NAN, wall = NAN;
    if (codes[static_cast<std::size_t>(m)] == 0) {
      try {
        h5::file f = h5::file::open_read(file);
        loss = f.read_attribute_double("/", "best_loss");
        if (f.has_attribute("/", "gt_error")) gte = f.read_attribute_double("/", "gt_error");
        wall = f.read_attribute_double("/", "wall_seconds");
      } catch (const error&) {
      }
    }
    std::printf("%-7d %-24s %6d %14.6g %12.6g %10.2f  %s\n", m,
                e.values[static_cast<std::size_t>(m)].c_str(),
                static_cast<int>(codes[static_cast<std::size_t>(m)]), loss, gte, wall,
                file.c_str());
  }
  return worst;
}

}  // namespace cellfit::app
