// RetryInfo: the retry delay that travels with a RESOURCE_EXHAUSTED status,
// as a google.rpc.RetryInfo. Inside the server it is an absl::Status payload;
// on the wire it is one of the details of the google.rpc.Status that gRPC
// sends in `grpc-status-details-bin`. The gateway (absl -> gRPC) and the
// client (gRPC -> delay) share these helpers.
//
// Header-only so that libraries that do not link the runtime (the CLI) can
// use it with nothing but the generated protos.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace sluice {

// kRetryInfoTypeUrl is the type URL of a google.rpc.RetryInfo, both as the
// absl::Status payload key and as the google.protobuf.Any type URL.
inline constexpr char kRetryInfoTypeUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

// RetryInfoOf returns a google.rpc.RetryInfo holding `delay` (negative delays
// become zero).
inline google::rpc::RetryInfo RetryInfoOf(absl::Duration delay) {
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  google::rpc::RetryInfo info;
  const int64_t seconds = absl::IDivDuration(delay, absl::Seconds(1), &delay);
  info.mutable_retry_delay()->set_seconds(seconds);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(delay)));
  return info;
}

// DelayOf returns the delay of `info`.
inline absl::Duration DelayOf(const google::rpc::RetryInfo& info) {
  return absl::Seconds(info.retry_delay().seconds()) +
         absl::Nanoseconds(info.retry_delay().nanos());
}

// SetRetryDelay attaches `delay` to `status` as a serialized
// google.rpc.RetryInfo payload under kRetryInfoTypeUrl, replacing any
// earlier one. No effect on an OK status (absl ignores payloads there).
inline void SetRetryDelay(absl::Status& status, absl::Duration delay) {
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(RetryInfoOf(delay).SerializeAsString()));
}

// RetryDelayOf returns the delay attached by SetRetryDelay, or nullopt when
// `status` carries none or it does not parse.
inline std::optional<absl::Duration> RetryDelayOf(const absl::Status& status) {
  // absl::optional (not std::optional in this abseil build).
  const auto payload = status.GetPayload(kRetryInfoTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  google::rpc::RetryInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return DelayOf(info);
}

// RpcStatusOf returns the google.rpc.Status for a non-OK `status`: its code,
// its message, and a RetryInfo detail when it carries a retry delay.
inline google::rpc::Status RpcStatusOf(const absl::Status& status) {
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int32_t>(status.code()));
  rpc.set_message(std::string(status.message()));
  if (std::optional<absl::Duration> delay = RetryDelayOf(status)) {
    rpc.add_details()->PackFrom(RetryInfoOf(*delay));
  }
  return rpc;
}

// RetryDelayOfDetails returns the delay of the first google.rpc.RetryInfo
// among the details of `serialized_rpc_status` (a serialized
// google.rpc.Status, as in grpc::Status::error_details()), or nullopt when
// there is none or the bytes do not parse.
inline std::optional<absl::Duration> RetryDelayOfDetails(absl::string_view serialized_rpc_status) {
  if (serialized_rpc_status.empty()) return std::nullopt;
  google::rpc::Status rpc;
  if (!rpc.ParseFromArray(serialized_rpc_status.data(),
                          static_cast<int>(serialized_rpc_status.size()))) {
    return std::nullopt;
  }
  for (const google::protobuf::Any& detail : rpc.details()) {
    google::rpc::RetryInfo info;
    if (detail.Is<google::rpc::RetryInfo>() && detail.UnpackTo(&info)) return DelayOf(info);
  }
  return std::nullopt;
}

}  // namespace sluice
