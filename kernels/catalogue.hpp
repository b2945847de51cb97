#pragma once
// The mechanism catalogue: every mechanism the kernels know, as a compile-time type list,
// and the ion species they use. The kernels and the adjoint iterate the list with fold
// expressions (mechanism_set below), so adding a mechanism touches no kernel.
//
// The hand-written channels (channels/) come first, then the mechanisms the translator
// generated from .mod files at build time (the generated header, in the build tree,
// defines CELLFIT_GENERATED_MECHANISMS as ", name1, name2 ..." in NEURON's registration
// order, and CELLFIT_GENERATED_ION_SPECIES for species beyond na, k and ca).

#include <Kokkos_Core.hpp>

#include "kernels/channels/hh.hpp"
#include "kernels/channels/jk.hpp"
#include "kernels/channels/pas.hpp"
#include "kernels/mechanism.hpp"

#if __has_include("cellfit_generated/catalogue.hpp")
#include "cellfit_generated/catalogue.hpp"
#endif
#ifndef CELLFIT_GENERATED_MECHANISMS
#define CELLFIT_GENERATED_MECHANISMS
#endif
#ifndef CELLFIT_GENERATED_ION_SPECIES
#define CELLFIT_GENERATED_ION_SPECIES
#endif

namespace cellfit {

template <class... M>
struct type_list {
  static constexpr int size = sizeof...(M);
};

// The order is the order of each step's passes (NEURON's mechanism type order for the
// generated ones: it decides which concentration a reader sees within a step).
using catalogue = type_list<channels::hh, channels::pas, channels::jk CELLFIT_GENERATED_MECHANISMS>;

// na, k, ca with NEURON's defaults (nai0_na_ion 10, nao0 140, ena 50; ki0 54.4, ko0 2.5,
// ek -77; cai0 5e-5, cao0 2, eca 132.4579), then the species only user mechanisms name
// (NEURON's defaults for a new ion: ci 1, co 1, e 0).
inline constexpr ion_species_info ion_species_table[] = {
    {"na", 1, 10.0, 140.0, 50.0},
    {"k", 1, 54.4, 2.5, -77.0},
    {"ca", 2, 5e-5, 2.0, 132.4579341637009} CELLFIT_GENERATED_ION_SPECIES};
inline constexpr int n_ion_species =
    static_cast<int>(sizeof(ion_species_table) / sizeof(ion_species_table[0]));

// Calls f(views) for every mechanism's views, in catalogue order (for_each) or in reverse
// (for_each_reverse). Derives from mechanism_views<M, Real, Mem> for every M of the list.
template <template <class, class, class> class Views, class Real, class Mem, class List>
struct mechanism_set;

template <template <class, class, class> class Views, class Real, class Mem, class... M>
struct mechanism_set<Views, Real, Mem, type_list<M...>> : Views<M, Real, Mem>... {
  template <class Mech>
  KOKKOS_FORCEINLINE_FUNCTION Views<Mech, Real, Mem> const& get() const {
    return static_cast<Views<Mech, Real, Mem> const&>(*this);
  }
  template <class Mech>
  Views<Mech, Real, Mem>& get() {
    return static_cast<Views<Mech, Real, Mem>&>(*this);
  }
  template <class F>
  KOKKOS_FORCEINLINE_FUNCTION void for_each(F&& f) const {
    (f(get<M>()), ...);
  }
  template <class F>
  void for_each_host(F&& f) {
    (f(get<M>()), ...);
  }
  // The operands of a chain of assignments are evaluated right to left (C++17), so this
  // visits the mechanisms from the last to the first.
  template <class F>
  KOKKOS_FORCEINLINE_FUNCTION void for_each_reverse(F&& f) const {
    int order = 0;
    ((f(get<M>()), order) = ... = 0);
    (void)order;
  }
};

// The index of mechanism Mech in the catalogue.
template <class Mech, class List>
struct catalogue_index;
template <class Mech, class... M>
struct catalogue_index<Mech, type_list<M...>> {
  static constexpr int value = [] {
    constexpr bool same[] = {std::is_same_v<Mech, M>...};
    for (int i = 0; i < static_cast<int>(sizeof...(M)); ++i) {
      if (same[i]) return i;
    }
    return -1;
  }();
};

}  // namespace cellfit
