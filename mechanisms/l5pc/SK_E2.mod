: SK_E2: small-conductance calcium-activated potassium current (SK)
:
: Calcium dependence after Koehler, Hirschberg, Bond, Kinzie, Marrion,
: Maylie & Adelman (1996) Science 273:1709-1714, as used by Hay et al. (2011)
: PLoS Comput Biol 7:e1002107 and Blue Brain's L5PC model. Voltage-
: independent; a Hill function of cai (K = 0.43 uM, n = 4.8) relaxing with a
: fixed time constant zTau.
:
: Units: v, ek (mV); cai (mM); gSK_E2bar, gSK_E2 (S/cm2 = mho/cm2);
: ik (mA/cm2); zTau (ms).
: Gating: g = gbar * z.  Written for cellfit from the published equations.
:
: Notes on the published file: v, ek and cai were listed in its PARAMETER
: block; they are NEURON-supplied values either way and are ASSIGNED here.
: Its STATE line reads "z FROM 0 TO 1"; the bounds are declarative only (they
: do not clamp under cnexp) and are left out here.

NEURON {
    SUFFIX SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gSK_E2bar, gSK_E2, ik
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
}

PARAMETER {
    gSK_E2bar = .000001 (mho/cm2)    : peak conductance density
    zTau = 1 (ms)                    : gate time constant (GLOBAL)
}

ASSIGNED {
    v      (mV)
    ek     (mV)
    cai    (mM)
    zInf
    ik     (mA/cm2)
    gSK_E2 (S/cm2)
}

STATE {
    z    : calcium-driven activation, 0..1
}

INITIAL {
    rates(cai)
    z = zInf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSK_E2 = gSK_E2bar*z
    ik = gSK_E2*(v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zInf - z)/zTau
}

PROCEDURE rates(ca (mM)) {
    LOCAL c
    : below 1e-7 mM the concentration is raised by 1e-7 mM, keeping
    : (0.00043/c) finite when cai reaches zero
    c = ca
    if (c < 1e-7) {
        c = c + 1e-07
    }
    zInf = 1/(1 + (0.00043/c)^4.8)
}
