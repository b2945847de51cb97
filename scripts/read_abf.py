"""ABF recordings for cellfit, read with pyabf (ABF 1 and 2).

One file for both faces: `cellfit features` and `[fit.target]` run it as
`python3 read_abf.py IN.abf OUT.csv` (the command line does not link Python) and read the
CSV it writes; the Python module imports it as `cellfit._abf`.

pyabf gives each sweep's membrane potential and the command waveform of the protocol's
epoch table (sweepC), the stimulus current a step is read off. Exit codes of the command:
0 written, 3 pyabf missing, 5 the file cannot be read as a current-clamp ABF.
"""

import sys

import numpy as np

TO_MV = {"mV": 1.0, "V": 1e3}
TO_NA = {"pA": 1e-3, "nA": 1.0}


class AbfError(Exception):
    """A file pyabf cannot read, or one that records no membrane potential."""


def read(path):
    """[(name, protocol, sweep_number, t_ms, v_mv, i_na or None)], one per sweep."""
    import pyabf  # ImportError: the caller says what is missing

    try:
        abf = pyabf.ABF(str(path))
    except Exception as e:
        raise AbfError(f"cellfit::recording: {path}: pyabf cannot read it ({e})") from e
    sweeps = []
    for k in abf.sweepList:
        abf.setSweep(k)
        if abf.sweepUnitsY not in TO_MV:
            raise AbfError(f"cellfit::recording: {path}: sweep {k} records "
                           f"{abf.sweepUnitsY!r}, not a membrane potential (mV or V)")
        t = np.array(abf.sweepX, dtype=np.float64) * 1e3
        v = np.array(abf.sweepY, dtype=np.float64) * TO_MV[abf.sweepUnitsY]
        i = None
        if abf.sweepUnitsC in TO_NA:
            i = np.array(abf.sweepC, dtype=np.float64) * TO_NA[abf.sweepUnitsC]
        sweeps.append((f"sweep {k}", str(abf.protocol or ""), int(k), t, v, i))
    return sweeps


def write_csv(sweeps, out):
    """The CSV layout cellfit reads: t_ms, v<k>_mv per sweep, i<k>_na per sweep when every
    sweep has a current. The sweeps must share their time stamps (ABF episodes do)."""
    t = sweeps[0][3]
    for s in sweeps:
        if s[3].shape != t.shape or not np.array_equal(s[3], t):
            raise AbfError(f"cellfit::recording: {s[0]} has other time stamps than "
                           f"{sweeps[0][0]}; write one file per sweep")
    cols = [t] + [s[4] for s in sweeps]
    names = ["t_ms"] + [f"v{k}_mv" for k in range(len(sweeps))]
    if all(s[5] is not None for s in sweeps):
        cols += [s[5] for s in sweeps]
        names += [f"i{k}_na" for k in range(len(sweeps))]
    np.savetxt(out, np.column_stack(cols), delimiter=",", header=",".join(names), comments="",
               fmt="%.17g")


def main(argv):
    if len(argv) != 3:
        print("usage: read_abf.py IN.abf OUT.csv", file=sys.stderr)
        return 2
    try:
        sweeps = read(argv[1])
        if not sweeps:
            raise AbfError(f"cellfit::recording: {argv[1]}: no sweeps")
        write_csv(sweeps, argv[2])
    except ImportError as e:
        print(f"cellfit::recording: {argv[1]}: reading ABF needs pyabf ({e})", file=sys.stderr)
        return 3
    except (AbfError, OSError) as e:
        print(e, file=sys.stderr)
        return 5
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
