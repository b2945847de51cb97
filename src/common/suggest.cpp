#include "common/suggest.hpp"

#include <algorithm>
#include <cctype>

#include "common/quote.hpp"

namespace cellfit {

namespace {

char fold(char c) {
  const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l == '-' ? '_' : l;
}

std::string folded(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), fold);
  return r;
}

}  // namespace

std::size_t edit_distance(std::string_view a_in, std::string_view b_in) {
  const std::string a = folded(a_in), b = folded(b_in);
  const std::size_t n = a.size(), m = b.size();
  // Three rows suffice for the adjacent-swap term.
  std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (std::size_t j = 0; j <= m; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string closest_name(std::string_view typed, const std::vector<std::string>& known) {
  const std::size_t len = typed.size();
  const std::size_t allowed = len <= 4 ? 1 : len <= 8 ? 2 : 3;
  std::string best;
  std::size_t best_d = allowed + 1, best_prefix = 0;
  for (const std::string& k : known) {
    if (k == typed) continue;
    const std::size_t d = folded(k) == folded(typed) ? 0 : edit_distance(typed, k);
    // Among equally close names, the one sharing the longest start with what was typed
    // (people rarely mistype the first letters: 'Ihh' is 'Ih' rather than 'hh').
    std::size_t prefix = 0;
    while (prefix < k.size() && prefix < typed.size() && fold(k[prefix]) == fold(typed[prefix])) {
      ++prefix;
    }
    if (d < best_d || (d == best_d && prefix > best_prefix)) {
      best_d = d;
      best_prefix = prefix;
      best = k;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view typed, const std::vector<std::string>& known) {
  const std::string c = closest_name(typed, known);
  return c.empty() ? std::string() : " (did you mean " + quote_value(c) + "?)";
}

}  // namespace cellfit
