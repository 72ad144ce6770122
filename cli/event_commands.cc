#include "cli/event_commands.h"

#include <map>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "cli/payload.h"
#include "cli/table.h"
#include "sluice/v1/events.grpc.pb.h"

namespace sluice::cli {
namespace {

std::string RandomEventId() {
  absl::BitGen random;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(random),
                         absl::Uniform<uint64_t>(random));
}

absl::StatusOr<v1::AttributeFilter> ParseFilter(const std::string& text) {
  v1::AttributeFilter filter;
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--filter \"", text,
        "\" is not ATTRIBUTE=VALUE, ATTRIBUTE^=VALUE (prefix) or ATTRIBUTE$=VALUE (suffix)"));
  }
  std::string attribute = text.substr(0, equals);
  const std::string value = text.substr(equals + 1);
  if (attribute.back() == '^') {
    attribute.pop_back();
    filter.set_prefix(value);
  } else if (attribute.back() == '$') {
    attribute.pop_back();
    filter.set_suffix(value);
  } else {
    filter.set_exact(value);
  }
  filter.set_attribute(attribute);
  return filter;
}

}  // namespace

absl::StatusOr<v1::PublishRequest> BuildPublishRequest(const PublishFlags& flags, std::string data,
                                                       const std::string& random_id) {
  v1::PublishRequest request;
  request.set_topic(flags.topic);
  v1::CloudEvent& event = *request.mutable_event();
  event.set_id(flags.id.empty() ? random_id : flags.id);
  event.set_source(flags.source);
  event.set_type(flags.type);
  event.set_subject(flags.subject);
  event.set_datacontenttype(flags.content_type);
  absl::StatusOr<std::map<std::string, std::string>> extensions =
      ParseKeyValues(flags.extensions, "--ext");
  if (!extensions.ok()) return extensions.status();
  for (auto& [name, value] : *extensions) (*event.mutable_extensions())[name] = value;
  event.set_data(std::move(data));
  return request;
}

int RunPublish(const PublishFlags& flags, const ClientConfig& config, Console& console) {
  absl::StatusOr<std::string> data = ResolvePayload(flags.data, console.in, console.stdin_is_tty);
  if (!data.ok()) return ReportError(data.status().message(), kExitUsage, console);
  absl::StatusOr<v1::PublishRequest> request =
      BuildPublishRequest(flags, *std::move(data), RandomEventId());
  if (!request.ok()) return ReportError(request.status().message(), kExitUsage, console);
  v1::Events::Stub stub(OpenChannel(config.server));
  return RunUnary<v1::PublishResponse>(
      [&](grpc::ClientContext* context, v1::PublishResponse* response) {
        return stub.Publish(context, *request, response);
      },
      config, console,
      [&](const v1::PublishResponse& response) {
        const v1::CloudEvent& event = request->event();
        if (response.duplicate()) {
          console.out << "duplicate event " << event.id() << " from " << event.source()
                      << ": nothing started" << std::endl;
          return;
        }
        const int count = response.invocation_ids_size();
        console.out << "published " << event.id() << ": " << count
                    << (count == 1 ? " invocation" : " invocations") << "\n";
        for (int i = 0; i < count && i < response.triggers_size(); ++i) {
          console.out << "  " << response.triggers(i) << "  " << response.invocation_ids(i) << "\n";
        }
        console.out << std::flush;
      });
}

absl::StatusOr<v1::Trigger> BuildTrigger(const TriggerFlags& flags) {
  v1::Trigger trigger;
  trigger.set_name(flags.name);
  trigger.set_function(flags.function);
  const bool event = !flags.topic.empty() || !flags.type.empty();
  const bool schedule = !flags.cron.empty();
  const bool route = !flags.route.empty();
  if (event + schedule + route != 1) {
    return absl::InvalidArgumentError(
        "give exactly one kind of trigger: --topic and/or --type (events), --cron (a schedule) "
        "or --route (a gRPC method)");
  }
  if (!event && (!flags.filters.empty() || flags.any)) {
    return absl::InvalidArgumentError("--filter and --any go with --topic or --type");
  }
  if (!schedule && (!flags.time_zone.empty() || flags.catch_up)) {
    return absl::InvalidArgumentError("--timezone and --catch-up go with --cron");
  }
  if (event) {
    v1::EventSource& source = *trigger.mutable_event();
    source.set_topic(flags.topic);
    source.set_type(flags.type);
    source.set_any(flags.any);
    for (const std::string& text : flags.filters) {
      absl::StatusOr<v1::AttributeFilter> filter = ParseFilter(text);
      if (!filter.ok()) return filter.status();
      *source.add_filters() = *std::move(filter);
    }
  } else if (schedule) {
    v1::Schedule& cron = *trigger.mutable_schedule();
    cron.set_cron(flags.cron);
    cron.set_time_zone(flags.time_zone);
    cron.set_missed(flags.catch_up ? v1::MISSED_FIRES_CATCH_UP_ONCE : v1::MISSED_FIRES_SKIP);
  } else {
    trigger.mutable_route()->set_method(flags.route);
  }
  if (!flags.priority.empty()) {
    const std::optional<v1::Priority> priority = ParsePriorityName(flags.priority);
    if (!priority.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--priority \"", flags.priority, "\" is not one of low, normal, high, critical"));
    }
    trigger.set_priority(*priority);
  }
  return trigger;
}

