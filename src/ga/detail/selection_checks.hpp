#pragma once
// Input checks shared by the selection operators (ga/selection.hpp states the preconditions).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "common/error.hpp"
#include "ga/selection.hpp"

namespace cellfit::ga::detail {

inline void check_selection_input(const objective_matrix& obj, std::size_t k, const char* where) {
  const std::string w = std::string("cellfit::ga::") + where + ": ";
  if (obj.values.size() != obj.n * obj.m)
    throw error(w + "objective matrix holds " + std::to_string(obj.values.size()) +
                " values, expected n x m = " + std::to_string(obj.n) + " x " +
                std::to_string(obj.m));
  if (obj.n > std::numeric_limits<std::uint32_t>::max())
    throw error(w + "population of " + std::to_string(obj.n) + " is too large");
  if (k > obj.n)
    throw error(w + "cannot select " + std::to_string(k) + " of " + std::to_string(obj.n) +
                " individuals");
  for (std::size_t i = 0; i < obj.values.size(); ++i) {
    if (!std::isfinite(obj.values[i]))
      throw error(w + "objective " + std::to_string(i % obj.m) + " of individual " +
                  std::to_string(i / obj.m) + " is not finite (" + std::to_string(obj.values[i]) +
                  "); failed individuals must carry a finite penalty");
  }
}

}  // namespace cellfit::ga::detail
