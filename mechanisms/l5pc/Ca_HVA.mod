: Ca_HVA: high-voltage-activated calcium current
:
: After Reuveni, Friedman, Amitai & Gutnick (1993) J Neurosci 13:4609-4621,
: as used by Hay et al. (2011) PLoS Comput Biol 7:e1002107 and Blue Brain's
: L5PC model. No temperature factor is applied in this channel.
:
: Units: v, eca (mV); gCa_HVAbar (S/cm2); ica (mA/cm2); time (ms).
: Gating: g = gbar * m^2 * h.  Written for cellfit from the published equations.
:
: Note: as in the published file, gCa_HVA is listed in RANGE but declared
: nowhere else; the conductance itself goes into the ASSIGNED variable gCa.
: nocmodl drops an undeclared RANGE name, so NEURON exposes no gCa_HVA_Ca_HVA,
: exactly as with Blue Brain's file. A translator should ignore that name.

NEURON {
    SUFFIX Ca_HVA
    USEION ca READ eca WRITE ica
    RANGE gCa_HVAbar, gCa_HVA, ica
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_HVAbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v       (mV)
    eca     (mV)
    ica     (mA/cm2)
    gCa     (S/cm2)
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
    gCa = gCa_HVAbar*m*m*h
    ica = gCa*(v - eca)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

PROCEDURE rates() {
    : activation; alpha is 0/0 at v = -27
    if (v == -27) {
        v = v + 0.0001
    }
    mAlpha = (0.055*(-27 - v))/(exp((-27 - v)/3.8) - 1)
    mBeta  = (0.94*exp((-75 - v)/17))
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/(mAlpha + mBeta)

    : inactivation
    hAlpha = (0.000457*exp((-13 - v)/50))
    hBeta  = (0.0065/(exp((-v - 15)/28) + 1))
    hInf = hAlpha/(hAlpha + hBeta)
    hTau = 1/(hAlpha + hBeta)
}
