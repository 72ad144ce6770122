// `sluice publish` and `sluice triggers create|ls|rm`: events and triggers
// through the Events API.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/client.h"
#include "cli/console.h"
#include "sluice/v1/events.pb.h"

namespace sluice::cli {

// PublishFlags are the flags of `sluice publish`.
struct PublishFlags {
  std::string topic;
  std::string type;
  std::string source;
  std::string id;  // empty: a random id
  std::string subject;
  std::string content_type;
  std::vector<std::string> extensions;  // NAME=VALUE
  std::optional<std::string> data;      // as for `sluice invoke --data`
};

// BuildPublishRequest turns the flags into a request; `data` is the
// resolved payload and `random_id` the id used when none was given.
// INVALID_ARGUMENT naming the flag for a malformed extension.
absl::StatusOr<v1::PublishRequest> BuildPublishRequest(const PublishFlags& flags, std::string data,
                                                       const std::string& random_id);

// RunPublish publishes an event and prints what it started: "published ID:
// N invocations" then "  TRIGGER  INVOCATION" a line, or "duplicate event
// ID from SOURCE: nothing started" (JSON: the PublishResponse).
int RunPublish(const PublishFlags& flags, const ClientConfig& config, Console& console);

// TriggerFlags are the flags of `sluice triggers create`: exactly one of
// an event source (--topic and/or --type, with --filter), --cron or
// --route.
struct TriggerFlags {
  std::string name;
  std::string function;
  std::string topic;
  std::string type;
  // ATTRIBUTE=VALUE (exact), ATTRIBUTE^=VALUE (prefix), ATTRIBUTE$=VALUE
  // (suffix).
  std::vector<std::string> filters;
  bool any = false;
  std::string cron;
  std::string time_zone;
  bool catch_up = false;
  std::string route;
  std::string priority;  // empty: normal
  bool replace = false;
};

// BuildTrigger turns the flags into a trigger. INVALID_ARGUMENT naming the
// flag when no or more than one kind of source is given, a filter is
// malformed, or a flag belongs to another kind of trigger.
absl::StatusOr<v1::Trigger> BuildTrigger(const TriggerFlags& flags);

// RunCreateTrigger creates (or with --replace replaces) a trigger and
// prints "created trigger NAME".
int RunCreateTrigger(const TriggerFlags& flags, const ClientConfig& config, Console& console);

// SaveTrigger creates `trigger` (replacing one of the same name when
// `replace`) and prints it.
int SaveTrigger(v1::Trigger trigger, bool replace, const ClientConfig& config, Console& console);

// RunListTriggers prints every trigger as a table: NAME, FUNCTION, KIND
// and what it listens to (JSON: the ListTriggersResponse).
int RunListTriggers(const ClientConfig& config, Console& console);

// RunDeleteTrigger deletes a trigger and prints "deleted trigger NAME".
int RunDeleteTrigger(const std::string& name, const ClientConfig& config, Console& console);

// TriggerSourceText describes what `trigger` listens to, e.g. "topic
// orders, type com.example.created, subject^=eu/" or "cron 0 * * * *
// (Europe/Berlin)" or "route /shop.v1.Orders/Create".
std::string TriggerSourceText(const v1::Trigger& trigger);

}  // namespace sluice::cli
