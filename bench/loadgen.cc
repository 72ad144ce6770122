// loadgen: a gRPC load generator for the sluice.v1.Invocations API (of
// `sluice serve` or the bare echo_server); see bench/load_generator.h.
//
//   loadgen --target HOST:PORT [--method invoke|invoke-async] [--function F]
//           [--payload-bytes N] [--mode closed|open] [--connections C]
//           [--streams S] [--rate R] [--warmup SECONDS] [--duration SECONDS]
//           [--json-payload] [--json]
//
// --json-payload sends the payload as a JSON string of that many bytes (for
// lambda functions, whose events are JSON). Prints throughput, latency percentiles and errors by
// status code; with
// --json, one line of JSON (latencies in microseconds).
#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "bench/load_generator.h"
#include "gateway/server_settings.h"

namespace {

using sluice::bench::Die;
using sluice::bench::LoadOptions;

double Seconds(const char* value) {
  double seconds = 0;
  if (!absl::SimpleAtod(value, &seconds) || seconds < 0) Die(absl::StrCat("bad seconds: ", value));
  return seconds;
}

int Int(const char* value) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n)) Die(absl::StrCat("bad number: ", value));
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::ApplyProcessSettings();  // the client is as lean as the servers it drives
  LoadOptions options;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") {
      json = true;
      continue;
    }
    if (flag == "--json-payload") {
      options.json_payload = true;
      continue;
    }
    if (i + 1 >= argc) Die("missing value for " + flag);
    const char* value = argv[++i];
    const std::string v = value;
    if (flag == "--target") {
      options.target = v;
    } else if (flag == "--method" && (v == "invoke" || v == "invoke-async")) {
      options.method =
          v == "invoke" ? LoadOptions::Method::kInvoke : LoadOptions::Method::kInvokeAsync;
    } else if (flag == "--function") {
      options.function = v;
    } else if (flag == "--payload-bytes") {
      options.payload_bytes = static_cast<size_t>(Int(value));
    } else if (flag == "--mode" && (v == "closed" || v == "open")) {
      options.mode = v == "closed" ? LoadOptions::Mode::kClosed : LoadOptions::Mode::kOpen;
    } else if (flag == "--connections") {
      options.connections = Int(value);
    } else if (flag == "--streams") {
      options.streams = Int(value);
    } else if (flag == "--rate") {
      options.rate = Seconds(value);
    } else if (flag == "--warmup") {
      options.warmup = absl::Seconds(Seconds(value));
    } else if (flag == "--duration") {
      options.duration = absl::Seconds(Seconds(value));
    } else {
      Die("unknown flag or value: " + flag + " " + v);
    }
  }
  if (options.target.empty()) Die("--target HOST:PORT is required");
  absl::StatusOr<sluice::bench::LoadReport> report = sluice::bench::RunLoad(options);
  if (!report.ok()) Die(report.status().ToString());
  if (json) {
    std::printf("%s\n", sluice::bench::ReportJson(*report).c_str());
    return 0;
  }
  std::printf("%.0f calls/s (%lu OK in %.1f s)\n", report->ok_per_second, report->ok,
              report->seconds);
  std::printf("latency p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us\n",
              absl::ToDoubleMicroseconds(report->p50), absl::ToDoubleMicroseconds(report->p90),
              absl::ToDoubleMicroseconds(report->p99), absl::ToDoubleMicroseconds(report->p999),
              absl::ToDoubleMicroseconds(report->max));
  for (const auto& [code, count] : report->errors)
    std::printf("errors %s: %lu\n", code.c_str(), count);
  return 0;
}
