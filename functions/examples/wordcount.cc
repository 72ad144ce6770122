// wordcount: counts the whitespace-separated words of its input and answers
// {"words": N, "lines": L, "bytes": B}.
#include <cctype>
#include <string>

#include <sluice/function.hpp>

namespace {
sluice::Result WordCount(sluice::Context&, std::string_view input) {
  size_t words = 0, lines = 0;
  bool in_word = false;
  for (unsigned char c : input) {
    if (c == '\n') ++lines;
    if (std::isspace(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++words;
    }
  }
  return sluice::Result::Ok("{\"words\": " + std::to_string(words) +
                            ", \"lines\": " + std::to_string(lines) +
                            ", \"bytes\": " + std::to_string(input.size()) + "}");
}
}  // namespace

SLUICE_FUNCTION(WordCount)
