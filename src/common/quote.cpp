#include "common/quote.hpp"

namespace cellfit {

namespace {

void append_escaped(std::string& out, std::string_view text, bool quote) {
  static const char hex[] = "0123456789abcdef";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (quote && (c == '\\' || c == '\'')) {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
}

}  // namespace

std::string quote_value(std::string_view value, std::size_t max_bytes) {
  const bool cut = value.size() > max_bytes;
  std::string out = "'";
  append_escaped(out, value.substr(0, max_bytes), true);
  out += cut ? "'..." : "'";
  return out;
}

std::string printable_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  append_escaped(out, text.substr(0, max_bytes), false);
  if (text.size() > max_bytes) out += "...";
  return out;
}

}  // namespace cellfit
