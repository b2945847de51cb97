"""NEURON side of bench/kernel_throughput and bench/mechanism_throughput: the same model, dt,
duration and cells, fixed step, one thread.

usage: neuron_throughput.py MORPHOLOGY(SWC|ball_and_stick) N_CELLS T_STOP_MS DT_MS AMP_NA
           [--config MODEL.toml] [--nrnmech LIBNRNMECH.so] [--delay-ms 1] [--repeats 1]

Builds N_CELLS independent copies with one IClamp at the soma (AMP_NA from --delay-ms to
the end), runs fixed-step simulations on one thread and prints
"seconds compartments steps spikes" for the fastest run (finitialize to tstop; cell
building excluded); spikes: upward crossings of -20 mV at the first cell's soma(0.5).

Without --config every section gets NEURON's hh with NEURON's defaults (its rate table
included). With --config the mechanisms, their parameters (a number or a table region ->
number, broadest first as cellfit applies them), GLOBALs, ion reversal potentials, cm, Ra,
celsius, v_init, nseg and max_compartment_um come from the [model] table of a cellfit
config (bench/mechanism_sets.hpp writes it), so both simulators run the model of one text;
mechanisms other than NEURON's built-in hh and pas come from --nrnmech (nrnivmodl on the
same .mod files).
"""
import argparse
import math
import time
import tomllib

from neuron import h


class Cell:
    pass


REGION_PREFIXES = (("soma", "soma"), ("axon", "axon"), ("dend", "basal"), ("apic", "apical"))
BROAD_FIRST = ("all", "default", "dend", "soma", "axon", "basal", "apical", "other")


def region_of(sec):
    name = sec.name().split(".")[-1]
    for prefix, region in REGION_PREFIXES:
        if name.startswith(prefix):
            return region
    return "other"


def in_regions(region, regions):
    regions = [regions] if isinstance(regions, str) else regions
    return "all" in regions or region in regions or (
        "dend" in regions and region in ("basal", "apical"))


def region_value(value, region):
    """A config value at a region: a number, or a table region -> number (broadest first)."""
    if not isinstance(value, dict):
        return value
    out = None
    for key in BROAD_FIRST:
        if key in value and (key in ("all", "default") or in_regions(region, [key])):
            out = value[key]
    return out


def build(morph, n):
    h.load_file("stdrun.hoc")
    h.load_file("import3d.hoc")
    cells = []
    if morph != "ball_and_stick":
        reader = h.Import3d_SWC_read()
        reader.input(morph)
        gui = h.Import3d_GUI(reader, False)
    for _ in range(n):
        c = Cell()
        if morph == "ball_and_stick":
            c.soma = h.Section(name="soma", cell=c)
            c.dend = h.Section(name="dend", cell=c)
            c.soma.L = c.soma.diam = 20
            c.dend.L, c.dend.diam, c.dend.nseg = 500, 2, 5
            c.dend.connect(c.soma(1))
            c.secs = [c.soma, c.dend]
        else:
            gui.instantiate(c)
            c.secs = list(c.all)
        cells.append(c)
    return cells


def insert_hh(cells):
    for c in cells:
        for s in c.secs:
            s.insert("hh")


def apply_config(cells, model):
    """The [model] table of a cellfit config, on every cell."""
    h.celsius = model.get("celsius", 6.3)
    mechanisms = model.get("mechanisms", {"hh": {"regions": "all"}})
    ions = model.get("ions", {})
    for species, spec in ions.items():
        extra = set(spec) - {"e"}
        if extra:
            raise SystemExit(f"neuron_throughput: model.ions.{species}: only e is supported here, "
                             f"not {sorted(extra)}")
    for c in cells:
        for sec in c.secs:
            region = region_of(sec)
            nseg = model.get("nseg", 0)
            if isinstance(nseg, int) and nseg > 0:
                sec.nseg = nseg
            if model.get("max_compartment_um", 0) > 0:  # cellfit's rule: odd ceil(L / max)
                k = math.ceil(sec.L / model["max_compartment_um"])
                k += 1 - k % 2
                sec.nseg = max(sec.nseg, k)
            sec.Ra = model.get("ra", 35.4)
            sec.cm = region_value(model.get("cm", 1.0), region)
            for mech, spec in mechanisms.items():
                if not in_regions(region, spec.get("regions", "all")):
                    continue
                sec.insert(mech)
                for key, value in spec.items():
                    if key == "regions":
                        continue
                    val = region_value(value, region)
                    if mech == "hh" and key in ("ena", "ek"):
                        name = key  # cellfit's hh takes them as parameters; NEURON's reads the ion
                    elif hasattr(sec(0.5), f"{key}_{mech}"):
                        name = f"{key}_{mech}"
                    else:  # a GLOBAL
                        setattr(h, f"{key}_{mech}", val)
                        continue
                    for seg in sec:
                        setattr(seg, name, val)
            for species, spec in ions.items():
                if "e" in spec and h.ismembrane(f"{species}_ion", sec=sec):
                    val = region_value(spec["e"], region)
                    for seg in sec:
                        setattr(seg, f"e{species}", val)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("morphology")
    ap.add_argument("n_cells", type=int)
    ap.add_argument("t_stop_ms", type=float)
    ap.add_argument("dt_ms", type=float)
    ap.add_argument("amp_na", type=float)
    ap.add_argument("--config", help="cellfit config whose [model] table gives the mechanisms")
    ap.add_argument("--nrnmech", help="libnrnmech.so compiled by nrnivmodl")
    ap.add_argument("--delay-ms", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    if args.nrnmech:
        h.nrn_load_dll(args.nrnmech)
    cells = build(args.morphology, args.n_cells)
    v_init = -65.0
    if args.config:
        with open(args.config, "rb") as f:
            model = tomllib.load(f).get("model", {})
        apply_config(cells, model)
        v_init = model.get("v_init", -65.0)
    else:
        insert_hh(cells)
    clamps = []
    for c in cells:
        ic = h.IClamp(c.secs[0](0.5))
        ic.delay, ic.dur, ic.amp = args.delay_ms, args.t_stop_ms, args.amp_na
        clamps.append(ic)
    vsoma = h.Vector().record(cells[0].secs[0](0.5)._ref_v)
    ncomp = sum(s.nseg for c in cells for s in c.secs)
    h.cvode_active(0)
    h.dt = args.dt_ms
    h.steps_per_ms = 1.0 / args.dt_ms
    best = math.inf
    for _ in range(max(1, args.repeats)):
        h.finitialize(v_init)
        t0 = time.perf_counter()
        h.continuerun(args.t_stop_ms)
        best = min(best, time.perf_counter() - t0)
    v = list(vsoma)
    spikes = sum(1 for a, b in zip(v, v[1:]) if a < -20.0 <= b)
    print(f"{best:.6f} {ncomp} {int(round(args.t_stop_ms / args.dt_ms))} {spikes}")


if __name__ == "__main__":
    main()
