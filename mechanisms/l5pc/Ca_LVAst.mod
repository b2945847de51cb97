: Ca_LVAst: low-voltage-activated (T-type) calcium current
:
: Steady states after Avery & Johnston (1996) J Neurosci 16:5567-5582, time
: constants approximated from the plots of Randall & Tsien (1997)
: Neuropharmacology 36:879-893, as used by Hay et al. (2011) PLoS Comput Biol
: 7:e1002107 and Blue Brain's L5PC model. The curves are shifted by -10 mV
: for the liquid junction potential: rates() evaluates the fits at v + 10 and
: restores v afterwards. Rates measured at 21 degC, scaled to 34 degC with
: q10 = 2.3.
:
: Units: v, eca (mV); gCa_LVAstbar, gCa_LVAst (S/cm2); ica (mA/cm2); time (ms).
: Gating: g = gbar * m^2 * h.  Written for cellfit from the published equations.

NEURON {
    SUFFIX Ca_LVAst
    USEION ca READ eca WRITE ica
    RANGE gCa_LVAstbar, gCa_LVAst, ica
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_LVAstbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v         (mV)
    eca       (mV)
    ica       (mA/cm2)
    gCa_LVAst (S/cm2)
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
    gCa_LVAst = gCa_LVAstbar*m*m*h
    ica = gCa_LVAst*(v - eca)
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

    mInf = 1.0000/(1 + exp((v + 30.000)/-6))
    mTau = (5.0000 + 20.0000/(1 + exp((v + 25.000)/5)))/qt
    hInf = 1.0000/(1 + exp((v + 80.000)/6.4))
    hTau = (20.0000 + 50.0000/(1 + exp((v + 40.000)/7)))/qt

    v = v - 10
}
