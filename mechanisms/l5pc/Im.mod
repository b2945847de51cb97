: Im: muscarinic-sensitive (M-type) potassium current
:
: After Adams, Brown & Constanti (1982) J Physiol 330:537-572 ("M-currents and
: other potassium currents in bullfrog sympathetic neurones"), as used by
: Hay et al. (2011) PLoS Comput Biol 7:e1002107 and Blue Brain's L5PC model.
: Rates measured at 21 degC, scaled to 34 degC with q10 = 2.3.
:
: Units: v, ek (mV); gImbar, gIm (S/cm2); ik (mA/cm2); time (ms).
: Gating: g = gbar * m.  Written for cellfit from the published equations.

NEURON {
    SUFFIX Im
    USEION k READ ek WRITE ik
    RANGE gImbar, gIm, ik
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gImbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v   (mV)
    ek  (mV)
    ik  (mA/cm2)
    gIm (S/cm2)
    mInf
    mTau
    mAlpha
    mBeta
}

STATE {
    m    : activation
}

INITIAL {
    rates()
    m = mInf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIm = gImbar*m
    ik = gIm*(v - ek)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
}

PROCEDURE rates() {
    LOCAL qt
    qt = 2.3^((34-21)/10)    : temperature factor, 21 -> 34 degC

    : symmetric exponential rates about -35 mV (z*F/RT written as 2.5*0.04)
    mAlpha = 3.3e-3*exp(2.5*0.04*(v + 35))
    mBeta  = 3.3e-3*exp(-2.5*0.04*(v + 35))
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = (1/(mAlpha + mBeta))/qt
}
