// Parsing of sluice.yaml manifests; see manifest.h for the format.
#include "runtime/manifest.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sluice {
namespace {

// How manifests and the command line spell runtimes and isolations.
constexpr std::pair<std::string_view, v1::Runtime> kRuntimeNames[] = {
    {"native", v1::RUNTIME_NATIVE},
    {"lambda", v1::RUNTIME_LAMBDA},
    {"exec", v1::RUNTIME_EXEC},
};
constexpr char kRuntimeChoices[] = "use native, lambda or exec";
constexpr std::pair<std::string_view, v1::Isolation> kIsolationNames[] = {
    {"none", v1::ISOLATION_NONE},
    {"process", v1::ISOLATION_PROCESS},
};
constexpr char kIsolationChoices[] = "use none or process";
constexpr std::pair<std::string_view, v1::RetryOn> kRetryOnNames[] = {
    {"function-error", v1::RETRY_ON_FUNCTION_ERROR},
    {"crash", v1::RETRY_ON_CRASH},
    {"timeout", v1::RETRY_ON_TIMEOUT},
    {"lease-lost", v1::RETRY_ON_LEASE_LOST},
};

// The keys a function entry may have, in the order they are checked.
constexpr absl::string_view kFunctionKeys[] = {
    "name",        "runtime",       "artifact",       "entry_point", "handler",
    "concurrency", "max_queue",     "timeout",        "isolation",   "memory_mb",
    "min_warm",    "idle_timeout",  "max_open_files", "description", "env",
    "retry",       "max_event_age", "on_success",     "on_failure",
};

// The keys a trigger entry may have. Exactly one of topic/type (an event
// trigger), schedule or route says what kind it is.
constexpr absl::string_view kTriggerKeys[] = {
    "name",  "function", "priority",  "topic",  "type",    "filters",
    "match", "schedule", "time_zone", "missed", "payload", "route",
};

// The keys of an event trigger's attribute filter.
constexpr absl::string_view kFilterKeys[] = {"attribute", "exact", "prefix", "suffix"};

constexpr std::pair<std::string_view, v1::Priority> kPriorityNames[] = {
    {"low", v1::PRIORITY_LOW},
    {"normal", v1::PRIORITY_NORMAL},
    {"high", v1::PRIORITY_HIGH},
    {"critical", v1::PRIORITY_CRITICAL},
};

constexpr std::pair<std::string_view, v1::MissedFires> kMissedNames[] = {
    {"skip", v1::MISSED_FIRES_SKIP},
    {"catch-up-once", v1::MISSED_FIRES_CATCH_UP_ONCE},
};

// The keys of a function's retry mapping.
constexpr absl::string_view kRetryKeys[] = {
    "max_attempts", "initial_backoff", "max_backoff", "multiplier", "retry_on",
};

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

// KindOf names what a node holds, for "must be X, not Y" messages.
absl::string_view KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "empty";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "undefined";
  }
}

// ScalarText returns the text of a scalar node, as written in the file.
absl::StatusOr<std::string> ScalarText(const YAML::Node& node, absl::string_view path) {
  if (node.IsNull()) return FieldError(path, "has no value");
  if (!node.IsScalar())
    return FieldError(path, absl::StrCat("must be a single value, not ", KindOf(node)));
  return node.Scalar();
}

// NonEmptyText is ScalarText for fields that must not be "".
absl::StatusOr<std::string> NonEmptyText(const YAML::Node& node, absl::string_view path) {
  absl::StatusOr<std::string> text = ScalarText(node, path);
  if (text.ok() && text->empty()) return FieldError(path, "must not be empty");
  return text;
}

