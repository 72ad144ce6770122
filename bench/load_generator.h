// LoadGenerator: drives the sluice.v1.Invocations API (of `sluice serve` or
// of the bare echo server) with a closed or an open loop of unary calls and
// reports latency percentiles, throughput and errors by status code.
//
// Closed loop: `connections` channels (separate TCP connections), each with
// `streams` calls outstanding; a call that ends is replaced at once. Open
// loop: calls are sent at a fixed `rate` over all connections, whatever the
// server's answers, and each call's latency counts from its *intended* send
// time, so a stalled server shows up as latency instead of a slower sender
// (no coordinated omission).
//
// Only calls that start (are due to start, in the open loop) inside the
// measured window — after the warm-up, for `duration` — are counted.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sluice::bench {

struct LoadOptions {
  std::string target;  // host:port
  enum class Method { kInvoke, kInvokeAsync };
  Method method = Method::kInvoke;
  std::string function = "echo";
  size_t payload_bytes = 100;
  // The payload is a JSON string of `payload_bytes` bytes ("xx…x"), for
  // functions that read JSON events (lambda runtimes); else raw bytes.
  bool json_payload = false;
  enum class Mode { kClosed, kOpen };
  Mode mode = Mode::kClosed;
  int connections = 1;
  int streams = 1;     // closed loop: outstanding calls per connection
  double rate = 1000;  // open loop: calls per second over all connections
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(5);
  absl::Duration call_deadline = absl::Seconds(30);
  // Open loop: a call due while this many are outstanding is not sent and
  // counts as error "CLIENT_BACKLOG" (the client would only queue it).
  int max_outstanding = 100000;
};

struct LoadReport {
  double seconds = 0;        // the measured window
  uint64_t ok = 0;           // calls answered OK
  double ok_per_second = 0;  // ok / seconds
  // Latencies of the OK calls.
  absl::Duration p50, p90, p99, p999, max;
  // Failed calls by gRPC status code name ("UNAVAILABLE", ...).
  std::map<std::string, uint64_t> errors;
};

// RunLoad runs the load described by `options` and blocks until it is done
// (warm-up, window, and the calls still outstanding, at most one call
// deadline more). INVALID_ARGUMENT for options out of range; UNAVAILABLE
// when the target cannot be reached at all.
absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options);

// ReportJson renders `report` as one line of JSON (times in microseconds).
std::string ReportJson(const LoadReport& report);

}  // namespace sluice::bench
