: Ih: hyperpolarisation-activated cation current (HCN)
:
: After Kole, Hallermann & Stuart (2006) J Neurosci 26:1677-1687, as used by
: Hay et al. (2011) PLoS Comput Biol 7:e1002107 and Blue Brain's L5PC model.
: Mixed Na+/K+ current with a fixed reversal potential ehcn (GLOBAL, as a
: PARAMETER not listed in RANGE). No temperature factor is applied.
:
: Units: v, ehcn (mV); gIhbar, gIh (S/cm2); ihcn (mA/cm2); time (ms).
: Gating: g = gbar * m.  Written for cellfit from the published equations.

NEURON {
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gIhbar, gIh, ihcn
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gIhbar = 0.00001 (S/cm2)    : peak conductance density
    ehcn = -45.0 (mV)           : reversal potential of the HCN current
}

ASSIGNED {
    v    (mV)
    ihcn (mA/cm2)
    gIh  (S/cm2)
    mInf
    mTau
    mAlpha
    mBeta
}

STATE {
    m    : activation (opens on hyperpolarisation)
}

INITIAL {
    rates()
    m = mInf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIh = gIhbar*m
    ihcn = gIh*(v - ehcn)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
}

PROCEDURE rates() {
    : alpha is 0/0 at v = -154.9
    if (v == -154.9) {
        v = v + 0.0001
    }
    mAlpha = 0.001*6.43*(v + 154.9)/(exp((v + 154.9)/11.9) - 1)
    mBeta  = 0.001*193*exp(v/33.1)
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/(mAlpha + mBeta)
}
