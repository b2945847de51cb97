: K_Tst: fast, transient (A-type) potassium current
:
: Transient K+ component of Korngreen & Sakmann (2000) J Physiol 525:621-639,
: as used by Hay et al. (2011) PLoS Comput Biol 7:e1002107 and Blue Brain's
: L5PC model. The curves are shifted by -10 mV for the liquid junction
: potential: rates() evaluates the published fits at v + 10 and restores v
: afterwards. Rates measured at 21 degC, scaled to 34 degC with q10 = 2.3.
:
: Units: v, ek (mV); gK_Tstbar, gK_Tst (S/cm2); ik (mA/cm2); time (ms).
: Gating: g = gbar * m^4 * h.  Written for cellfit from the published equations.

NEURON {
    SUFFIX K_Tst
    USEION k READ ek WRITE ik
    RANGE gK_Tstbar, gK_Tst, ik
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Tstbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v      (mV)
    ek     (mV)
    ik     (mA/cm2)
    gK_Tst (S/cm2)
    mInf
    mTau
    hInf
    hTau
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
    gK_Tst = gK_Tstbar*(m^4)*h
    ik = gK_Tst*(v - ek)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

PROCEDURE rates() {
    LOCAL qt
    qt = 2.3^((34-21)/10)    : temperature factor, 21 -> 34 degC

    v = v + 10    : junction-potential shift (undone below)

    mInf = 1/(1 + exp(-v/19))
    mTau = (0.34 + 0.92*exp(-((v + 71)/59)^2))/qt
    hInf = 1/(1 + exp((v + 66)/10))
    hTau = (8 + 49*exp(-((v + 73)/23)^2))/qt

    v = v - 10
}
