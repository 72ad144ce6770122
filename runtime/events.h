// Events: validation of CloudEvents and topics, matching events against
// event triggers, and what a function started by an event is given.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/destination.h"  // ValidateTopic
#include "sluice/v1/events.pb.h"

namespace sluice {

inline constexpr size_t kMaxAttributeBytes = 1024;
inline constexpr size_t kMaxExtensions = 32;

// NormalizeEvent checks `event` and fills in its defaults: specversion
// "1.0" and, when unset, `time` = `now`. INVALID_ARGUMENT naming the field
// when id, source or type is empty, the specversion is not 1.0, an
// attribute is over kMaxAttributeBytes, an extension name is not 1-20
// lower-case letters or digits or shadows a standard attribute, there are
// more than kMaxExtensions extensions, or the whole event serializes to
// more than `max_bytes`.
absl::Status NormalizeEvent(v1::CloudEvent& event, size_t max_bytes, absl::Time now);

// AttributeOf returns the value of the attribute `name` of `event` ("id",
// "source", "type", "specversion", "subject", "datacontenttype", or an
// extension), or nullopt when the event has none (an empty optional
// attribute counts as none).
std::optional<std::string> AttributeOf(const v1::CloudEvent& event, absl::string_view name);

// ValidateEventSource: INVALID_ARGUMENT naming the field unless `source`
// names a valid topic or a type (at least one) and every filter names an
// attribute and exactly one non-empty exact/prefix/suffix value. `field`
// prefixes the messages, e.g. "trigger.event".
absl::Status ValidateEventSource(const v1::EventSource& source, absl::string_view field);

// Matches says whether `event`, published to `topic`, is selected by
// `source`: the topic (when the source names one) and the type (when it
// names one) are equal, and every filter matches — or at least one when
// `source.any()` and there are filters.
bool Matches(const v1::EventSource& source, absl::string_view topic, const v1::CloudEvent& event);

// EventMetadata returns the invocation metadata of a function started by
// `event` (see sluice.v1.CloudEvent): the attributes in their CloudEvents
// HTTP binary-mode names, "sluice-topic" (when not empty) and
// "sluice-trigger".
std::vector<std::pair<std::string, std::string>> EventMetadata(const v1::CloudEvent& event,
                                                               absl::string_view topic,
                                                               absl::string_view trigger);

// EventKey returns the store key that deduplicates `event`: its source and
// id, separated by a NUL byte.
std::string EventKey(const v1::CloudEvent& event);

}  // namespace sluice
