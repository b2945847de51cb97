COMMENT
The current synapse of cellfit's `current_exp_syn` protocol element, for NEURON: each input
event adds its weight (nA) to a current that decays with tau (dI/dt = -I/tau), injected into
the cell (positive depolarises). Used by tests/validation/test_synapse_neuron.py.
ENDCOMMENT

NEURON {
    POINT_PROCESS CurrentExpSyn
    RANGE tau, i
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
}

PARAMETER {
    tau = 5 (ms)
}

ASSIGNED {
    i (nA)
}

STATE {
    x (nA)
}

INITIAL {
    x = 0
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    i = -x
}

DERIVATIVE state {
    x' = -x/tau
}

NET_RECEIVE(weight (nA)) {
    x = x + weight
}