int RunCreateTrigger(const TriggerFlags& flags, const ClientConfig& config, Console& console) {
  absl::StatusOr<v1::Trigger> trigger = BuildTrigger(flags);
  if (!trigger.ok()) return ReportError(trigger.status().message(), kExitUsage, console);
  return SaveTrigger(*std::move(trigger), flags.replace, config, console);
}

int SaveTrigger(v1::Trigger trigger, bool replace, const ClientConfig& config, Console& console) {
  v1::CreateTriggerRequest request;
  *request.mutable_trigger() = std::move(trigger);
  request.set_replace(replace);
  v1::Events::Stub stub(OpenChannel(config.server));
  return RunUnary<v1::Trigger>(
      [&](grpc::ClientContext* context, v1::Trigger* response) {
        return stub.CreateTrigger(context, request, response);
      },
      config, console,
      [&](const v1::Trigger& created) {
        console.out << (replace ? "saved" : "created") << " trigger " << created.name() << ": "
                    << TriggerSourceText(created) << " -> " << created.function() << std::endl;
      });
}

int RunListTriggers(const ClientConfig& config, Console& console) {
  v1::Events::Stub stub(OpenChannel(config.server));
  v1::ListTriggersRequest request;
  return RunUnary<v1::ListTriggersResponse>(
      [&](grpc::ClientContext* context, v1::ListTriggersResponse* response) {
        return stub.ListTriggers(context, request, response);
      },
      config, console,
      [&](const v1::ListTriggersResponse& response) {
        if (response.triggers().empty()) {
          console.out << "no triggers" << std::endl;
          return;
        }
        std::vector<std::vector<std::string>> rows;
        for (const v1::Trigger& trigger : response.triggers()) {
          const char* kind = trigger.has_event()      ? "event"
                             : trigger.has_schedule() ? "schedule"
                                                      : "route";
          rows.push_back({trigger.name(), trigger.function(), kind, TriggerSourceText(trigger)});
        }
        console.out << RenderTable({"NAME", "FUNCTION", "KIND", "SOURCE"}, rows) << std::flush;
      });
}

int RunDeleteTrigger(const std::string& name, const ClientConfig& config, Console& console) {
  v1::Events::Stub stub(OpenChannel(config.server));
  v1::DeleteTriggerRequest request;
  request.set_name(name);
  return RunUnary<v1::DeleteTriggerResponse>(
      [&](grpc::ClientContext* context, v1::DeleteTriggerResponse* response) {
        return stub.DeleteTrigger(context, request, response);
      },
      config, console,
      [&](const v1::DeleteTriggerResponse&) {
        console.out << "deleted trigger " << name << std::endl;
      });
}

std::string TriggerSourceText(const v1::Trigger& trigger) {
  if (trigger.has_schedule()) {
    const v1::Schedule& schedule = trigger.schedule();
    return absl::StrCat(
        "cron ", schedule.cron(), " (",
        schedule.time_zone().empty() ? std::string("UTC") : schedule.time_zone(),
        schedule.missed() == v1::MISSED_FIRES_CATCH_UP_ONCE ? ", catch up once" : "", ")");
  }
  if (trigger.has_route()) return absl::StrCat("route ", trigger.route().method());
  std::vector<std::string> parts;
  const v1::EventSource& source = trigger.event();
  if (!source.topic().empty()) parts.push_back(absl::StrCat("topic ", source.topic()));
  if (!source.type().empty()) parts.push_back(absl::StrCat("type ", source.type()));
  std::vector<std::string> filters;
  for (const v1::AttributeFilter& filter : source.filters()) {
    switch (filter.match_case()) {
      case v1::AttributeFilter::kExact:
        filters.push_back(absl::StrCat(filter.attribute(), "=", filter.exact()));
        break;
      case v1::AttributeFilter::kPrefix:
        filters.push_back(absl::StrCat(filter.attribute(), "^=", filter.prefix()));
        break;
      case v1::AttributeFilter::kSuffix:
        filters.push_back(absl::StrCat(filter.attribute(), "$=", filter.suffix()));
        break;
      case v1::AttributeFilter::MATCH_NOT_SET:
        break;
    }
  }
  if (!filters.empty()) {
    parts.push_back(absl::StrJoin(filters, source.any() ? " or " : " and "));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace sluice::cli
