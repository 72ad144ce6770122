// `sluice deploy`: builds specs from flags or a manifest and streams
// artifacts to Functions.Deploy.
#include "cli/deploy_command.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/artifact_file.h"
#include "cli/event_commands.h"
#include "cli/exit_codes.h"
#include "cli/payload.h"
#include "sluice/v1/functions.grpc.pb.h"

namespace sluice::cli {
namespace {

google::protobuf::Duration ToProto(absl::Duration duration) {
  return google::protobuf::util::TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(duration));
}

// OptionalDuration parses an optional positive duration flag: nullopt when
// `text` is empty.
absl::StatusOr<std::optional<google::protobuf::Duration>> OptionalDuration(const std::string& text,
                                                                           absl::string_view flag) {
  if (text.empty()) return std::nullopt;
  absl::StatusOr<absl::Duration> duration = ParsePositiveDuration(text, flag);
  if (!duration.ok()) return duration.status();
  return ToProto(*duration);
}

// RetryFromFlags sets spec.retry from the retry flags; spec.retry stays
// unset when none is given.
absl::Status RetryFromFlags(const DeployFlags& flags, v1::FunctionSpec& spec) {
  const bool any = flags.max_attempts != 0 || !flags.initial_backoff.empty() ||
                   !flags.max_backoff.empty() || flags.backoff_multiplier != 0 ||
                   !flags.retry_on.empty();
  if (!any) return absl::OkStatus();
  v1::RetryPolicy& retry = *spec.mutable_retry();
  retry.set_max_attempts(flags.max_attempts);
  absl::StatusOr<std::optional<google::protobuf::Duration>> initial =
      OptionalDuration(flags.initial_backoff, "--initial-backoff");
  if (!initial.ok()) return initial.status();
  if (initial->has_value()) *retry.mutable_initial_backoff() = **initial;
  absl::StatusOr<std::optional<google::protobuf::Duration>> max =
      OptionalDuration(flags.max_backoff, "--max-backoff");
  if (!max.ok()) return max.status();
  if (max->has_value()) *retry.mutable_max_backoff() = **max;
  if (flags.backoff_multiplier != 0 &&
      !(std::isfinite(flags.backoff_multiplier) && flags.backoff_multiplier > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--backoff-multiplier ", flags.backoff_multiplier, " is not a positive number"));
  }
  retry.set_multiplier(flags.backoff_multiplier);
  for (const std::string& value : flags.retry_on) {
    for (absl::string_view name : absl::StrSplit(value, ',')) {
      name = absl::StripAsciiWhitespace(name);
      const std::optional<v1::RetryOn> outcome =
          RetryOnFromName(std::string_view(name.data(), name.size()));
      if (!outcome.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--retry-on \"", name, "\" is not an outcome (use ", kRetryOnChoices, ")"));
      }
      if (std::find(retry.retry_on().begin(), retry.retry_on().end(), *outcome) ==
          retry.retry_on().end()) {
        retry.add_retry_on(*outcome);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ManifestEntry> EntryFromFlags(const DeployFlags& flags) {
  if (flags.name.empty()) {
    return absl::InvalidArgumentError("deploy needs a function NAME (or -f MANIFEST)");
  }
  if (flags.artifact.empty()) {
    return absl::InvalidArgumentError("deploy needs --artifact FILE (or -f MANIFEST)");
  }
  ManifestEntry entry;
  entry.artifact_path = flags.artifact;
  v1::FunctionSpec& spec = entry.spec;
  spec.set_name(flags.name);
  const std::optional<v1::Runtime> runtime = RuntimeFromName(flags.runtime);
  if (!runtime.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--runtime \"", flags.runtime, "\" is not a runtime (use native, lambda or exec)"));
  }
  spec.set_runtime(*runtime);
  spec.set_entry_point(flags.entry_point);
  spec.set_handler(flags.handler);
  spec.set_concurrency(flags.concurrency);
  spec.set_max_queue(flags.max_queue);
  if (!flags.timeout.empty()) {
    absl::StatusOr<absl::Duration> timeout = ParsePositiveDuration(flags.timeout, "--timeout");
    if (!timeout.ok()) return timeout.status();
    *spec.mutable_timeout() = ToProto(*timeout);
  }
  absl::StatusOr<std::map<std::string, std::string>> env = ParseKeyValues(flags.env, "--env");
  if (!env.ok()) return env.status();
  spec.mutable_env()->insert(env->begin(), env->end());
  if (!flags.isolation.empty()) {
    const std::optional<v1::Isolation> isolation = IsolationFromName(flags.isolation);
    if (!isolation.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--isolation \"", flags.isolation, "\" is not an isolation (use none or process)"));
    }
    spec.set_isolation(*isolation);
  }
  spec.set_memory_mb(flags.memory_mb);
  spec.set_min_warm(flags.min_warm);
  if (!flags.idle_timeout.empty()) {
    absl::StatusOr<absl::Duration> idle_timeout =
        ParsePositiveDuration(flags.idle_timeout, "--idle-timeout");
    if (!idle_timeout.ok()) return idle_timeout.status();
    *spec.mutable_idle_timeout() = ToProto(*idle_timeout);
  }
  spec.set_max_open_files(flags.max_open_files);
  spec.set_description(flags.description);
  if (absl::Status status = RetryFromFlags(flags, spec); !status.ok()) return status;
  absl::StatusOr<std::optional<google::protobuf::Duration>> max_event_age =
      OptionalDuration(flags.max_event_age, "--max-event-age");
  if (!max_event_age.ok()) return max_event_age.status();
  if (max_event_age->has_value()) *spec.mutable_max_event_age() = **max_event_age;
  spec.set_on_success(flags.on_success);
  spec.set_on_failure(flags.on_failure);
  return entry;
}

