#include "runtime/destination.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/function_spec.h"
#include "runtime/proto_time.h"

namespace sluice {
namespace {

const std::string kNone;

// SplitHostPort splits "HOST:PORT" at its last colon; false when there is
// none or either side is empty.
bool SplitHostPort(absl::string_view host_port, absl::string_view& host, absl::string_view& port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == host_port.size()) {
    return false;
  }
  host = host_port.substr(0, colon);
  port = host_port.substr(colon + 1);
  return true;
}

bool IsPort(absl::string_view port) {
  uint32_t value = 0;
  return absl::SimpleAtoi(port, &value) && value >= 1 && value <= 65535 &&
         absl::ascii_isdigit(static_cast<unsigned char>(port[0]));
}

// IsHost: a DNS name or IPv4 address ([A-Za-z0-9.-], at most 253), or an
// IPv6 address in brackets.
bool IsHost(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    absl::string_view address = host.substr(1, host.size() - 2);
    return !address.empty() && std::all_of(address.begin(), address.end(), [](char c) {
      return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  }
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
  });
}

}  // namespace

absl::Status ValidateTopic(absl::string_view topic, absl::string_view field) {
  if (topic.size() > kMaxTopicBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", topic.size(), " characters is over the limit of ", kMaxTopicBytes));
  }
  for (char c : topic) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '.' && c != '_') {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", topic, "\" may hold only lower-case letters, digits, '-', '.' and '_'"));
    }
  }
  return absl::OkStatus();
}

Destination::Kind DestinationKindOf(absl::string_view destination) {
  if (absl::StartsWith(destination, kTopicPrefix)) return Destination::Kind::kTopic;
  if (absl::StartsWith(destination, kCallbackPrefix)) return Destination::Kind::kCallback;
  return Destination::Kind::kFunction;
}

absl::StatusOr<Destination> ParseDestination(absl::string_view destination,
                                             absl::string_view field) {
  Destination parsed;
  parsed.kind = DestinationKindOf(destination);
  if (parsed.kind == Destination::Kind::kTopic) {
    parsed.target = std::string(destination.substr(sizeof(kTopicPrefix) - 1));
    if (parsed.target.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": \"", destination, "\" names no topic (use topic:NAME)"));
    }
    if (absl::Status s = ValidateTopic(parsed.target, field); !s.ok()) return s;
    return parsed;
  }
  if (parsed.kind == Destination::Kind::kCallback) {
    parsed.target = std::string(destination.substr(sizeof(kCallbackPrefix) - 1));
    absl::string_view host;
    absl::string_view port;
    if (!SplitHostPort(parsed.target, host, port) || !IsHost(host) || !IsPort(port)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", destination, "\" is not a callback endpoint grpc://HOST:PORT"));
    }
    return parsed;
  }
  if (absl::StrContains(destination, ':')) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", destination,
                     "\" is not a destination (use a function name, topic:NAME or "
                     "grpc://HOST:PORT)"));
  }
  parsed.target = std::string(destination);
  if (absl::Status s = ValidateFunctionName(parsed.target, std::string(field)); !s.ok()) return s;
  return parsed;
}

absl::StatusOr<CallbackAllowlist> CallbackAllowlist::Create(std::vector<std::string> patterns) {
  CallbackAllowlist allowlist;
  for (std::string& pattern : patterns) {
    absl::AsciiStrToLower(&pattern);
    absl::string_view host;
    absl::string_view port;
    const bool ok = SplitHostPort(pattern, host, port) && (port == "*" || IsPort(port)) &&
                    (host == "*" ||
                     (absl::StartsWith(host, "*.") && host.size() > 2 && IsHost(host.substr(2))) ||
                     IsHost(host));
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback allowlist: \"", pattern,
                       "\" is not HOST:PORT (HOST a name, * or *.SUFFIX; PORT a number or *)"));
    }
    allowlist.patterns_.push_back(std::move(pattern));
  }
  return allowlist;
}

bool CallbackAllowlist::Allows(absl::string_view host_port) const {
  absl::string_view host;
  absl::string_view port;
  if (!SplitHostPort(host_port, host, port)) return false;
  for (absl::string_view pattern : patterns_) {
    absl::string_view pattern_host;
    absl::string_view pattern_port;
    SplitHostPort(pattern, pattern_host, pattern_port);
    if (pattern_port != "*" && pattern_port != port) continue;
    if (pattern_host == "*" || absl::EqualsIgnoreCase(pattern_host, host)) return true;
    if (absl::StartsWith(pattern_host, "*.") &&
        absl::EndsWithIgnoreCase(host, pattern_host.substr(1)) &&
        host.size() > pattern_host.size() - 1) {
      return true;
    }
  }
  return false;
}

absl::Status CallbackAllowlist::Check(const Destination& destination,
                                      absl::string_view field) const {
  if (destination.kind != Destination::Kind::kCallback || Allows(destination.target)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat(field, ": callback endpoint ", destination.target,
                   " is not in the server's callback allowlist (sluice serve --callback-allow)"));
}

const std::string& DestinationOf(const v1::FunctionSpec& spec, const v1::Invocation& finished) {
  if (finished.state() == v1::SUCCEEDED) return spec.on_success();
  if (finished.state() == v1::FAILED) return spec.on_failure();
  return kNone;
}

v1::DestinationRecord DestinationRecordOf(const v1::Invocation& finished, absl::Time now) {
  v1::DestinationRecord record;
  record.set_invocation_id(finished.id());
  record.set_function(finished.function());
  record.set_version(finished.version());
  record.set_state(finished.state());
  record.set_attempts(finished.attempt());
  record.set_request_payload(finished.payload());
  *record.mutable_request_metadata() = finished.metadata();
  if (finished.state() == v1::SUCCEEDED) {
    record.set_response_payload(finished.output());
  } else {
    *record.mutable_error() = finished.error();
  }
  record.set_dead_lettered(finished.dead_lettered());
  *record.mutable_finished_at() = ToProtoTime(now);
  return record;
}

v1::Invocation NewDestinationInvocation(const v1::Invocation& finished,
                                        const std::string& destination, const std::string& id,
                                        absl::Time now) {
  std::string json;
  // Serializing a message of known, valid fields cannot fail.
  (void)google::protobuf::util::MessageToJsonString(DestinationRecordOf(finished, now), &json);

  v1::Invocation child;
  child.set_id(id);
  child.set_function(destination);
  child.set_state(v1::PENDING);
  child.set_payload(std::move(json));
  child.set_parent_id(finished.id());
  child.set_priority(finished.priority());
  auto& metadata = *child.mutable_metadata();
  metadata["sluice-parent-id"] = finished.id();
  for (const char* key : {"traceparent", "tracestate"}) {
    if (auto it = finished.metadata().find(key); it != finished.metadata().end()) {
      metadata[key] = it->second;
    }
  }
  *child.mutable_created_at() = ToProtoTime(now);
  *child.mutable_updated_at() = ToProtoTime(now);
  *child.mutable_queued_at() = ToProtoTime(now);
  v1::StateChange* change = child.add_timeline();
  change->set_state(v1::PENDING);
  *change->mutable_time() = ToProtoTime(now);
  change->set_reason(absl::StrCat("queued by ",
                                  finished.state() == v1::SUCCEEDED ? "on_success" : "on_failure",
                                  " of ", finished.function(), " invocation ", finished.id()));
  return child;
}

}  // namespace sluice
