// Validation and defaults of FunctionSpec, shared by the API and manifests.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sluice/v1/functions.pb.h"

namespace sluice {

inline constexpr uint32_t kDefaultConcurrency = 4;
inline constexpr uint32_t kMaxConcurrency = 1024;
inline constexpr uint32_t kDefaultMaxQueue = 1000;
inline constexpr uint32_t kMaxMaxQueue = 1000000;
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);
inline constexpr absl::Duration kMaxTimeout = absl::Minutes(15);
inline constexpr char kDefaultEntryPoint[] = "sluice_function_invoke";
inline constexpr uint32_t kDefaultMemoryMb = 512;
inline constexpr uint32_t kMaxMemoryMb = 65536;
inline constexpr absl::Duration kDefaultIdleTimeout = absl::Minutes(5);
inline constexpr uint32_t kDefaultMaxOpenFiles = 1024;
inline constexpr uint32_t kMaxMaxOpenFiles = 1048576;

// ValidateFunctionName: INVALID_ARGUMENT unless `name` is 1-63 characters of
// [a-z0-9-], starting with a letter and not ending with '-'. The message
// names `field`.
absl::Status ValidateFunctionName(const std::string& name, const std::string& field = "name");

// NormalizeFunctionSpec checks every field of `spec` and fills in defaults
// (runtime native, entry point, concurrency, max_queue, timeout, isolation
// process, memory, idle timeout, open files).
// INVALID_ARGUMENT naming the first bad field, e.g. "spec.concurrency: 0 ...".
absl::Status NormalizeFunctionSpec(v1::FunctionSpec& spec);

// TimeoutOf returns the spec's timeout as an absl::Duration.
absl::Duration TimeoutOf(const v1::FunctionSpec& spec);

// IdleTimeoutOf returns the spec's idle timeout as an absl::Duration.
absl::Duration IdleTimeoutOf(const v1::FunctionSpec& spec);

}  // namespace sluice
