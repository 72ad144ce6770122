#include "runtime/destination.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace sluice {
namespace {

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

const std::string kNone;

}  // namespace

const std::string& DestinationOf(const v1::FunctionSpec& spec, const v1::Invocation& finished) {
  if (finished.state() == v1::SUCCEEDED) return spec.on_success();
  if (finished.state() == v1::FAILED) return spec.on_failure();
  return kNone;
}

v1::Invocation NewDestinationInvocation(const v1::Invocation& finished,
                                        const std::string& destination, const std::string& id,
                                        absl::Time now) {
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
  *record.mutable_finished_at() = ToProto(now);
  std::string json;
  // Serializing a message of known, valid fields cannot fail.
  (void)google::protobuf::util::MessageToJsonString(record, &json);

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
  *child.mutable_created_at() = ToProto(now);
  *child.mutable_updated_at() = ToProto(now);
  *child.mutable_queued_at() = ToProto(now);
  v1::StateChange* change = child.add_timeline();
  change->set_state(v1::PENDING);
  *change->mutable_time() = ToProto(now);
  change->set_reason(absl::StrCat("queued by ",
                                  finished.state() == v1::SUCCEEDED ? "on_success" : "on_failure",
                                  " of ", finished.function(), " invocation ", finished.id()));
  return child;
}

}  // namespace sluice
