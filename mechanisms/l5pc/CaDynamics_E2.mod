: CaDynamics_E2: intracellular calcium in a submembrane shell
:
: First-order calcium removal modified from Destexhe, Mainen & Sejnowski (1994)
: J Comput Neurosci 1:195-230, as used by Hay et al. (2011) PLoS Comput Biol
: 7:e1002107 and Blue Brain's L5PC model:
:
:   dcai/dt = -10000 * gamma * ica / (2 F depth) - (cai - minCai) / decay
:
: ica (mA/cm2) entering a shell of depth um, of which the fraction gamma stays
: free (the rest is buffered); 10000 converts um to cm. Free calcium relaxes
: to minCai with time constant decay.
:
: Units: cai, minCai (mM); ica (mA/cm2); depth (um); decay (ms); gamma (1).
:
: There is no INITIAL block, as in the published file: cai starts at the ca
: ion's cai (NEURON's cai0_ca_ion, 5e-5 mM by default).
: Written for cellfit from the published equations.

NEURON {
    SUFFIX CaDynamics_E2
    USEION ca READ ica WRITE cai
    RANGE decay, gamma, minCai, depth
}

UNITS {
    (mV)    = (millivolt)
    (mA)    = (milliamp)
    FARADAY = (faraday) (coulombs)
    (molar) = (1/liter)
    (mM)    = (millimolar)
    (um)    = (micron)
}

PARAMETER {
    gamma = 0.05         : fraction of entering calcium left free
    decay = 80 (ms)      : removal time constant
    depth = 0.1 (um)     : shell depth
    minCai = 1e-4 (mM)   : resting free calcium
}

ASSIGNED {
    ica (mA/cm2)
}

STATE {
    cai (mM)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    cai' = -(10000)*(ica*gamma/(2*FARADAY*depth)) - (cai - minCai)/decay
}
