// Small helpers shared by the benchmarks.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::bench {

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

}  // namespace sluice::bench
