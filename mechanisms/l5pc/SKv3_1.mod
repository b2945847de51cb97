: SKv3_1: fast, non-inactivating Kv3.1 (Shaw-type) potassium current
:
: After Rettig, Wunder, Stocker, Lichtinghagen, Mastiaux, Beckh, Kues,
: Pedarzani, Schroter, Ruppersberg, Veh & Pongs (1992) EMBO J 11:2473-2486
: ("Characterization of a Shaw-related potassium channel family in rat
: brain"), as used by Hay et al. (2011) PLoS Comput Biol 7:e1002107 and Blue
: Brain's L5PC model. No temperature factor is applied.
:
: Units: v, ek (mV); gSKv3_1bar, gSKv3_1 (S/cm2); ik (mA/cm2); time (ms).
: Gating: g = gbar * m.  Written for cellfit from the published equations.

NEURON {
    SUFFIX SKv3_1
    USEION k READ ek WRITE ik
    RANGE gSKv3_1bar, gSKv3_1, ik
}

UNITS {
    (S)  = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gSKv3_1bar = 0.00001 (S/cm2)    : peak conductance density
}

ASSIGNED {
    v       (mV)
    ek      (mV)
    ik      (mA/cm2)
    gSKv3_1 (S/cm2)
    mInf
    mTau
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
    gSKv3_1 = gSKv3_1bar*m
    ik = gSKv3_1*(v - ek)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
}

PROCEDURE rates() {
    : Boltzmann activation, half 18.7 mV, slope 9.7 mV;
    : sigmoidal tau, 4 ms at hyperpolarised potentials
    mInf = 1/(1 + exp((v - 18.700)/(-9.700)))
    mTau = 0.2*20.000/(1 + exp((v - (-46.560))/(-44.140)))
}
