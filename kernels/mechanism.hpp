#pragma once
// What a mechanism of the catalogue is, for the kernels.
//
// A mechanism is a struct of static metadata and static, value-type-templated functions:
// the hand-written channels in channels/ and the ones the translator (translator/)
// generates from NMODL have the same form, and the forward kernel and the adjoint iterate
// the catalogue (catalogue.hpp) at compile time, so no kernel names a mechanism.
//
// Metadata (all constexpr; arrays have at least one element even when their count is 0):
//   name; n_params, param_names/units/defaults: the parameters, one value per instance and
//   cell (fittable; the adjoint differentiates every one): the RANGE parameters, then the
//   n_globals GLOBAL ones (NEURON's one value per model: the host sets every instance of a
//   cell to the same value); n_constants: the constants array the functions read, values
//   derived from celsius once per run on the host in `constants` (generated mechanisms keep
//   celsius itself first);
//   n_states, state_names: STATE variables; n_ions and ion(k): the
//   ion species it uses (ion_use below; a constexpr function rather than an array, so that
//   device code can read it); gates_read_params / init_reads_params: whether
//   advance() / init() read the parameters (the adjoint skips those directions if not).
//
// Functions, for any value type T (a real type, or dual<Real, N> in the adjoint), constants
// C (the real type) and the ion inputs `ion`, 4 slots per used ion: [4k + ion_e] reversal
// potential (mV), [4k + ion_ci] / [4k + ion_co] concentrations (mM), [4k + ion_i] the
// current density of that species summed over the node's mechanisms at the last current
// evaluation (mA/cm2). Only the slots the mechanism declares as read are filled.
//   init(v, p, c, s, ion):                   s = the INITIAL block's states at v
//   current(v, p, c, s, ion, i_ion, g) -> i: total current density (mA/cm2, or model
//       units in point models), g = di/dv, i_ion[k] the part carried by ion k
//   advance(v, dt, p, c, s, ion):            the DERIVATIVE block over dt at v (cnexp)
//   constants(celsius, out):                 host; fills the n_constants values (double)

#include <Kokkos_Core.hpp>

namespace cellfit {

enum ion_slot : int { ion_e = 0, ion_ci = 1, ion_co = 2, ion_i = 3, ion_slots = 4 };

// How a mechanism uses one ion species. `species` indexes the catalogue's ion table
// (catalogue.hpp). A concentration the mechanism writes is one of its states
// (write_ci_state / write_co_state, -1 if none): NEURON's WRITE cai on a STATE cai.
struct ion_use {
  int species;
  bool read_e, read_ci, read_co, read_i;
  bool write_i;
  int write_ci_state, write_co_state;

  KOKKOS_INLINE_FUNCTION constexpr bool reads(int slot) const {
    return slot == ion_e ? read_e : slot == ion_ci ? read_ci : slot == ion_co ? read_co : read_i;
  }
};

// A species of the catalogue's ion table: name ("ca"), valence, and NEURON's defaults.
struct ion_species_info {
  const char* name;
  int valence;
  double ci0_mm, co0_mm, e0_mv;
};

// Whether mechanism M reads slot `slot` of any of its ions.
template <class M>
constexpr bool mechanism_reads_ion_slot(int slot) {
  for (int k = 0; k < M::n_ions; ++k) {
    if (M::ion(k).reads(slot)) return true;
  }
  return false;
}

// Whether M writes a concentration (its advance changes an ion's ci or co).
template <class M>
constexpr bool mechanism_writes_concentration() {
  for (int k = 0; k < M::n_ions; ++k) {
    if (M::ion(k).write_ci_state >= 0 || M::ion(k).write_co_state >= 0) return true;
  }
  return false;
}

}  // namespace cellfit
