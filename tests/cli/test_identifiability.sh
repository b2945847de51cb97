#!/usr/bin/env bash
# cellfit identifiability on paper 000's toy (its Table 2): stimulating only compartment 0
# constrains the conductances of the far compartments (gK and gNa of 3-5) less, the less the
# farther, and puts the weakest direction there, which stimulating every compartment does
# not. Both conditions are analysed at their ground truth with the same noise level (1 mV),
# so the comparison is of the data alone. Also: the HDF5 layout,
# the PNG, a GA fit's result, the config recorded in the fit (and --config when it is not),
# and the refusals (a features target, a foreign file).
# usage: test_identifiability.sh CELLFIT_BINARY EXAMPLES_DIR
set -uo pipefail
cellfit=$(realpath "$1")
examples=$(realpath "$2")
source "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
all="$examples/11_toy_grad_all_all.toml"
s0="$examples/paper000/table2_toy_S-0_R-all.toml"

# Two short fits (the analysis needs their files, not converged fits: it runs at the truth).
expect 0 "" -- "$cellfit" fit "$all" --set fit.gradient.epochs=1 --out all.h5 -q
expect 0 "" -- "$cellfit" fit "$s0" --set fit.gradient.epochs=1 --out s0.h5 -q
expect 0 "weakest|eigenvalue" -- "$cellfit" identifiability all.h5 --at truth --noise-mv 1 --no-plot
expect 0 "s0_identifiability.png" -- "$cellfit" identifiability s0.h5 --at truth --noise-mv 1
test -s s0_identifiability.png || { echo "FAIL: no PNG"; fails=$((fails + 1)); }
python3 - <<'PY' || fails=$((fails + 1))
import h5py, numpy as np

def load(path):
    with h5py.File(path, "r") as f:
        g = f["identifiability"]
        names = [n.decode() if isinstance(n, bytes) else n for n in g["param_names"][()]]
        out = {k: g[k][()] for k in g if k != "param_names"}
        out["names"] = names
        assert f.attrs["command"] == "identifiability" and f.attrs["at"] == "truth"
        assert f.attrs["noise_mv"] == 1.0 and f.attrs["n_residuals"] == 100 * 6 * 51
        return out

a, s = load("all_identifiability.h5"), load("s0_identifiability.h5")
P = len(a["names"])
assert P == 12 and a["names"][6] == "jk.gkbar[0]", a["names"]
for r in (a, s):
    for k in ("fisher", "covariance", "correlation", "eigenvectors", "gauss_newton"):
        assert r[k].shape == (P, P), k
    assert np.all(np.diff(r["eigenvalues"]) >= 0)
    assert np.allclose(np.diag(r["correlation"]), 1)
    assert np.allclose(r["fisher"] @ r["covariance"], np.eye(P), atol=1e-6)
def idx(r, g, comps):
    return [r["names"].index(f"jk.{g}[{c}]") for c in comps]

far, near = (3, 4, 5), (0, 1)
rse_a, rse_s = a["relative_std_error"], s["relative_std_error"]
for g in ("gnabar", "gkbar"):
    print(f"rel. s.e. of {g}[0..5], all stimulated:   ", np.round(rse_a[idx(a, g, range(6))], 5))
    print(f"rel. s.e. of {g}[0..5], compartment 0 only:", np.round(rse_s[idx(s, g, range(6))], 5))
    # Compartment 0 only: the far compartments are less constrained than when every
    # compartment is stimulated, and the constraint weakens with distance from the stimulus.
    assert np.all(rse_s[idx(s, g, far)] > 1.5 * rse_a[idx(a, g, far)]), g
    assert np.all(np.diff(rse_s[idx(s, g, range(6))]) > 0), g
# The far gK are several times less constrained than the gK next to the stimulus.
assert rse_s[idx(s, "gkbar", far)].min() > 5 * rse_s[idx(s, "gkbar", near)].min()
# The weakest direction of the compartment-0 data lies in the far compartments; that of the
# fully stimulated cell does not.
def far_weight(r):
    v = r["eigenvectors"][0]
    return np.sum(v[idx(r, "gnabar", far) + idx(r, "gkbar", far)] ** 2)
print("weight of compartments 3-5 in the weakest direction:", far_weight(a), far_weight(s))
assert far_weight(s) > 0.9 and far_weight(a) < 0.5
# and the data are poorer as a whole: a smaller smallest eigenvalue, a worse conditioning.
cond = lambda r: r["eigenvalues"][-1] / r["eigenvalues"][0]
assert s["eigenvalues"][0] < 0.2 * a["eigenvalues"][0]
assert cond(s) > 100 * cond(a), (cond(s), cond(a))
PY

# At the fit's best point, sigma^2 from the residuals (the default); --out names the file.
expect 0 "residual s.d. [0-9.e+-]+ mV per sample" -- "$cellfit" identifiability all.h5 --no-plot --out best.h5
test -s best.h5 || { echo "FAIL: --out"; fails=$((fails + 1)); }

# A GA fit's result (trace MSE target).
expect 0 "" -- "$cellfit" fit "$examples/14_ga_toy_mse.toml" --set fit.ga.generations=1 \
  --set fit.ga.population=8 --set fit.ga.offspring=8 --out ga.h5 -q
expect 0 "jk.gkbar\[5\]" -- "$cellfit" identifiability ga.h5 --no-plot --noise-mv 1
expect 3 "has no single starting point .*--at best" -- "$cellfit" identifiability ga.h5 --no-plot --at initial

# A fit file without its config: refused unless --config gives it.
python3 - <<'PY' || fails=$((fails + 1))
import h5py, shutil
shutil.copy("all.h5", "noconfig.h5")
with h5py.File("noconfig.h5", "a") as f:
    del f["/fit/config"]
shutil.copy("all.h5", "features.h5")
with h5py.File("features.h5", "a") as f:
    del f["/fit/target/voltage"]
PY
expect 3 "records no config.*--config" -- "$cellfit" identifiability noconfig.h5 --no-plot
expect 0 "jk.gkbar" -- "$cellfit" identifiability noconfig.h5 --config "$all" --no-plot
expect 3 "fitted to features, not traces" -- "$cellfit" identifiability features.h5 --no-plot
expect 5 "not a cellfit fit result" -- "$cellfit" identifiability s0_identifiability.h5 --no-plot
expect 5 "no such file" -- "$cellfit" identifiability missing.h5 --no-plot
expect 2 "" -- "$cellfit" identifiability all.h5 --at somewhere

if [[ $fails -ne 0 ]]; then echo "$fails failure(s)"; exit 1; fi
echo "all identifiability checks passed"
