: NaTs2_t: transient (fast-inactivating) sodium current, somatic/dendritic form
:
: Kinetics from Colbert & Pan (2002) Nat Neurosci 5:533-538, in the form used
: by Hay, Hill, Schuermann, Markram & Segev (2011) PLoS Comput Biol 7:e1002107
: and Blue Brain's L5PC model. This is NaTa_t with activation and inactivation
: both moved 6 mV to the right (half-points -32 and -60 mV instead of -38, -66).
: Rates were measured at 21 degC and are scaled to 34 degC with q10 = 2.3.
:
: Units: v, ena (mV); gNaTs2_tbar, gNaTs2_t (S/cm2); ina (mA/cm2); time (ms).
: Gating: g = gbar * m^3 * h.  Written for cellfit from the published equations.

NEURON {
    SUFFIX NaTs2_t
    USEION na READ ena WRITE ina
    RANGE gNaTs2_tbar, gNaTs2_t, ina
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNaTs2_tbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v        (mV)
    ena      (mV)
    ina      (mA/cm2)
    gNaTs2_t (S/cm2)
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
    gNaTs2_t = gNaTs2_tbar*m*m*m*h
    ina = gNaTs2_t*(v - ena)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

PROCEDURE rates() {
    LOCAL qt
    qt = 2.3^((34-21)/10)    : temperature factor, 21 -> 34 degC

    : activation; alpha and beta are 0/0 at v = -32, so step off that point
    if (v == -32) {
        v = v + 0.0001
    }
    mAlpha = (0.182*(v + 32))/(1 - exp(-(v + 32)/6))
    mBeta  = (0.124*(-v - 32))/(1 - exp(-(-v - 32)/6))
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = (1/(mAlpha + mBeta))/qt

    : inactivation; same guard at v = -60
    if (v == -60) {
        v = v + 0.0001
    }
    hAlpha = (-0.015*(v + 60))/(1 - exp((v + 60)/6))
    hBeta  = (-0.015*(-v - 60))/(1 - exp((-v - 60)/6))
    hInf = hAlpha/(hAlpha + hBeta)
    hTau = (1/(hAlpha + hBeta))/qt
}
