// TriggerRegistry: validation, storage and lookup of triggers.
#include "runtime/triggers.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/cron.h"
#include "runtime/events.h"
#include "runtime/function_spec.h"
#include "runtime/proto_time.h"

namespace sluice {
namespace {

bool IsIdentifier(absl::string_view part) {
  if (part.empty() || absl::ascii_isdigit(part.front())) return false;
  for (char c : part) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateRouteMethod(absl::string_view method) {
  const auto malformed = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("trigger.route.method: \"", method,
                     "\" is not a full gRPC method name such as /shop.v1.Orders/Create"));
  };
  if (!absl::StartsWith(method, "/")) return malformed();
  const absl::string_view path = method.substr(1);
  const size_t slash = path.find('/');
  if (slash == absl::string_view::npos) return malformed();
  const absl::string_view service = path.substr(0, slash);
  const absl::string_view name = path.substr(slash + 1);
  if (!IsIdentifier(name)) return malformed();
  size_t start = 0;
  while (true) {
    const size_t dot = service.find('.', start);
    if (!IsIdentifier(service.substr(start, dot - start))) return malformed();
    if (dot == absl::string_view::npos) break;
    start = dot + 1;
  }
  for (absl::string_view reserved : {"sluice.", "grpc."}) {
    if (absl::StartsWith(service, reserved)) {
      return absl::InvalidArgumentError(absl::StrCat("trigger.route.method: \"", method,
                                                     "\" collides with Sluice's own ", reserved,
                                                     "* services"));
    }
  }
  return absl::OkStatus();
}

TriggerRegistry::TriggerRegistry(Store* store, FunctionRegistry* functions, Clock* clock)
    : store_(store), functions_(functions), clock_(clock) {}

absl::Status TriggerRegistry::Load() {
  std::string after;
  absl::MutexLock lock(&mu_);
  while (true) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> page =
        store_->ScanEntries(Table::kTriggers, after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) return absl::OkStatus();
    for (auto& [name, value] : *page) {
      auto trigger = std::make_shared<v1::Trigger>();
      if (!trigger->ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("stored trigger ", name, " is corrupt"));
      }
      if (trigger->has_route()) routes_[trigger->route().method()] = trigger->function();
      triggers_[name] = std::move(trigger);
      after = name;
    }
  }
}

absl::Status TriggerRegistry::Validate(v1::Trigger& trigger) const {
  if (absl::Status s = ValidateFunctionName(trigger.name(), "trigger.name"); !s.ok()) return s;
  if (absl::Status s = ValidateFunctionName(trigger.function(), "trigger.function"); !s.ok()) {
    return s;
  }
  switch (trigger.source_case()) {
    case v1::Trigger::kEvent:
      if (absl::Status s = ValidateEventSource(trigger.event(), "trigger.event"); !s.ok()) return s;
      break;
    case v1::Trigger::kSchedule: {
      absl::StatusOr<CronSchedule> cron =
          CronSchedule::Parse(trigger.schedule().cron(), trigger.schedule().time_zone());
      if (!cron.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("trigger.schedule: ", cron.status().message()));
      }
      break;
    }
    case v1::Trigger::kRoute:
      if (absl::Status s = ValidateRouteMethod(trigger.route().method()); !s.ok()) return s;
      break;
    case v1::Trigger::SOURCE_NOT_SET:
      return absl::InvalidArgumentError("trigger: one of event, schedule and route is required");
  }
  if (!v1::Priority_IsValid(trigger.priority())) {
    return absl::InvalidArgumentError(
        absl::StrCat("trigger.priority: ", trigger.priority(), " is not a priority"));
  }
  if (trigger.priority() == v1::PRIORITY_UNSPECIFIED) trigger.set_priority(v1::PRIORITY_NORMAL);
  // What the server keeps is not the caller's to set.
  trigger.clear_last_fire_time();
  trigger.clear_next_fire_time();
  return absl::OkStatus();
}