// Uint32AtLeast parses a decimal integer from `minimum` (0 or 1) up to the
// largest uint32.
absl::StatusOr<uint32_t> Uint32AtLeast(const YAML::Node& node, absl::string_view path,
                                       uint32_t minimum) {
  absl::StatusOr<std::string> text = ScalarText(node, path);
  if (!text.ok()) return text.status();
  uint64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < minimum) {
    return FieldError(path, absl::StrCat(Quote(*text), " is not a ",
                                         minimum == 0 ? "non-negative" : "positive", " integer"));
  }
  if (value > std::numeric_limits<uint32_t>::max()) {
    return FieldError(path, absl::StrCat(*text, " is too large"));
  }
  return static_cast<uint32_t>(value);
}

absl::StatusOr<uint32_t> PositiveUint32(const YAML::Node& node, absl::string_view path) {
  return Uint32AtLeast(node, path, 1);
}

absl::StatusOr<uint32_t> NonNegativeUint32(const YAML::Node& node, absl::string_view path) {
  return Uint32AtLeast(node, path, 0);
}

// EnumFromName looks `name` up in a table of spellings.
template <typename Enum, size_t N>
std::optional<Enum> EnumFromName(const std::pair<std::string_view, Enum> (&names)[N],
                                 std::string_view name) {
  for (const auto& [spelling, value] : names) {
    if (spelling == name) return value;
  }
  return std::nullopt;
}

// NameOfEnum is the reverse lookup of EnumFromName.
template <typename Enum, size_t N>
std::optional<std::string_view> NameOfEnum(const std::pair<std::string_view, Enum> (&names)[N],
                                           Enum value) {
  for (const auto& [spelling, known] : names) {
    if (known == value) return spelling;
  }
  return std::nullopt;
}

absl::StatusOr<absl::Duration> PositiveDuration(const YAML::Node& node, absl::string_view path) {
  absl::StatusOr<std::string> text = ScalarText(node, path);
  if (!text.ok()) return text.status();
  absl::Duration duration;
  if (!absl::ParseDuration(*text, &duration)) {
    return FieldError(path, absl::StrCat(Quote(*text), " is not a duration (use 500ms, 10s, 1m)"));
  }
  if (duration <= absl::ZeroDuration() || duration == absl::InfiniteDuration()) {
    return FieldError(path, absl::StrCat(Quote(*text), " must be a positive, finite duration"));
  }
  return duration;
}

void SetDuration(absl::Duration duration, google::protobuf::Duration& out) {
  absl::Duration remainder;
  const int64_t seconds = absl::IDivDuration(duration, absl::Seconds(1), &remainder);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
}

// MappingFields collects the key/value pairs of a mapping node, rejecting
// non-scalar and repeated keys.
absl::StatusOr<std::map<std::string, YAML::Node>> MappingFields(const YAML::Node& node,
                                                                absl::string_view path) {
  std::map<std::string, YAML::Node> fields;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      return FieldError(path, absl::StrCat("keys must be single values, not ", KindOf(it->first)));
    }
    const std::string& key = it->first.Scalar();
    if (!fields.emplace(key, it->second).second) {
      return FieldError(path, absl::StrCat("key ", Quote(key), " appears twice"));
    }
  }
  return fields;
}

// PositiveNumber parses a finite decimal number above zero, e.g. 2 or 1.5.
absl::StatusOr<double> PositiveNumber(const YAML::Node& node, absl::string_view path) {
  absl::StatusOr<std::string> text = ScalarText(node, path);
  if (!text.ok()) return text.status();
  double value = 0;
  if (!absl::SimpleAtod(*text, &value) || !std::isfinite(value) || value <= 0) {
    return FieldError(path, absl::StrCat(Quote(*text), " is not a positive number"));
  }
  return value;
}

// CheckKnownKeys rejects the first key of `fields` that `known` lacks.
template <size_t N>
absl::Status CheckKnownKeys(const std::map<std::string, YAML::Node>& fields,
                            const absl::string_view (&known)[N], absl::string_view path) {
  for (const auto& [key, value] : fields) {
    bool found = false;
    for (absl::string_view known_key : known) found = found || key == known_key;
    if (!found) return FieldError(path, absl::StrCat("unknown key ", Quote(key)));
  }
  return absl::OkStatus();
}

