"""NEURON side of bench/kernel_throughput: the same model, dt, duration and number of cells.

usage: neuron_throughput.py MORPHOLOGY(SWC|ball_and_stick) N_CELLS T_STOP_MS DT_MS AMP_NA
Builds N_CELLS independent copies (hh in every section, NEURON's defaults otherwise, one
IClamp at the soma), runs one fixed-step simulation on one thread and prints
"seconds compartments steps" for the run itself (finitialize to tstop).
"""
import sys
import time

from neuron import h


class Cell:
    pass


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
        for s in c.secs:
            s.insert("hh")
        cells.append(c)
    return cells


def main():
    morph, n, tstop, dt, amp = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    cells = build(morph, n)
    clamps = []
    for c in cells:
        ic = h.IClamp(c.secs[0](0.5))
        ic.delay, ic.dur, ic.amp = 1.0, tstop, amp
        clamps.append(ic)
    ncomp = sum(s.nseg for c in cells for s in c.secs)
    h.cvode_active(0)
    h.dt = dt
    h.steps_per_ms = 1.0 / dt
    h.finitialize(-65)
    t0 = time.perf_counter()
    h.continuerun(tstop)
    sec = time.perf_counter() - t0
    print(f"{sec:.6f} {ncomp} {int(round(tstop / dt))}")


if __name__ == "__main__":
    main()
