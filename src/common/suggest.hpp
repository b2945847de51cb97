#pragma once
// "Did you mean" for names the user typed: a mistyped config key, mechanism, feature or
// stimulus type is refused with the closest known name, so the fix is in the message.

#include <string>
#include <string_view>
#include <vector>

namespace cellfit {

// Optimal-string-alignment distance (insertions, deletions, substitutions and swaps of
// adjacent characters each cost 1), compared case-insensitively.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The known name closest to `typed`, or "" when none is close enough to be a likely typo
// (distance at most 1 for names up to 4 characters, 2 up to 8, 3 beyond; a name that only
// differs in case or in '_'/'-' is always close). Among equally close names, the one
// sharing the longest start with `typed`, then the first in `known`.
std::string closest_name(std::string_view typed, const std::vector<std::string>& known);

// " (did you mean 'x'?)" for closest_name(typed, known), or "".
std::string did_you_mean(std::string_view typed, const std::vector<std::string>& known);

}  // namespace cellfit