absl::Status ParseRetryOn(const YAML::Node& node, absl::string_view path, v1::RetryPolicy& policy) {
  if (!node.IsSequence()) {
    return FieldError(path, absl::StrCat("must be a list of outcomes (", kRetryOnChoices, "), not ",
                                         KindOf(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = absl::StrCat(path, "[", i, "]");
    absl::StatusOr<std::string> text = ScalarText(node[i], item_path);
    if (!text.ok()) return text.status();
    const std::optional<v1::RetryOn> outcome = RetryOnFromName(*text);
    if (!outcome.has_value()) {
      return FieldError(
          item_path, absl::StrCat(Quote(*text), " is not an outcome (use ", kRetryOnChoices, ")"));
    }
    for (const int seen : policy.retry_on()) {
      if (seen == *outcome)
        return FieldError(item_path, absl::StrCat(Quote(*text), " appears twice"));
    }
    policy.add_retry_on(*outcome);
  }
  return absl::OkStatus();
}

// ParseRetry parses a function's `retry` mapping into spec.retry.
absl::Status ParseRetry(const YAML::Node& node, absl::string_view path, v1::FunctionSpec& spec) {
  if (!node.IsMap()) {
    return FieldError(path, absl::StrCat("must be a mapping of retry fields (",
                                         "max_attempts, initial_backoff, max_backoff, multiplier, "
                                         "retry_on), not ",
                                         KindOf(node)));
  }
  absl::StatusOr<std::map<std::string, YAML::Node>> fields = MappingFields(node, path);
  if (!fields.ok()) return fields.status();
  if (absl::Status status = CheckKnownKeys(*fields, kRetryKeys, path); !status.ok()) return status;
  auto field_path = [&](absl::string_view key) { return absl::StrCat(path, ".", key); };
  v1::RetryPolicy& policy = *spec.mutable_retry();
  for (const auto& [key, value] : *fields) {
    if (key == "max_attempts") {
      absl::StatusOr<uint32_t> attempts = PositiveUint32(value, field_path(key));
      if (!attempts.ok()) return attempts.status();
      policy.set_max_attempts(*attempts);
    } else if (key == "initial_backoff" || key == "max_backoff") {
      absl::StatusOr<absl::Duration> duration = PositiveDuration(value, field_path(key));
      if (!duration.ok()) return duration.status();
      SetDuration(*duration, key == "initial_backoff" ? *policy.mutable_initial_backoff()
                                                      : *policy.mutable_max_backoff());
    } else if (key == "multiplier") {
      absl::StatusOr<double> multiplier = PositiveNumber(value, field_path(key));
      if (!multiplier.ok()) return multiplier.status();
      policy.set_multiplier(*multiplier);
    } else {  // retry_on
      if (absl::Status status = ParseRetryOn(value, field_path(key), policy); !status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseEnv(const YAML::Node& node, absl::string_view path, v1::FunctionSpec& spec) {
  if (!node.IsMap()) {
    return FieldError(path,
                      absl::StrCat("must be a mapping of names to values, not ", KindOf(node)));
  }
  absl::StatusOr<std::map<std::string, YAML::Node>> vars = MappingFields(node, path);
  if (!vars.ok()) return vars.status();
  for (const auto& [key, value] : *vars) {
    const std::string var_path = absl::StrCat(path, ".", key);
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return FieldError(path, absl::StrCat(Quote(key), " is not a valid variable name"));
    }
    if (value.IsNull()) return FieldError(var_path, "has no value (write \"\" for an empty one)");
    absl::StatusOr<std::string> text = ScalarText(value, var_path);
    if (!text.ok()) return text.status();
    (*spec.mutable_env())[key] = *text;
  }
  return absl::OkStatus();
}

// ResolveArtifact joins a relative artifact path onto base_dir.
std::string ResolveArtifact(const std::string& artifact, const std::string& base_dir) {
  std::filesystem::path path(artifact);
  if (path.is_relative() && !base_dir.empty()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
}

// ParseFunction parses one entry of the functions list; `path` is its field
// path, e.g. "functions[2]".
absl::StatusOr<ManifestEntry> ParseFunction(const YAML::Node& node, const std::string& path,
                                            const std::string& base_dir) {
  if (!node.IsMap()) {
    return FieldError(path,
                      absl::StrCat("must be a mapping of function fields, not ", KindOf(node)));
  }
  absl::StatusOr<std::map<std::string, YAML::Node>> fields = MappingFields(node, path);
  if (!fields.ok()) return fields.status();
  if (absl::Status status = CheckKnownKeys(*fields, kFunctionKeys, path); !status.ok()) {
    return status;
  }
  auto field = [&](absl::string_view key) -> const YAML::Node* {
    auto it = fields->find(std::string(key));
    return it == fields->end() ? nullptr : &it->second;
  };
  auto field_path = [&](absl::string_view key) { return absl::StrCat(path, ".", key); };

  ManifestEntry entry;
  v1::FunctionSpec& spec = entry.spec;

  const YAML::Node* name = field("name");
  if (name == nullptr || name->IsNull()) return FieldError(field_path("name"), "missing");
  absl::StatusOr<std::string> name_text = NonEmptyText(*name, field_path("name"));
  if (!name_text.ok()) return name_text.status();
  spec.set_name(*name_text);

  const YAML::Node* runtime = field("runtime");
  if (runtime == nullptr || runtime->IsNull()) {
    return FieldError(field_path("runtime"), absl::StrCat("missing (", kRuntimeChoices, ")"));
  }
  absl::StatusOr<std::string> runtime_text = ScalarText(*runtime, field_path("runtime"));
  if (!runtime_text.ok()) return runtime_text.status();
  const std::optional<v1::Runtime> runtime_value = RuntimeFromName(*runtime_text);
  if (!runtime_value.has_value()) {
    return FieldError(
        field_path("runtime"),
        absl::StrCat(Quote(*runtime_text), " is not a runtime (", kRuntimeChoices, ")"));
  }
  spec.set_runtime(*runtime_value);

  const YAML::Node* artifact = field("artifact");
  if (artifact == nullptr || artifact->IsNull())
    return FieldError(field_path("artifact"), "missing");
  absl::StatusOr<std::string> artifact_text = NonEmptyText(*artifact, field_path("artifact"));
  if (!artifact_text.ok()) return artifact_text.status();
  entry.artifact_path = ResolveArtifact(*artifact_text, base_dir);

  if (const YAML::Node* entry_point = field("entry_point")) {
    absl::StatusOr<std::string> text = NonEmptyText(*entry_point, field_path("entry_point"));
    if (!text.ok()) return text.status();
    spec.set_entry_point(*text);
  }
  if (const YAML::Node* handler = field("handler")) {
    absl::StatusOr<std::string> text = NonEmptyText(*handler, field_path("handler"));
    if (!text.ok()) return text.status();
    spec.set_handler(*text);
  }
  if (const YAML::Node* concurrency = field("concurrency")) {
    absl::StatusOr<uint32_t> value = PositiveUint32(*concurrency, field_path("concurrency"));
    if (!value.ok()) return value.status();
    spec.set_concurrency(*value);
  }
  if (const YAML::Node* max_queue = field("max_queue")) {
    absl::StatusOr<uint32_t> value = PositiveUint32(*max_queue, field_path("max_queue"));
    if (!value.ok()) return value.status();
    spec.set_max_queue(*value);
  }
  if (const YAML::Node* timeout = field("timeout")) {
    absl::StatusOr<absl::Duration> value = PositiveDuration(*timeout, field_path("timeout"));
    if (!value.ok()) return value.status();
    SetDuration(*value, *spec.mutable_timeout());
  }
  if (const YAML::Node* isolation = field("isolation")) {
    absl::StatusOr<std::string> text = ScalarText(*isolation, field_path("isolation"));
    if (!text.ok()) return text.status();
    const std::optional<v1::Isolation> value = IsolationFromName(*text);
    if (!value.has_value()) {
      return FieldError(
          field_path("isolation"),
          absl::StrCat(Quote(*text), " is not an isolation (", kIsolationChoices, ")"));
    }
    spec.set_isolation(*value);
  }
  if (const YAML::Node* memory_mb = field("memory_mb")) {
    absl::StatusOr<uint32_t> value = PositiveUint32(*memory_mb, field_path("memory_mb"));
    if (!value.ok()) return value.status();
    spec.set_memory_mb(*value);
  }
  if (const YAML::Node* min_warm = field("min_warm")) {
    absl::StatusOr<uint32_t> value = NonNegativeUint32(*min_warm, field_path("min_warm"));
    if (!value.ok()) return value.status();
    spec.set_min_warm(*value);
  }
  if (const YAML::Node* idle_timeout = field("idle_timeout")) {
    absl::StatusOr<absl::Duration> value =
        PositiveDuration(*idle_timeout, field_path("idle_timeout"));
    if (!value.ok()) return value.status();
    SetDuration(*value, *spec.mutable_idle_timeout());
  }
  if (const YAML::Node* max_open_files = field("max_open_files")) {
    absl::StatusOr<uint32_t> value = PositiveUint32(*max_open_files, field_path("max_open_files"));
    if (!value.ok()) return value.status();
    spec.set_max_open_files(*value);
  }
  if (const YAML::Node* description = field("description")) {
    absl::StatusOr<std::string> text = ScalarText(*description, field_path("description"));
    if (!text.ok()) return text.status();
    spec.set_description(*text);
  }
  if (const YAML::Node* env = field("env")) {
    absl::Status status = ParseEnv(*env, field_path("env"), spec);
    if (!status.ok()) return status;
  }
  if (const YAML::Node* retry = field("retry")) {
    absl::Status status = ParseRetry(*retry, field_path("retry"), spec);
    if (!status.ok()) return status;
  }
  if (const YAML::Node* max_event_age = field("max_event_age")) {
    absl::StatusOr<absl::Duration> value =
        PositiveDuration(*max_event_age, field_path("max_event_age"));
    if (!value.ok()) return value.status();
    SetDuration(*value, *spec.mutable_max_event_age());
  }
  if (const YAML::Node* on_success = field("on_success")) {
    absl::StatusOr<std::string> text = NonEmptyText(*on_success, field_path("on_success"));
    if (!text.ok()) return text.status();
    spec.set_on_success(*text);
  }
  if (const YAML::Node* on_failure = field("on_failure")) {
    absl::StatusOr<std::string> text = NonEmptyText(*on_failure, field_path("on_failure"));
    if (!text.ok()) return text.status();
    spec.set_on_failure(*text);
  }
  return entry;
}

// NameFunction appends ", in function \"NAME\"" to an error found in a
// function entry whose name is readable, so that the error names the
// function as well as the field.
absl::Status NameFunction(const absl::Status& error, const YAML::Node& function) {
  if (!function.IsMap()) return error;
  const YAML::Node name = function["name"];
  if (!name.IsDefined() || !name.IsScalar() || name.Scalar().empty()) return error;
  return absl::Status(error.code(),
                      absl::StrCat(error.message(), ", in function ", Quote(name.Scalar())));
}

// ParseFilter parses one attribute filter: {attribute: A, exact|prefix|suffix: V}.
absl::StatusOr<v1::AttributeFilter> ParseFilter(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) return FieldError(path, absl::StrCat("must be a mapping, not ", KindOf(node)));
  absl::StatusOr<std::map<std::string, YAML::Node>> fields = MappingFields(node, path);
  if (!fields.ok()) return fields.status();
  if (absl::Status s = CheckKnownKeys(*fields, kFilterKeys, path); !s.ok()) return s;
  v1::AttributeFilter filter;
  auto attribute = fields->find("attribute");
  if (attribute == fields->end()) return FieldError(absl::StrCat(path, ".attribute"), "missing");
  absl::StatusOr<std::string> name = NonEmptyText(attribute->second, path + ".attribute");
  if (!name.ok()) return name.status();
  filter.set_attribute(*name);
  int kinds = 0;
  for (absl::string_view kind : {"exact", "prefix", "suffix"}) {
    auto it = fields->find(std::string(kind));
    if (it == fields->end()) continue;
    absl::StatusOr<std::string> value = ScalarText(it->second, absl::StrCat(path, ".", kind));
    if (!value.ok()) return value.status();
    ++kinds;
    if (kind == "exact") filter.set_exact(*value);
    if (kind == "prefix") filter.set_prefix(*value);
    if (kind == "suffix") filter.set_suffix(*value);
  }
  if (kinds != 1) return FieldError(path, "needs exactly one of exact, prefix or suffix");
  return filter;
}

// ParseTrigger parses one entry of the triggers list. Its rules (names,
// deployed functions, cron syntax, reserved methods) are checked when the
// trigger is created.
absl::StatusOr<v1::Trigger> ParseTrigger(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) return FieldError(path, absl::StrCat("must be a mapping, not ", KindOf(node)));
  absl::StatusOr<std::map<std::string, YAML::Node>> fields = MappingFields(node, path);
  if (!fields.ok()) return fields.status();
  if (absl::Status s = CheckKnownKeys(*fields, kTriggerKeys, path); !s.ok()) return s;
  const auto field = [&](const char* key) -> const YAML::Node* {
    auto it = fields->find(key);
    return it == fields->end() ? nullptr : &it->second;
  };
  const auto text = [&](const char* key, bool required) -> absl::StatusOr<std::string> {
    const YAML::Node* node = field(key);
    if (node == nullptr) {
      if (required) return FieldError(absl::StrCat(path, ".", key), "missing");
      return std::string();
    }
    return NonEmptyText(*node, absl::StrCat(path, ".", key));
  };
  v1::Trigger trigger;
  absl::StatusOr<std::string> name = text("name", true);
  if (!name.ok()) return name.status();
  trigger.set_name(*name);
  absl::StatusOr<std::string> function = text("function", true);
  if (!function.ok()) return function.status();
  trigger.set_function(*function);
  absl::StatusOr<std::string> priority = text("priority", false);
  if (!priority.ok()) return priority.status();
  if (!priority->empty()) {
    std::optional<v1::Priority> value = PriorityFromName(*priority);
    if (!value.has_value()) {
      return FieldError(
          path + ".priority",
          absl::StrCat(Quote(*priority), " is not one of low, normal, high, critical"));
    }
    trigger.set_priority(*value);
  }

  const bool event = field("topic") != nullptr || field("type") != nullptr;
  const bool schedule = field("schedule") != nullptr;
  const bool route = field("route") != nullptr;
  if (event + schedule + route != 1) {
    return FieldError(path,
                      "needs exactly one kind: topic and/or type (events), schedule (a cron "
                      "expression) or route (a gRPC method)");
  }
  for (const char* key : {"filters", "match"}) {
    if (!event && field(key) != nullptr) {
      return FieldError(absl::StrCat(path, ".", key), "goes with topic or type");
    }
  }
  for (const char* key : {"time_zone", "missed", "payload"}) {
    if (!schedule && field(key) != nullptr) {
      return FieldError(absl::StrCat(path, ".", key), "goes with schedule");
    }
  }
  if (event) {
    v1::EventSource& source = *trigger.mutable_event();
    absl::StatusOr<std::string> topic = text("topic", false);
    if (!topic.ok()) return topic.status();
    source.set_topic(*topic);
    absl::StatusOr<std::string> type = text("type", false);
    if (!type.ok()) return type.status();
    source.set_type(*type);
    absl::StatusOr<std::string> match = text("match", false);
    if (!match.ok()) return match.status();
    if (*match == "any") {
      source.set_any(true);
    } else if (!match->empty() && *match != "all") {
      return FieldError(path + ".match", absl::StrCat(Quote(*match), " is not all or any"));
    }
    if (const YAML::Node* filters = field("filters")) {
      if (!filters->IsSequence()) {
        return FieldError(path + ".filters",
                          absl::StrCat("must be a list, not ", KindOf(*filters)));
      }
      for (size_t i = 0; i < filters->size(); ++i) {
        absl::StatusOr<v1::AttributeFilter> filter =
            ParseFilter((*filters)[i], absl::StrCat(path, ".filters[", i, "]"));
        if (!filter.ok()) return filter.status();
        *source.add_filters() = *std::move(filter);
      }
    }
  } else if (schedule) {
    v1::Schedule& cron = *trigger.mutable_schedule();
    absl::StatusOr<std::string> expression = text("schedule", true);
    if (!expression.ok()) return expression.status();
    cron.set_cron(*expression);
    absl::StatusOr<std::string> zone = text("time_zone", false);
    if (!zone.ok()) return zone.status();
    cron.set_time_zone(*zone);
    absl::StatusOr<std::string> missed = text("missed", false);
    if (!missed.ok()) return missed.status();
    cron.set_missed(v1::MISSED_FIRES_SKIP);
    if (!missed->empty()) {
      std::optional<v1::MissedFires> value = EnumFromName(kMissedNames, *missed);
      if (!value.has_value()) {
        return FieldError(path + ".missed",
                          absl::StrCat(Quote(*missed), " is not skip or catch-up-once"));
      }
      cron.set_missed(*value);
    }
    if (const YAML::Node* payload = field("payload")) {
      absl::StatusOr<std::string> value = ScalarText(*payload, path + ".payload");
      if (!value.ok()) return value.status();
      cron.set_payload(*value);
    }
  } else {
    absl::StatusOr<std::string> method = text("route", true);
    if (!method.ok()) return method.status();
    trigger.mutable_route()->set_method(*method);
  }
  return trigger;
}

// ParseTriggers parses the optional triggers list.
absl::StatusOr<std::vector<v1::Trigger>> ParseTriggers(const YAML::Node& triggers) {
  std::vector<v1::Trigger> parsed;
  if (triggers.IsNull()) return parsed;
  if (!triggers.IsSequence()) {
    return FieldError("triggers", absl::StrCat("must be a list, not ", KindOf(triggers)));
  }
  std::map<std::string, size_t> index_of_name;
  for (size_t i = 0; i < triggers.size(); ++i) {
    const std::string path = absl::StrCat("triggers[", i, "]");
    absl::StatusOr<v1::Trigger> trigger = ParseTrigger(triggers[i], path);
    if (!trigger.ok()) return trigger.status();
    auto [it, inserted] = index_of_name.emplace(trigger->name(), i);
    if (!inserted) {
      return FieldError(
          absl::StrCat(path, ".name"),
          absl::StrCat(Quote(trigger->name()), " is already used by triggers[", it->second, "]"));
    }
    parsed.push_back(*std::move(trigger));
  }
  return parsed;
}

absl::StatusOr<Manifest> ParseDocument(const YAML::Node& root, const std::string& base_dir) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: must be a mapping with a \"functions\" list, not ", KindOf(root)));
  }
  absl::StatusOr<std::map<std::string, YAML::Node>> fields = MappingFields(root, "manifest");
  if (!fields.ok()) return fields.status();
  for (const auto& [key, value] : *fields) {
    if (key != "functions" && key != "triggers") {
      return FieldError("manifest", absl::StrCat("unknown key ", Quote(key)));
    }
  }
  auto functions_it = fields->find("functions");
  if (functions_it == fields->end() || functions_it->second.IsNull()) {
    return FieldError("functions", "missing");
  }
  const YAML::Node& functions = functions_it->second;
  if (!functions.IsSequence()) {
    return FieldError("functions", absl::StrCat("must be a list, not ", KindOf(functions)));
  }
  if (functions.size() == 0) return FieldError("functions", "must list at least one function");

  std::vector<ManifestEntry> entries;
  std::map<std::string, size_t> index_of_name;
  for (size_t i = 0; i < functions.size(); ++i) {
    const std::string path = absl::StrCat("functions[", i, "]");
    absl::StatusOr<ManifestEntry> entry = ParseFunction(functions[i], path, base_dir);
    if (!entry.ok()) return NameFunction(entry.status(), functions[i]);
    auto [it, inserted] = index_of_name.emplace(entry->spec.name(), i);
    if (!inserted) {
      return FieldError(absl::StrCat(path, ".name"),
                        absl::StrCat(Quote(entry->spec.name()), " is already used by functions[",
                                     it->second, "]"));
    }
    entries.push_back(*std::move(entry));
  }
  Manifest manifest;
  manifest.functions = std::move(entries);
  if (auto triggers = fields->find("triggers"); triggers != fields->end()) {
    absl::StatusOr<std::vector<v1::Trigger>> parsed = ParseTriggers(triggers->second);
    if (!parsed.ok()) return parsed.status();
    manifest.triggers = *std::move(parsed);
  }
  return manifest;
}

}  // namespace