// Upload runs one Deploy stream. On failure reports and returns the exit
// code; on success fills `response`.
int Upload(v1::Functions::Stub& stub, const ManifestEntry& entry, const ClientConfig& config,
           Console& console, v1::DeployResponse& response) {
  absl::StatusOr<ArtifactDigest> digest = DigestArtifact(entry.artifact_path);
  if (!digest.ok()) {
    return ReportError(absl::StrCat(entry.spec.name(), ": artifact ", digest.status().message()),
                       kExitUsage, console);
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientWriter<v1::DeployRequest>> stream = stub.Deploy(&context, &response);
  v1::DeployRequest request;
  v1::DeploySpec& deploy_spec = *request.mutable_spec();
  *deploy_spec.mutable_spec() = entry.spec;
  deploy_spec.set_sha256(digest->sha256);
  deploy_spec.set_artifact_size(digest->size);
  bool open = stream->Write(request);
  absl::Status read;
  if (open) {
    read = ForEachChunk(entry.artifact_path, kArtifactChunkBytes, [&](absl::string_view chunk) {
      v1::DeployRequest chunk_request;
      chunk_request.set_chunk(chunk.data(), chunk.size());
      open = stream->Write(chunk_request);
      return open;
    });
  }
  if (!read.ok() && !absl::IsCancelled(read)) {
    // The file changed under us; abandon the stream so nothing is deployed.
    context.TryCancel();
    stream->Finish();
    return ReportError(absl::StrCat(entry.spec.name(), ": artifact ", read.message()), kExitUsage,
                       console);
  }
  if (open) stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return ReportRpcFailure(status, context, config, console,
                            absl::StrCat("deploying ", entry.spec.name()));
  }
  return kExitOk;
}

}  // namespace

absl::StatusOr<std::vector<ManifestEntry>> DeployEntries(const DeployFlags& flags) {
  if (flags.manifest.empty()) {
    absl::StatusOr<ManifestEntry> entry = EntryFromFlags(flags);
    if (!entry.ok()) return entry.status();
    return std::vector<ManifestEntry>{*std::move(entry)};
  }
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(flags.manifest);
  if (!entries.ok() || flags.name.empty()) return entries;
  for (ManifestEntry& entry : *entries) {
    if (entry.spec.name() == flags.name) return std::vector<ManifestEntry>{std::move(entry)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flags.manifest, ": has no function named \"", flags.name, "\""));
}

int RunDeploy(const DeployFlags& flags, const ClientConfig& config, Console& console) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  if (!entries.ok()) return ReportError(entries.status().message(), kExitUsage, console);
  v1::Functions::Stub stub(OpenChannel(config.server));
  for (const ManifestEntry& entry : *entries) {
    v1::DeployResponse response;
    if (const int code = Upload(stub, entry, config, console, response); code != kExitOk) {
      return code;
    }
    if (config.format == OutputFormat::kJson) {
      if (const int code = PrintJson(response, console); code != kExitOk) return code;
    } else {
      console.out << "deployed " << response.function().spec().name() << " version "
                  << response.function().version() << " sha256 " << response.function().sha256()
                  << std::endl;
    }
  }
  if (flags.manifest.empty() || !flags.name.empty()) return kExitOk;
  // The whole manifest: its triggers too, replacing those of the same names.
  absl::StatusOr<Manifest> manifest = LoadManifestFile(flags.manifest);
  if (!manifest.ok()) return ReportError(manifest.status().message(), kExitUsage, console);
  for (v1::Trigger& trigger : manifest->triggers) {
    if (const int code = SaveTrigger(std::move(trigger), /*replace=*/true, config, console);
        code != kExitOk) {
      return code;
    }
  }
  return kExitOk;
}

}  // namespace sluice::cli
