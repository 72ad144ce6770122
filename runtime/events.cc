// Events: validation, matching and metadata of CloudEvents.
#include "runtime/events.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"

namespace sluice {
namespace {

constexpr absl::string_view kStandardAttributes[] = {"id",          "source",  "type",
                                                     "specversion", "subject", "datacontenttype",
                                                     "time",        "data",    "dataschema"};

bool IsStandardAttribute(absl::string_view name) {
  return std::find(std::begin(kStandardAttributes), std::end(kStandardAttributes), name) !=
         std::end(kStandardAttributes);
}

bool IsExtensionName(absl::string_view name) {
  if (name.empty() || name.size() > 20) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); });
}

absl::Status CheckLength(absl::string_view value, absl::string_view field) {
  if (value.size() > kMaxAttributeBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", value.size(), " bytes is over the limit of ", kMaxAttributeBytes, " bytes"));
  }
  return absl::OkStatus();
}

bool FilterMatches(const v1::AttributeFilter& filter, const v1::CloudEvent& event) {
  const std::optional<std::string> value = AttributeOf(event, filter.attribute());
  if (!value.has_value()) return false;
  switch (filter.match_case()) {
    case v1::AttributeFilter::kExact:
      return *value == filter.exact();
    case v1::AttributeFilter::kPrefix:
      return absl::StartsWith(*value, filter.prefix());
    case v1::AttributeFilter::kSuffix:
      return absl::EndsWith(*value, filter.suffix());
    case v1::AttributeFilter::MATCH_NOT_SET:
      return false;
  }
  return false;
}

}  // namespace

absl::Status NormalizeEvent(v1::CloudEvent& event, size_t max_bytes, absl::Time now) {
  if (event.id().empty()) return absl::InvalidArgumentError("event.id is required");
  if (event.source().empty()) return absl::InvalidArgumentError("event.source is required");
  if (event.type().empty()) return absl::InvalidArgumentError("event.type is required");
  if (event.specversion().empty()) event.set_specversion("1.0");
  if (event.specversion() != "1.0") {
    return absl::InvalidArgumentError(absl::StrCat("event.specversion: \"", event.specversion(),
                                                   "\" is not supported (only 1.0)"));
  }
  for (const auto& [field, value] :
       {std::pair<absl::string_view, const std::string*>{"event.id", &event.id()},
        {"event.source", &event.source()},
        {"event.type", &event.type()},
        {"event.subject", &event.subject()},
        {"event.datacontenttype", &event.datacontenttype()}}) {
    if (absl::Status s = CheckLength(*value, field); !s.ok()) return s;
  }
  if (event.extensions_size() > static_cast<int>(kMaxExtensions)) {
    return absl::InvalidArgumentError(absl::StrCat("event.extensions: ", event.extensions_size(),
                                                   " is over the limit of ", kMaxExtensions));
  }
  for (const auto& [name, value] : event.extensions()) {
    if (!IsExtensionName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("event.extensions: \"", name,
                       "\" is not an attribute name (1-20 lower-case letters or digits)"));
    }
    if (IsStandardAttribute(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("event.extensions: \"", name, "\" is a standard attribute"));
    }
    if (absl::Status s = CheckLength(value, absl::StrCat("event.extensions.", name)); !s.ok()) {
      return s;
    }
  }
  if (!event.has_time()) {
    *event.mutable_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  }
  const size_t size = event.ByteSizeLong();
  if (size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("event: ", size, " bytes is over the limit of ", max_bytes, " bytes"));
  }
  return absl::OkStatus();
}

std::optional<std::string> AttributeOf(const v1::CloudEvent& event, absl::string_view name) {
  const std::string* value = nullptr;
  if (name == "id") {
    value = &event.id();
  } else if (name == "source") {
    value = &event.source();
  } else if (name == "type") {
    value = &event.type();
  } else if (name == "specversion") {
    value = &event.specversion();
  } else if (name == "subject") {
    value = &event.subject();
  } else if (name == "datacontenttype") {
    value = &event.datacontenttype();
  } else if (auto it = event.extensions().find(std::string(name)); it != event.extensions().end()) {
    value = &it->second;
  }
  if (value == nullptr || value->empty()) return std::nullopt;
  return *value;
}

absl::Status ValidateEventSource(const v1::EventSource& source, absl::string_view field) {
  if (source.topic().empty() && source.type().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": a topic or an event type (or both) is required"));
  }
  if (absl::Status s = ValidateTopic(source.topic(), absl::StrCat(field, ".topic")); !s.ok()) {
    return s;
  }
  for (int i = 0; i < source.filters_size(); ++i) {
    const v1::AttributeFilter& filter = source.filters(i);
    const std::string where = absl::StrCat(field, ".filters[", i, "]");
    if (filter.attribute().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": attribute is required"));
    }
    if (filter.attribute() != "id" && !IsExtensionName(filter.attribute())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"", filter.attribute(), "\" is not an attribute name"));
    }
    absl::string_view value;
    switch (filter.match_case()) {
      case v1::AttributeFilter::kExact:
        value = filter.exact();
        break;
      case v1::AttributeFilter::kPrefix:
        value = filter.prefix();
        break;
      case v1::AttributeFilter::kSuffix:
        value = filter.suffix();
        break;
      case v1::AttributeFilter::MATCH_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": one of exact, prefix and suffix is required"));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the value to match is empty"));
    }
  }
  return absl::OkStatus();
}

bool Matches(const v1::EventSource& source, absl::string_view topic, const v1::CloudEvent& event) {
  if (!source.topic().empty() && source.topic() != topic) return false;
  if (!source.type().empty() && source.type() != event.type()) return false;
  if (source.filters().empty()) return true;
  if (source.any()) {
    return std::any_of(source.filters().begin(), source.filters().end(),
                       [&](const v1::AttributeFilter& f) { return FilterMatches(f, event); });
  }
  return std::all_of(source.filters().begin(), source.filters().end(),
                     [&](const v1::AttributeFilter& f) { return FilterMatches(f, event); });
}

std::vector<std::pair<std::string, std::string>> EventMetadata(const v1::CloudEvent& event,
                                                               absl::string_view topic,
                                                               absl::string_view trigger) {
  std::vector<std::pair<std::string, std::string>> metadata = {
      {"ce-id", event.id()},
      {"ce-source", event.source()},
      {"ce-type", event.type()},
      {"ce-specversion", event.specversion()},
  };
  if (!event.subject().empty()) metadata.emplace_back("ce-subject", event.subject());
  if (event.has_time()) {
    metadata.emplace_back("ce-time", google::protobuf::util::TimeUtil::ToString(event.time()));
  }
  if (!event.datacontenttype().empty()) {
    metadata.emplace_back("content-type", event.datacontenttype());
  }
  for (const auto& [name, value] : event.extensions()) {
    metadata.emplace_back(absl::StrCat("ce-", name), value);
  }
  if (!topic.empty()) metadata.emplace_back("sluice-topic", std::string(topic));
  metadata.emplace_back("sluice-trigger", std::string(trigger));
  std::sort(metadata.begin(), metadata.end());
  return metadata;
}

std::string EventKey(const v1::CloudEvent& event) {
  return absl::StrCat(event.source(), absl::string_view("\0", 1), event.id());
}

}  // namespace sluice