absl::StatusOr<Manifest> ParseManifestFile(std::string_view yaml, const std::string& base_dir) {
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    if (documents.empty()) {
      return absl::InvalidArgumentError("manifest: is empty; expected a \"functions\" list");
    }
    if (documents.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest: holds ", documents.size(), " YAML documents; expected one"));
    }
    return ParseDocument(documents.front(), base_dir);
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML syntax error at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: ", e.what()));
  }
}

absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(std::string_view yaml,
                                                         const std::string& base_dir) {
  absl::StatusOr<Manifest> manifest = ParseManifestFile(yaml, base_dir);
  if (!manifest.ok()) return manifest.status();
  return std::move(manifest->functions);
}

absl::StatusOr<std::vector<ManifestEntry>> LoadManifest(const std::string& path) {
  absl::StatusOr<Manifest> manifest = LoadManifestFile(path);
  if (!manifest.ok()) return manifest.status();
  return std::move(manifest->functions);
}

absl::StatusOr<Manifest> LoadManifestFile(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status file = std::filesystem::status(path, error);
  if (!std::filesystem::exists(file)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(file)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a manifest"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));

  absl::StatusOr<Manifest> manifest =
      ParseManifestFile(text.str(), std::filesystem::path(path).parent_path().string());
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(),
                        absl::StrCat(path, ": ", manifest.status().message()));
  }
  return manifest;
}

std::optional<v1::Runtime> RuntimeFromName(std::string_view name) {
  return EnumFromName(kRuntimeNames, name);
}

std::optional<std::string_view> RuntimeNameOf(v1::Runtime runtime) {
  return NameOfEnum(kRuntimeNames, runtime);
}

std::optional<v1::Isolation> IsolationFromName(std::string_view name) {
  return EnumFromName(kIsolationNames, name);
}

std::optional<std::string_view> IsolationNameOf(v1::Isolation isolation) {
  return NameOfEnum(kIsolationNames, isolation);
}

std::optional<v1::Priority> PriorityFromName(std::string_view name) {
  return EnumFromName(kPriorityNames, name);
}

std::optional<std::string_view> PriorityNameOf(v1::Priority priority) {
  return NameOfEnum(kPriorityNames, priority);
}

std::optional<v1::RetryOn> RetryOnFromName(std::string_view name) {
  return EnumFromName(kRetryOnNames, name);
}

std::optional<std::string_view> RetryOnNameOf(v1::RetryOn outcome) {
  return NameOfEnum(kRetryOnNames, outcome);
}

}  // namespace sluice
