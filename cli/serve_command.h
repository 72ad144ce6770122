// `sluice serve`: run the whole server in this process.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "cli/console.h"
#include "gateway/server.h"

namespace sluice::cli {

// ServeFunction runs a server until it stops; sluice::RunServer in the
// binary, a fake in tests.
using ServeFunction = std::function<absl::Status(const ServerOptions& options)>;

// ServeDurationFlags are the duration flags of `sluice serve` as typed, e.g.
// "30s"; empty keeps the ServerOptions default.
struct ServeDurationFlags {
  std::string shutdown_grace;       // zero or positive
  std::string retention;            // positive
  std::string event_dedupe_window;  // positive
};

// ApplyServeDurations parses `flags` into `options`. INVALID_ARGUMENT naming
// the flag when a value is not a duration or out of range; `options` is then
// unchanged.
absl::Status ApplyServeDurations(const ServeDurationFlags& flags, ServerOptions& options);

// ServeLogFlags are the logging flags of `sluice serve` as typed; empty
// keeps the ServerOptions default (text, info).
struct ServeLogFlags {
  std::string format;  // --log-format: json or text
  std::string level;   // --log-level: debug, info, warn or error
};

// ApplyServeLogFlags parses `flags` into `options`. INVALID_ARGUMENT naming
// the flag and its allowed values when a value is not one of them; `options`
// is then unchanged.
absl::Status ApplyServeLogFlags(const ServeLogFlags& flags, ServerOptions& options);

// RunServe calls `serve` with `options`. Returns 0 when it stops cleanly;
// otherwise prints "error: <message>" on console.err and returns 1.
int RunServe(const ServerOptions& options, const ServeFunction& serve, Console& console);

}  // namespace sluice::cli
