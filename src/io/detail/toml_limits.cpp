#include "io/detail/toml_limits.hpp"

#include <algorithm>
#include <vector>

#include "common/error.hpp"
#include "common/quote.hpp"

namespace cellfit::detail {

namespace {

// One pass over the text. Levels: a key's value sits at (the level of the table it is in) +
// (the parts of its dotted key); an array's elements one level below the array; a
// [table.header] at its number of parts. toml11 recurses once per array or inline table,
// so bounding these levels bounds its stack; dotted keys count too because the documents
// they build are destroyed and compared recursively.
class limit_scanner {
 public:
  limit_scanner(std::string_view text, const std::string& name, int base_level)
      : text_(text), name_(name), base_level_(base_level), header_level_(base_level) {
    cli_ = name.rfind("--set", 0) == 0;
  }

  void run(toml_text kind) {
    if (kind == toml_text::value) {
      ctx_ = context::value;
      value_level_ = base_level_;
      check_level(value_level_);
    }
    while (i_ < text_.size()) {
      const char c = text_[i_];
      if (c == '\n') {
        newline();
        ++i_;
        continue;
      }
      if (c == '#') {  // a comment runs to the end of the line
        while (i_ < text_.size() && text_[i_] != '\n') ++i_;
        continue;
      }
      if (c == '"' || c == '\'') {
        if (ctx_ == context::key && key_parts_ == 0) key_parts_ = 1;
        skip_string(c);
        continue;
      }
      switch (ctx_) {
        case context::key:
          key_char(c);
          break;
        case context::header:
          header_char(c);
          break;
        case context::value:
          value_char(c);
          break;
      }
      ++i_;
    }
    check_line_length(text_.size());
  }

 private:
  enum class context { key, header, value };
  struct frame {
    char close;  // ']' array, '}' inline table
    int level;   // array: its elements' level; inline table: its own
  };

  [[noreturn]] void fail(const std::string& what) const {
    std::string where = name_;
    if (!cli_) where += ":" + std::to_string(line_);
    const std::string_view line = text_.substr(line_start_);
    throw config_error("cellfit::config: " + where + ": " + what + ": " +
                       quote_value(line.substr(0, line.find('\n'))));
  }

  void check_level(int level) const {
    if (level > max_config_nesting) {
      fail("nesting deeper than " + std::to_string(max_config_nesting) + " levels");
    }
  }

  void check_line_length(std::size_t end) const {
    if (end - line_start_ > max_config_line_bytes) {
      fail("line longer than " + std::to_string(max_config_line_bytes) + " bytes");
    }
  }

  void newline(bool in_string = false) {
    check_line_length(i_);
    ++line_;
    line_start_ = i_ + 1;
    if (stack_.empty() && !in_string) {  // a top-level line starts with a key or a [table] header
      ctx_ = context::key;
      key_parts_ = 0;
    }
  }

  int table_level() const { return stack_.empty() ? header_level_ : stack_.back().level; }

  void key_char(char c) {
    if (c == ' ' || c == '\t' || c == '\r') return;
    if (c == '[' && key_parts_ == 0 && stack_.empty()) {  // [table] or [[array.of.tables]]
      if (i_ + 1 < text_.size() && text_[i_ + 1] == '[') ++i_;
      ctx_ = context::header;
      key_parts_ = 1;
      return;
    }
    if (c == '.') {
      key_parts_ = std::max(key_parts_, 1) + 1;
      check_level(table_level() + key_parts_);
      return;
    }
    if (c == '=') {
      value_level_ = table_level() + std::max(key_parts_, 1);
      check_level(value_level_);
      ctx_ = context::value;
      return;
    }
    if (c == '}') {  // an empty inline table, or one ending after a comma
      close('}');
      return;
    }
    if (key_parts_ == 0) key_parts_ = 1;
  }

  void header_char(char c) {
    if (c == '.') {
      ++key_parts_;
      check_level(base_level_ + key_parts_);
    } else if (c == ']') {
      header_level_ = base_level_ + key_parts_;
      check_level(header_level_);
      if (i_ + 1 < text_.size() && text_[i_ + 1] == ']') ++i_;
      ctx_ = context::value;  // the rest of the line: nothing valid follows a header
    }
  }

  void value_char(char c) {
    switch (c) {
      case '[':
        check_level(value_level_ + 1);
        stack_.push_back({']', value_level_ + 1});
        value_level_ = stack_.back().level;
        break;
      case '{':
        stack_.push_back({'}', value_level_});
        ctx_ = context::key;
        key_parts_ = 0;
        break;
      case ',':
        if (!stack_.empty() && stack_.back().close == ']') {
          value_level_ = stack_.back().level;
        } else if (!stack_.empty()) {
          ctx_ = context::key;
          key_parts_ = 0;
        }
        break;
      case ']':
      case '}':
        close(c);
        break;
      default:
        break;
    }
  }

  // A closing bracket that matches the innermost open one closes it; any other is a syntax
  // error toml11 reports, and is ignored here (the levels never drop too early).
  void close(char c) {
    if (stack_.empty() || stack_.back().close != c) return;
    stack_.pop_back();
    ctx_ = context::value;
    if (!stack_.empty() && stack_.back().close == ']') value_level_ = stack_.back().level;
  }

  // Skips a basic ("), literal ('), multi-line basic (""") or multi-line literal (''')
  // string starting at i_. A single-line string also ends at a newline (toml11 refuses it).
  void skip_string(char q) {
    const bool multi = text_.compare(i_, 3, std::string(3, q)) == 0;
    i_ += multi ? 3 : 1;
    while (i_ < text_.size()) {
      const char c = text_[i_];
      if (c == '\n') {
        if (!multi) return;
        newline(true);
        ++i_;
        continue;
      }
      if (c == '\\' && q == '"') {
        ++i_;
        if (i_ < text_.size() && text_[i_] == '\n') newline(true);
        if (i_ < text_.size()) ++i_;
        continue;
      }
      if (c == q) {
        if (!multi) {
          ++i_;
          return;
        }
        if (text_.compare(i_, 3, std::string(3, q)) == 0) {
          i_ += 3;
          // Up to two more quotes belong to the content: """a"""" is a".
          for (int extra = 0; extra < 2 && i_ < text_.size() && text_[i_] == q; ++extra) ++i_;
          return;
        }
      }
      ++i_;
    }
  }

  std::string_view text_;
  const std::string& name_;
  int base_level_;
  bool cli_ = false;
  std::size_t i_ = 0;
  int line_ = 1;
  std::size_t line_start_ = 0;
  context ctx_ = context::key;
  std::vector<frame> stack_;
  int header_level_;     // the current [table]'s level
  int key_parts_ = 0;    // parts of the key being read; 0: none yet
  int value_level_ = 0;  // the level of the next value
};

}  // namespace

void check_toml_limits(std::string_view text, const std::string& name, toml_text kind,
                       int base_level) {
  if (text.size() > max_config_bytes) {
    // Named at the line where the text passes the limit.
    std::string where = name;
    if (name.rfind("--set", 0) != 0) {
      const auto lines = std::count(text.begin(), text.begin() + max_config_bytes, '\n');
      where += ":" + std::to_string(lines + 1);
    }
    throw config_error("cellfit::config: " + where + ": larger than " +
                       std::to_string(max_config_bytes) + " bytes, the limit for a config");
  }
  limit_scanner(text, name, base_level).run(kind);
}

}  // namespace cellfit::detail
