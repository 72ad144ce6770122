// Small helpers shared by the benchmarks.
#pragma once

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace sluice::bench {

// Die prints "<program>: <message>" to stderr and exits with status 1.
[[noreturn]] inline void Die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
  std::exit(1);
}

// Median of `v` (the upper one of an even count); 0 for none.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// BuildDir is the build tree this benchmark binary lives in (bench/..),
// where the `sluice` binary and the example functions are.
inline std::string BuildDir() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return std::filesystem::path(std::string(path, n > 0 ? n : 0)).parent_path().parent_path();
}

// Metrics is one scrape of a Prometheus text exposition.
class Metrics {
 public:
  explicit Metrics(const std::string& text) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (line.empty() || line[0] == '#') continue;
      const size_t space = line.rfind(' ');
      if (space == absl::string_view::npos) continue;
      double value = 0;
      if (!absl::SimpleAtod(line.substr(space + 1), &value)) continue;
      samples_.emplace_back(std::string(line.substr(0, space)), value);
    }
  }

  // Sum adds up the samples of metric `name` whose labels include every
  // `name="value"` pair in `labels`; nullopt when the metric is absent.
  std::optional<double> Sum(const std::string& name,
                            const std::vector<std::string>& labels = {}) const {
    std::optional<double> sum;
    for (const auto& [series, value] : samples_) {
      const size_t brace = series.find('{');
      if (series.substr(0, brace) != name) continue;
      bool match = true;
      for (const std::string& label : labels) {
        if (series.find(label) == std::string::npos) match = false;
      }
      if (match) sum = sum.value_or(0) + value;
    }
    return sum;
  }

 private:
  std::vector<std::pair<std::string, double>> samples_;
};

}  // namespace sluice::bench
