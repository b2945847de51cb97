#pragma once
// Limits on TOML text checked before toml11 sees it. toml11 parses arrays and inline tables
// by recursion (a few thousand nested levels overflow the stack), and its time grows with
// the square of a line's length and of a dotted key's depth. No real config comes near these
// limits (the largest example is 2.5 kB, 5 levels deep, 95 characters wide); within them
// toml11 parses any text in well under a second. docs/config.md lists them.

#include <cstddef>
#include <string>
#include <string_view>

namespace cellfit::detail {

inline constexpr std::size_t max_config_bytes = 65536;
inline constexpr std::size_t max_config_line_bytes = 4096;
// Levels of tables, arrays and inline tables, counting each part of a dotted key and of a
// [table.header] as a level.
inline constexpr int max_config_nesting = 64;

// What the text is: a whole document, or one value (the right-hand side of a --set).
enum class toml_text { document, value };

// Throws config_error "cellfit::config: <name>:<line>: ..." when `text` breaks a limit.
// `base_level` is the nesting of the place the text goes (a --set value for a.b.c: 3);
// `name` starting with "--set" gives messages without a line number. Linear time; it only
// tracks strings, comments, brackets and keys, and leaves malformed text to toml11's syntax
// errors.
void check_toml_limits(std::string_view text, const std::string& name,
                       toml_text kind = toml_text::document, int base_level = 0);

}  // namespace cellfit::detail
