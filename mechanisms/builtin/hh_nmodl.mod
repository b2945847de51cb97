TITLE Hodgkin-Huxley squid axon channels, as NEURON's built-in hh

COMMENT
The Hodgkin-Huxley (1952) sodium, potassium and leak currents with the rate functions,
vtrap() guard and temperature factor q10 = 3^((celsius - 6.3)/10) of NEURON's hh mechanism,
under its own suffix so that it sits in one catalogue beside cellfit's hand-tuned hh. Unlike
that one it reads ena and ek from the na and k ions, as NEURON's hh does.
Units: mV, ms, S/cm2, mA/cm2.
ENDCOMMENT

NEURON {
  SUFFIX hh_nmodl
  USEION na READ ena WRITE ina
  USEION k READ ek WRITE ik
  NONSPECIFIC_CURRENT il
  RANGE gnabar, gkbar, gl, el, gna, gk
  GLOBAL minf, hinf, ninf, mtau, htau, ntau
}

UNITS {
  (mA) = (milliamp)
  (mV) = (millivolt)
  (S) = (siemens)
}

PARAMETER {
  gnabar = 0.12 (S/cm2)
  gkbar = 0.036 (S/cm2)
  gl = 0.0003 (S/cm2)
  el = -54.3 (mV)
}

STATE { m h n }

ASSIGNED {
  v (mV)
  celsius (degC)
  ena (mV)
  ek (mV)
  gna (S/cm2)
  gk (S/cm2)
  ina (mA/cm2)
  ik (mA/cm2)
  il (mA/cm2)
  minf hinf ninf
  mtau (ms) htau (ms) ntau (ms)
}

BREAKPOINT {
  SOLVE states METHOD cnexp
  gna = gnabar*m*m*m*h
  ina = gna*(v - ena)
  gk = gkbar*n*n*n*n
  ik = gk*(v - ek)
  il = gl*(v - el)
}

INITIAL {
  rates(v)
  m = minf
  h = hinf
  n = ninf
}

DERIVATIVE states {
  rates(v)
  m' = (minf - m)/mtau
  h' = (hinf - h)/htau
  n' = (ninf - n)/ntau
}

PROCEDURE rates(u (mV)) {
  LOCAL a, b, total, q10
  TABLE minf, mtau, hinf, htau, ninf, ntau DEPEND celsius FROM -100 TO 100 WITH 200
  q10 = 3^((celsius - 6.3)/10)
  : sodium activation
  a = 0.1*vtrap(-(u + 40), 10)
  b = 4*exp(-(u + 65)/18)
  total = a + b
  mtau = 1/(q10*total)
  minf = a/total
  : sodium inactivation
  a = 0.07*exp(-(u + 65)/20)
  b = 1/(exp(-(u + 35)/10) + 1)
  total = a + b
  htau = 1/(q10*total)
  hinf = a/total
  : potassium activation
  a = 0.01*vtrap(-(u + 55), 10)
  b = 0.125*exp(-(u + 65)/80)
  total = a + b
  ntau = 1/(q10*total)
  ninf = a/total
}

FUNCTION vtrap(x, y) {
  : x/(exp(x/y) - 1), with its Taylor series where x/y is near 0
  if (fabs(x/y) < 1e-6) {
    vtrap = y*(1 - x/y/2)
  } else {
    vtrap = x/(exp(x/y) - 1)
  }
}
