#pragma once
// How an error message shows text taken from the user's input (a field of an SWC line, a
// config key, a --set argument). The input may hold anything: a megabyte line, binary bytes,
// terminal escape sequences, newlines. The message must stay one short, printable line.

#include <cstddef>
#include <string>
#include <string_view>

namespace cellfit {

// `value` in single quotes: at most `max_bytes` bytes of it, each byte outside printable
// ASCII (and the backslash and quote) written as \xNN, \\ or \', and "..." after the quote
// when the value was cut. quote_value("1e5") is '1e5'; a 1 MB field is its first 40 bytes.
std::string quote_value(std::string_view value, std::size_t max_bytes = 40);

// The same escaping without the quotes, for text that is already part of a message (a key
// name, a parser's description of an error): bytes outside printable ASCII as \xNN, at
// most `max_bytes` bytes, then "...".
std::string printable_text(std::string_view text, std::size_t max_bytes = 200);

}  // namespace cellfit
