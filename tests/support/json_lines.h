// A strict reader of JSON lines for tests: Python's json module on strictly
// decoded UTF-8 checks the text, and the members come back byte for byte.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/support/server_process.h"

namespace sluice::testing {

// JsonMember is one member of a parsed JSON object: strings as their
// decoded text, other values as their JSON text.
struct JsonMember {
  std::string key;
  std::string value;
  bool is_string = true;

  bool operator==(const JsonMember&) const = default;
};

inline std::ostream& operator<<(std::ostream& out, const JsonMember& m) {
  return out << m.key << "=" << (m.is_string ? "\"" : "") << absl::CHexEscape(m.value)
             << (m.is_string ? "\"" : "");
}

// Reads JSON lines strictly: the bytes must be valid UTF-8, every line
// (each ending in '\n') one flat JSON object without NaN or Infinity or raw
// control characters. Prints each object's members in order, hex-encoded,
// one a line, with a blank line after each object.
inline constexpr char kStrictJsonLines[] = R"py(
import json, sys
data = sys.stdin.buffer.read().decode("utf-8")
if not data.endswith("\n"):
    sys.exit("the last line does not end in a newline")
def reject(constant):
    raise ValueError("not JSON: " + constant)
for number, line in enumerate(data[:-1].split("\n"), 1):
    try:
        members = json.loads(line, parse_constant=reject, object_pairs_hook=lambda pairs: pairs)
    except ValueError as error:
        sys.exit("line %d is not JSON (%s): %r" % (number, error, line))
    if not line.startswith("{") or not isinstance(members, list):
        sys.exit("line %d is not an object: %r" % (number, line))
    for key, value in members:
        if isinstance(value, list):
            sys.exit("line %d has a nested object: %r" % (number, line))
        kind = "s" if isinstance(value, str) else "r"
        text = value if isinstance(value, str) else json.dumps(value)
        print(key.encode().hex(), kind + text.encode().hex())
    print()
)py";

// ParseJsonLines parses `text` with kStrictJsonLines and returns the members
// of each line's object, in order; fails the test (and returns what it could
// read) when `text` is not valid JSON lines.
inline std::vector<std::vector<JsonMember>> ParseJsonLines(const std::string& text) {
  const RunResult result = RunCommand({"/usr/bin/python3", "-c", kStrictJsonLines}, text);
  EXPECT_EQ(result.exit_code, 0) << result.err << "\n" << text;
  std::vector<std::vector<JsonMember>> objects(1);
  for (absl::string_view line : absl::StrSplit(result.out, '\n')) {
    if (line.empty()) {
      objects.emplace_back();
      continue;
    }
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 2 || parts[1].empty()) {
      ADD_FAILURE() << "unexpected checker output: " << line;
      continue;
    }
    objects.back().push_back({absl::HexStringToBytes(parts[0]),
                              absl::HexStringToBytes(parts[1].substr(1)), parts[1][0] == 's'});
  }
  objects.pop_back();  // after the last blank line
  if (!objects.empty() && objects.back().empty()) objects.pop_back();
  return objects;
}

}  // namespace sluice::testing