absl::StatusOr<v1::Trigger> TriggerRegistry::Create(v1::Trigger trigger, bool replace) {
  if (absl::Status s = Validate(trigger); !s.ok()) return s;
  if (absl::StatusOr<std::shared_ptr<const v1::Function>> f =
          functions_->GetShared(trigger.function(), 0);
      !f.ok()) {
    return absl::NotFoundError(
        absl::StrCat("trigger.function: function ", trigger.function(), " is not deployed"));
  }
  {
    absl::MutexLock write(&write_mu_);
    {
      absl::MutexLock lock(&mu_);
      auto existing = triggers_.find(trigger.name());
      if (existing != triggers_.end() && !replace) {
        return absl::AlreadyExistsError(
            absl::StrCat("trigger ", trigger.name(), " already exists (replace it to change it)"));
      }
      if (trigger.has_route()) {
        for (const auto& [name, other] : triggers_) {
          if (name != trigger.name() && other->has_route() &&
              other->route().method() == trigger.route().method()) {
            return absl::AlreadyExistsError(
                absl::StrCat("trigger.route.method: ", trigger.route().method(),
                             " is already routed by trigger ", name));
          }
        }
      }
      *trigger.mutable_created_at() =
          existing != triggers_.end() ? existing->second->created_at() : ToProtoTime(clock_->Now());
    }
    WriteBatch batch;
    batch.PutEntry(Table::kTriggers, trigger.name(), trigger.SerializeAsString());
    if (absl::Status s = store_->Commit(batch); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("could not store the trigger: ", s.message()));
    }
    absl::MutexLock lock(&mu_);
    auto& slot = triggers_[trigger.name()];
    if (slot != nullptr && slot->has_route()) routes_.erase(slot->route().method());
    if (trigger.has_route()) routes_[trigger.route().method()] = trigger.function();
    slot = std::make_shared<const v1::Trigger>(trigger);
  }
  if (listener_) listener_(trigger.name());
  return trigger;
}

absl::StatusOr<v1::Trigger> TriggerRegistry::Get(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = triggers_.find(name);
  if (it == triggers_.end())
    return absl::NotFoundError(absl::StrCat("trigger ", name, " not found"));
  return *it->second;
}

std::vector<v1::Trigger> TriggerRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Trigger> triggers;
  triggers.reserve(triggers_.size());
  for (const auto& [name, trigger] : triggers_) triggers.push_back(*trigger);
  return triggers;
}

absl::Status TriggerRegistry::Delete(const std::string& name) {
  {
    absl::MutexLock write(&write_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (!triggers_.contains(name)) {
        return absl::NotFoundError(absl::StrCat("trigger ", name, " not found"));
      }
    }
    WriteBatch batch;
    batch.DeleteEntry(Table::kTriggers, name);
    batch.DeleteEntry(Table::kSchedules, name);
    if (absl::Status s = store_->Commit(batch); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("could not delete the trigger: ", s.message()));
    }
    absl::MutexLock lock(&mu_);
    auto it = triggers_.find(name);
    if (it->second->has_route()) routes_.erase(it->second->route().method());
    triggers_.erase(it);
  }
  if (listener_) listener_(name);
  return absl::OkStatus();
}

std::vector<std::shared_ptr<const v1::Trigger>> TriggerRegistry::MatchEvent(
    absl::string_view topic, const v1::CloudEvent& event) const {
  std::vector<std::shared_ptr<const v1::Trigger>> matched;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, trigger] : triggers_) {
    if (trigger->has_event() && Matches(trigger->event(), topic, event)) {
      matched.push_back(trigger);
    }
  }
  return matched;
}

std::vector<std::shared_ptr<const v1::Trigger>> TriggerRegistry::Schedules() const {
  std::vector<std::shared_ptr<const v1::Trigger>> schedules;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, trigger] : triggers_) {
    if (trigger->has_schedule()) schedules.push_back(trigger);
  }
  return schedules;
}

std::string TriggerRegistry::FunctionFor(absl::string_view method) const {
  absl::MutexLock lock(&mu_);
  auto it = routes_.find(method);
  return it == routes_.end() ? std::string() : it->second;
}

void TriggerRegistry::SetListener(std::function<void(const std::string& name)> listener) {
  listener_ = std::move(listener);
}

}  // namespace sluice
