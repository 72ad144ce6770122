// Server: everything `sluice serve` runs in one process: the gRPC gateway,
// the function registry, the store, the dispatcher and executors, and the
// metrics endpoint.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "monitoring/log.h"

namespace sluice {

struct ServerOptions {
  // gRPC listen address; port 0 picks a free port.
  std::string listen = "127.0.0.1:50051";
  // Prometheus /metrics listen address; port 0 picks a free port.
  std::string metrics_listen = "127.0.0.1:9464";
  // RocksDB store, artifacts and temporary uploads live here.
  std::string data_dir = "./sluice-data";
  // Largest invocation payload accepted.
  size_t max_payload_bytes = 6 * 1024 * 1024;
  // Largest artifact accepted by Deploy.
  size_t max_artifact_bytes = 64 * 1024 * 1024;
  // Threads that run invocations; bounds how many run at once in total.
  int executor_threads = 64;
  // When set, written once serving with {"grpc_port": P, "metrics_port": M}
  // (written to a temporary name, then renamed).
  std::string ready_file;
  // Manifests deployed at start-up; a function whose spec and artifact
  // equal its latest version is left as it is.
  std::vector<std::string> manifests;
  // cgroup v2 directory under which worker processes get a cgroup with
  // memory.max. "auto": this process's own cgroup when cgroup v2 is mounted
  // and writable; "": none (memory is limited with RLIMIT_AS).
  std::string cgroup_root = "auto";
  // Lines of output kept per function for `sluice logs`.
  size_t log_lines = 1000;
  // Invocations waiting in all queues together before new ones are refused.
  size_t max_queued_total = 100000;
  // On SIGTERM, how long running attempts may take to finish before the
  // process exits anyway (a second SIGTERM exits at once).
  absl::Duration shutdown_grace = absl::Seconds(30);
  // Finished background invocations (and their idempotency keys) are kept
  // this long after they finish, then deleted.
  absl::Duration retention = absl::Hours(72);
  // A published event whose (source, id) was published within this long
  // before is dropped as a duplicate.
  absl::Duration event_dedupe_window = absl::Hours(24);
  // The gRPC callback endpoints that destinations ("grpc://HOST:PORT") may
  // name: HOST:PORT patterns, HOST a name, "*" or "*.SUFFIX" and PORT a
  // number or "*" (see CallbackAllowlist). Empty: none.
  std::vector<std::string> callback_allow;
  // How the server's own log lines (standard error) are written, and the
  // least severe level written. Function output is logged at info.
  LogFormat log_format = LogFormat::kText;
  LogLevel log_level = LogLevel::kInfo;
};

// RunServer first configures the default logger (ConfigureLogging) with
// `log_format` and `log_level`, then serves until SIGINT or SIGTERM, then
// drains: health turns NOT_SERVING, new invocations get UNAVAILABLE,
// running attempts finish within `shutdown_grace`, queued background
// invocations stay PENDING in the store; then it stops and returns OK. A
// second signal, or the grace running out, forces the exit: worker
// processes are killed and the process exits at once with status 3; the
// interrupted attempts run again after a restart.
// Returns an error when start-up fails (store cannot be opened, address in
// use, bad manifest), with a message fit for the command line.
absl::Status RunServer(const ServerOptions& options);

}  // namespace sluice
