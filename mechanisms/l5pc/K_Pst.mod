: K_Pst: slow, persistent potassium current
:
: Persistent K+ component of Korngreen & Sakmann (2000) J Physiol 525:621-639
: ("Voltage-gated K+ channels in layer 5 neocortical pyramidal neurones from
: young rats: subtypes and gradients"), as used by Hay et al. (2011) PLoS
: Comput Biol 7:e1002107 and Blue Brain's L5PC model. The curves are shifted
: by -10 mV for the liquid junction potential: rates() evaluates the published
: fits at v + 10 and restores v afterwards. Rates measured at 21 degC, scaled
: to 34 degC with q10 = 2.3.
:
: Units: v, ek (mV); gK_Pstbar, gK_Pst (S/cm2); ik (mA/cm2); time (ms).
: Gating: g = gbar * m^2 * h.  Written for cellfit from the published equations.

NEURON {
    SUFFIX K_Pst
    USEION k READ ek WRITE ik
    RANGE gK_Pstbar, gK_Pst, ik
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Pstbar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v      (mV)
    ek     (mV)
    ik     (mA/cm2)
    gK_Pst (S/cm2)
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
    gK_Pst = gK_Pstbar*m*m*h
    ik = gK_Pst*(v - ek)
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

    mInf = 1/(1 + exp(-(v + 1)/12))
    : activation time constant: two branches joined at (shifted) v = -50
    if (v < -50) {
        mTau = (1.25 + 175.03*exp(v*0.026))/qt
    } else {
        mTau = (1.25 + 13*exp(-v*0.026))/qt
    }
    hInf = 1/(1 + exp((v + 54)/11))
    hTau = (360 + (1010 + 24*(v + 55))*exp(-((v + 75)/48)^2))/qt

    v = v - 10
}
