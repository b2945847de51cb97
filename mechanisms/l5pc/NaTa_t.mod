: NaTa_t: transient (fast-inactivating) sodium current, axonal form
:
: Kinetics from Colbert & Pan (2002) Nat Neurosci 5:533-538, as used by
: Hay et al. (2011) PLoS Comput Biol 7:e1002107 and Blue Brain's L5PC model.
: Activation half-point -38 mV, inactivation half-point -66 mV.
: Rates measured at 21 degC, scaled to 34 degC with q10 = 2.3.
:
: Units: v, ena (mV); gNaTa_tbar, gNaTa_t (S/cm2); ina (mA/cm2); time (ms).
: Gating: g = gbar * m^3 * h.  Written for cellfit from the published equations.

NEURON {
    SUFFIX NaTa_t
    USEION na READ ena WRITE ina
    RANGE gNaTa_tbar, gNaTa_t, ina
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNaTa_tbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v       (mV)
    ena     (mV)
    ina     (mA/cm2)
    gNaTa_t (S/cm2)
    mInf
    mTau
    mAlpha
    mBeta
    hInf
    hTau
    hAlpha
    hBeta
}

STATE {
    m    : activation
    h    : inactivation
}

INITIAL {
    rates()
    m = mInf
    h = hInf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gNaTa_t = gNaTa_tbar*m*m*m*h
    ina = gNaTa_t*(v - ena)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

PROCEDURE rates() {
    LOCAL qt
    qt = 2.3^((34-21)/10)    : temperature factor, 21 -> 34 degC

    : activation; removable 0/0 at v = -38
    if (v == -38) {
        v = v + 0.0001
    }
    mAlpha = (0.182*(v + 38))/(1 - exp(-(v + 38)/6))
    mBeta  = (0.124*(-v - 38))/(1 - exp(-(-v - 38)/6))
    mTau = (1/(mAlpha + mBeta))/qt
    mInf = mAlpha/(mAlpha + mBeta)

    : inactivation; removable 0/0 at v = -66
    if (v == -66) {
        v = v + 0.0001
    }
    hAlpha = (-0.015*(v + 66))/(1 - exp((v + 66)/6))
    hBeta  = (-0.015*(-v - 66))/(1 - exp((-v - 66)/6))
    hTau = (1/(hAlpha + hBeta))/qt
    hInf = hAlpha/(hAlpha + hBeta)
}
