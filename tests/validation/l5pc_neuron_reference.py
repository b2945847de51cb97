"""NEURON (the same .mod files, compiled by nrnivmodl) against cellfit on the L5PC channel set.

usage: l5pc_neuron_reference.py LIBNRNMECH.so CELLFIT_OUTPUT.h5
The model is tests/validation/data/l5pc_ball_and_stick.toml, built here independently with
NEURON's own sections and mechanisms. Exits 1 unless every stimulus gives the same spike
count, spike times within 0.01 ms and an RMS difference under 0.01 mV at both sites.
"""
import sys

import h5py
import numpy as np
from neuron import h


def spikes(v, dt, thr=-20.0):
    t = []
    for i in range(1, len(v)):
        if v[i - 1] < thr <= v[i]:
            t.append(dt * (i - 1 + (thr - v[i - 1]) / (v[i] - v[i - 1])))
    return np.array(t)


def main():
    h.nrn_load_dll(sys.argv[1])
    out = h5py.File(sys.argv[2])["/traces/voltage"][...]
    h.load_file("stdrun.hoc")
    soma, dend = h.Section(name="soma"), h.Section(name="dend")
    h.pt3dadd(0, 0, 0, 20, sec=soma)
    h.pt3dadd(20, 0, 0, 20, sec=soma)
    h.pt3dadd(20, 0, 0, 2, sec=dend)
    h.pt3dadd(520, 0, 0, 2, sec=dend)
    dend.nseg = 5
    dend.connect(soma(1))
    for s in (soma, dend):
        s.Ra, s.cm = 35.4, 1.0
        s.insert("pas")
        s.g_pas, s.e_pas = 3e-5, -75.0
        s.insert("Ih")
        s.gIhbar_Ih = 8e-5
    for m in ("NaTs2_t", "SKv3_1", "SK_E2", "CaDynamics_E2", "Ca_HVA", "Ca_LVAst"):
        soma.insert(m)
    soma.gNaTs2_tbar_NaTs2_t = 0.983955
    soma.gSKv3_1bar_SKv3_1 = 0.303472
    soma.gSK_E2bar_SK_E2 = 0.008407
    soma.gamma_CaDynamics_E2 = 0.000609
    soma.decay_CaDynamics_E2 = 210.485291
    soma.gCa_HVAbar_Ca_HVA = 0.000994
    soma.gCa_LVAstbar_Ca_LVAst = 0.000333
    dend.insert("Im")
    dend.gImbar_Im = 0.000143
    soma.ena, soma.ek, dend.ek = 50.0, -85.0, -85.0
    h.celsius, h.dt, h.secondorder = 34.0, 0.025, 0
    ic = h.IClamp(soma(0.5))
    ic.delay, ic.dur = 50.0, 200.0
    ok = True
    for k, amp in enumerate([0.0, 0.3, 0.8]):
        ic.amp = amp
        vs = h.Vector().record(soma(0.5)._ref_v)
        vd = h.Vector().record(dend(0.9)._ref_v)
        h.finitialize(-65.0)
        h.continuerun(300.0)
        worst_rms, worst_max = 0.0, 0.0
        for site, ref in enumerate((np.array(vs), np.array(vd))):
            cf = out[k, site, : len(ref)]
            worst_rms = max(worst_rms, float(np.sqrt(np.mean((ref - cf) ** 2))))
            worst_max = max(worst_max, float(np.abs(ref - cf).max()))
        sn, sc = spikes(np.array(vs), h.dt), spikes(out[k, 0], h.dt)
        shift = float(np.abs(sn - sc).max()) if len(sn) == len(sc) and len(sn) else 0.0
        good = len(sn) == len(sc) and shift < 0.01 and worst_rms < 0.01
        ok &= good
        print(f"{amp:4.1f} nA: spikes NEURON {len(sn)} cellfit {len(sc)}, spike shift "
              f"{shift:.2e} ms, RMS {worst_rms:.2e} mV, max |dV| {worst_max:.2e} mV"
              + ("" if good else "  FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
