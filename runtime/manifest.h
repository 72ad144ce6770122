// Manifest: the `sluice.yaml` file that declares functions and where their
// artifacts are, read by `sluice serve -f` and `sluice deploy -f`.
//
// Format (one file, many functions):
//
//   functions:
//     - name: echo
//       runtime: native                 # required: native, lambda or exec
//       artifact: ../build/libecho.so   # required; relative to the manifest
//       entry_point: sluice_function_invoke   # optional
//       handler: function.handler       # optional; _HANDLER of lambda functions
//       concurrency: 8                  # optional, positive integer
//       max_queue: 1000                 # optional, positive integer
//       timeout: 10s                    # optional, duration: 500ms, 10s, 1m30s
//       isolation: process              # optional: none or process
//       memory_mb: 512                  # optional, positive integer
//       min_warm: 1                     # optional, non-negative integer
//       idle_timeout: 5m                # optional, duration
//       max_open_files: 1024            # optional, positive integer
//       description: "..."              # optional
//       env: {KEY: value}               # optional, string values
//       retry:                          # optional: retries of background attempts
//         max_attempts: 5               #   optional, positive integer (first included)
//         initial_backoff: 500ms        #   optional, duration
//         max_backoff: 1m               #   optional, duration
//         multiplier: 2                 #   optional, positive number
//         retry_on: [function-error, crash, timeout, lease-lost]  # optional
//       max_event_age: 1h               # optional, duration
//       on_success: notify              # optional, a function name
//       on_failure: alert               # optional, a function name
//
//   triggers:                           # optional: how work reaches functions
//     - name: new-orders                # required
//       function: notify                # required
//       priority: high                  # optional: low, normal, high, critical
//       topic: orders                   # an event trigger: topic and/or type
//       type: com.example.order.created
//       filters:                        # optional; each exact, prefix or suffix
//         - {attribute: subject, prefix: "eu/"}
//       match: all                      # optional: all (default) or any filter
//     - name: nightly
//       function: report
//       schedule: "0 2 * * *"           # a schedule: a cron expression
//       time_zone: Europe/Berlin        # optional, IANA name; default UTC
//       missed: skip                    # optional: skip or catch-up-once
//       payload: '{"kind":"nightly"}'   # optional; default names the trigger
//     - name: create-order
//       function: create-order
//       route: /shop.v1.Orders/Create   # a gRPC method route
//
// The parser checks the manifest's syntax: known keys, types, durations,
// required fields and unique names. Fields it leaves unset keep their proto
// defaults; ranges and name rules are checked by NormalizeFunctionSpec
// (runtime/function_spec.h) when the spec is deployed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/v1/events.pb.h"
#include "sluice/v1/functions.pb.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice {

// ManifestEntry is one function of a manifest.
struct ManifestEntry {
  v1::FunctionSpec spec;
  // The artifact's path: absolute if the manifest gave one, otherwise the
  // manifest's path joined onto base_dir, lexically normalized. The file is
  // not opened or checked for existence.
  std::string artifact_path;
};

// Manifest is a whole manifest file: its functions and its triggers.
struct Manifest {
  std::vector<ManifestEntry> functions;
  std::vector<v1::Trigger> triggers;
};

// ParseManifestFile parses the text of a manifest, as ParseManifest does,
// and its triggers list: known keys, one kind per trigger, filters with one
// match each, enum spellings and unique names. Trigger names, functions,
// cron syntax and route methods are checked when the triggers are created
// (TriggerRegistry::Create).
absl::StatusOr<Manifest> ParseManifestFile(std::string_view yaml, const std::string& base_dir);

// LoadManifestFile reads and parses the manifest at `path`, with the errors
// of LoadManifest.
absl::StatusOr<Manifest> LoadManifestFile(const std::string& path);

// ParseManifest parses the text of a manifest. Relative artifact paths are
// resolved against `base_dir` (empty: left relative to the working
// directory). Returns the functions in file order.
//
// INVALID_ARGUMENT when the text is not YAML (the message gives line and
// column) or breaks a rule of the format; the message names the field path
// and the problem, e.g. `functions[1].timeout: "10x" is not a duration (use
// 500ms, 10s, 1m)`. Never throws.
absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(std::string_view yaml,
                                                         const std::string& base_dir);

// LoadManifest reads and parses the manifest at `path`; relative artifact
// paths are resolved against the directory holding it. NOT_FOUND when the
// file does not exist; INVALID_ARGUMENT as for ParseManifest. Every error
// message starts with "<path>: ".
absl::StatusOr<std::vector<ManifestEntry>> LoadManifest(const std::string& path);

// RuntimeFromName returns the runtime that manifests and the command line
// spell `name`: "native", "lambda" or "exec". nullopt for anything else.
std::optional<v1::Runtime> RuntimeFromName(std::string_view name);

// RuntimeNameOf is the inverse of RuntimeFromName; nullopt for
// RUNTIME_UNSPECIFIED and values this build does not know.
std::optional<std::string_view> RuntimeNameOf(v1::Runtime runtime);

// IsolationFromName returns the isolation that manifests and the command
// line spell `name`: "none" or "process". nullopt for anything else.
std::optional<v1::Isolation> IsolationFromName(std::string_view name);

// IsolationNameOf is the inverse of IsolationFromName; nullopt for
// ISOLATION_UNSPECIFIED and values this build does not know.
std::optional<std::string_view> IsolationNameOf(v1::Isolation isolation);

// PriorityFromName returns the priority that manifests and the command line
// spell `name`: "low", "normal", "high" or "critical". nullopt for anything
// else.
std::optional<v1::Priority> PriorityFromName(std::string_view name);

// PriorityNameOf is the inverse of PriorityFromName; nullopt for
// PRIORITY_UNSPECIFIED and values this build does not know.
std::optional<std::string_view> PriorityNameOf(v1::Priority priority);

// kRetryOnChoices lists the spellings of retry outcomes, for messages.
inline constexpr char kRetryOnChoices[] = "function-error, crash, timeout or lease-lost";

// RetryOnFromName returns the retry outcome that manifests and the command
// line spell `name`: "function-error", "crash", "timeout" or "lease-lost".
// nullopt for anything else.
std::optional<v1::RetryOn> RetryOnFromName(std::string_view name);

// RetryOnNameOf is the inverse of RetryOnFromName; nullopt for
// RETRY_ON_UNSPECIFIED and values this build does not know.
std::optional<std::string_view> RetryOnNameOf(v1::RetryOn outcome);

}  // namespace sluice
