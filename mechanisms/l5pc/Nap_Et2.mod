: Nap_Et2: persistent sodium current
:
: Steady states and inactivation rates after Magistretti & Alonso (1999)
: J Gen Physiol 114:491-509, as used by Hay et al. (2011) PLoS Comput Biol
: 7:e1002107 and Blue Brain's L5PC model. The activation time constant is not
: given by the data; it is taken as 6 times that of NaTa_t (same alpha/beta).
: Rates measured at 21 degC, scaled to 34 degC with q10 = 2.3.
:
: Units: v, ena (mV); gNap_Et2bar, gNap_Et2 (S/cm2); ina (mA/cm2); time (ms).
: Gating: g = gbar * m^3 * h.  Written for cellfit from the published equations.

NEURON {
    SUFFIX Nap_Et2
    USEION na READ ena WRITE ina
    RANGE gNap_Et2bar, gNap_Et2, ina
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNap_Et2bar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v        (mV)
    ena      (mV)
    ina      (mA/cm2)
    gNap_Et2 (S/cm2)
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
    h    : slow inactivation
}

INITIAL {
    rates()
    m = mInf
    h = hInf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gNap_Et2 = gNap_Et2bar*m*m*m*h
    ina = gNap_Et2*(v - ena)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

PROCEDURE rates() {
    LOCAL qt
    qt = 2.3^((34-21)/10)    : temperature factor, 21 -> 34 degC

    : activation: Boltzmann steady state (half -52.6 mV, slope 4.6 mV);
    : tau = 6 x NaTa_t's tau, whose rates are 0/0 at v = -38
    mInf = 1.0/(1 + exp((v + 52.6)/-4.6))
    if (v == -38) {
        v = v + 0.0001
    }
    mAlpha = (0.182*(v + 38))/(1 - exp(-(v + 38)/6))
    mBeta  = (0.124*(-v - 38))/(1 - exp(-(-v - 38)/6))
    mTau = 6*(1/(mAlpha + mBeta))/qt

    : inactivation: rates are 0/0 at v = -17 (alpha) and v = -64.4 (beta)
    if (v == -17) {
        v = v + 0.0001
    }
    if (v == -64.4) {
        v = v + 0.0001
    }
    hInf = 1.0/(1 + exp((v + 48.8)/10))
    hAlpha = -2.88e-6*(v + 17)/(1 - exp((v + 17)/4.63))
    hBeta  = 6.94e-6*(v + 64.4)/(1 - exp(-(v + 64.4)/2.63))
    hTau = (1/(hAlpha + hBeta))/qt
}
