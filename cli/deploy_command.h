// `sluice deploy`: upload functions from flags or from a manifest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/client.h"
#include "cli/console.h"
#include "runtime/manifest.h"

namespace sluice::cli {

// DeployFlags are the flags of `sluice deploy`. Either `manifest` is set
// (and `name`, when set, picks one function of it), or `name` and `artifact`
// with the optional spec fields.
struct DeployFlags {
  std::string name;
  std::string manifest;
  std::string artifact;
  std::string runtime = "native";  // native, lambda or exec
  std::string entry_point;
  std::string handler;           // _HANDLER of lambda functions
  uint32_t concurrency = 0;      // 0: the server's default
  uint32_t max_queue = 0;        // 0: the server's default
  std::string timeout;           // empty: the server's default
  std::vector<std::string> env;  // KEY=VALUE
  std::string isolation;         // none or process; empty: the server's default
  uint32_t memory_mb = 0;        // 0: the server's default
  uint32_t min_warm = 0;         // 0 is also the server's default
  std::string idle_timeout;      // empty: the server's default
  uint32_t max_open_files = 0;   // 0: the server's default
  std::string description;
  // Retry policy; zero or empty values keep the server's defaults.
  uint32_t max_attempts = 0;
  std::string initial_backoff;        // duration
  std::string max_backoff;            // duration
  double backoff_multiplier = 0;      // 0: the server's default
  std::vector<std::string> retry_on;  // each one outcome or a comma list
  std::string max_event_age;          // duration
  std::string on_success;             // destination function
  std::string on_failure;             // destination function
};

// DeployEntries turns the flags into the functions to deploy, in order.
// INVALID_ARGUMENT for missing or malformed flags, a bad manifest, or a name
// the manifest lacks; NOT_FOUND when the manifest file does not exist.
// Nothing is read from the artifact files.
absl::StatusOr<std::vector<ManifestEntry>> DeployEntries(const DeployFlags& flags);

// RunDeploy deploys every entry, one Deploy stream each (the spec with the
// artifact's SHA-256 and size, then 1 MiB chunks), and prints
// "deployed NAME version N sha256 HASH" per function (JSON: the
// DeployResponse). Stops at the first failure. Returns the exit code.
int RunDeploy(const DeployFlags& flags, const ClientConfig& config, Console& console);

}  // namespace sluice::cli
