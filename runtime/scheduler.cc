// Scheduler: cron fires, recorded with their time.
#include "runtime/scheduler.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "monitoring/log.h"
#include "runtime/proto_time.h"

namespace sluice {
namespace {

// How far back a catch-up looks for the latest missed fire time, in fire
// times; beyond that the latest one found is fired.
constexpr int kMaxMissedScan = 1'000'000;

std::string EncodeTime(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }

absl::Time DecodeTime(const std::string& value) {
  int64_t micros = 0;
  if (!absl::SimpleAtoi(value, &micros)) return absl::InfinitePast();
  return absl::FromUnixMicros(micros);
}

}  // namespace

Scheduler::Scheduler(Store* store, TriggerRegistry* triggers, InvocationService* invocations,
                     Clock* clock)
    : store_(store), triggers_(triggers), invocations_(invocations), clock_(clock) {}

absl::Status Scheduler::Start() {
  const absl::Time now = clock_->Now();
  std::vector<Due> due;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& trigger : triggers_->Schedules()) {
      absl::StatusOr<CronSchedule> cron =
          CronSchedule::Parse(trigger->schedule().cron(), trigger->schedule().time_zone());
      if (!cron.ok()) return cron.status();
      Entry entry{*std::move(cron), trigger->function(), *trigger};
      absl::StatusOr<std::string> stored = store_->GetEntry(Table::kSchedules, trigger->name());
      if (stored.ok()) {
        entry.last_fire = DecodeTime(*stored);
      } else if (!absl::IsNotFound(stored.status())) {
        return stored.status();
      }
      // A schedule that never fired counts from its creation.
      const absl::Time from = entry.last_fire != absl::InfinitePast()
                                  ? entry.last_fire
                                  : FromProtoTime(trigger->created_at());
      absl::Time next = entry.cron.Next(from);
      auto [it, inserted] = entries_.insert_or_assign(trigger->name(), std::move(entry));
      Entry& placed = it->second;
      if (next > now) {
        placed.next_fire = next;
        continue;
      }
      if (trigger->schedule().missed() == v1::MISSED_FIRES_CATCH_UP_ONCE) {
        absl::Time latest = next;
        for (int i = 0; i < kMaxMissedScan; ++i) {
          const absl::Time after = placed.cron.Next(latest);
          if (after > now) break;
          latest = after;
        }
        LogInfo("scheduler",
                absl::StrCat("schedule ", trigger->name(), " missed fires while down; firing once"),
                {{"trigger", trigger->name()}});
        due.push_back(Take(trigger->name(), placed, latest, now));
      } else {
        placed.next_fire = placed.cron.Next(now);
        LogInfo("scheduler",
                absl::StrCat("schedule ", trigger->name(),
                             " missed fires while down; skipped (policy: skip)"),
                {{"trigger", trigger->name()}});
      }
    }
  }
  for (Due& fire : due) Submit(std::move(fire));
  return absl::OkStatus();
}

void Scheduler::FireDue() {
  const absl::Time now = clock_->Now();
  std::vector<Due> due;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, entry] : entries_) {
      if (entry.firing || entry.next_fire > now) continue;
      // Fire times that all passed since (a slow round) are fired once, for
      // the latest of them.
      absl::Time at = entry.next_fire;
      for (int i = 0; i < kMaxMissedScan; ++i) {
        const absl::Time after = entry.cron.Next(at);
        if (after > now) break;
        at = after;
      }
      due.push_back(Take(name, entry, at, now));
    }
  }
  for (Due& fire : due) Submit(std::move(fire));
}

Scheduler::Due Scheduler::Take(const std::string& name, Entry& entry, absl::Time at,
                               absl::Time now) {
  entry.firing = true;
  entry.next_fire = entry.cron.Next(std::max(at, now));
  InvokeArgs args;
  args.function = entry.function;
  args.priority = entry.trigger.priority();
  // Fire times are whole minutes: RFC 3339 in UTC, "2027-01-15T08:05:00Z".
  const std::string scheduled = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone());
  args.payload =
      entry.trigger.schedule().payload().empty()
          ? absl::StrCat("{\"trigger\":\"", name, "\",\"scheduledTime\":\"", scheduled, "\"}")
          : entry.trigger.schedule().payload();
  args.metadata = {{"sluice-trigger", name}, {"sluice-scheduled-time", scheduled}};
  return Due{name, at, std::move(args)};
}

Scheduler::~Scheduler() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](size_t* submitting) { return *submitting == 0; }, &submitting_));
}

void Scheduler::Submit(Due due) {
  {
    absl::MutexLock lock(&mu_);
    ++submitting_;
  }
  std::vector<InvokeArgs> requests;
  requests.push_back(std::move(due.args));
  WriteBatch extra;
  extra.PutEntry(Table::kSchedules, due.name, EncodeTime(due.at));
  // The callback runs on this thread (a refusal) or the commit callback thread.
  invocations_->InvokeAll(
      std::move(requests), std::move(extra),
      [this, name = due.name, at = due.at](absl::StatusOr<std::vector<std::string>> ids) {
        if (!ids.ok()) {
          LogWarning("scheduler", absl::StrCat("schedule ", name, " could not fire"),
                     {{"trigger", name}, {"error", ids.status().message()}});
        }
        absl::MutexLock lock(&mu_);
        --submitting_;
        auto it = entries_.find(name);
        if (it == entries_.end()) return;
        it->second.firing = false;
        if (ids.ok()) it->second.last_fire = std::max(it->second.last_fire, at);
      });
}

void Scheduler::Update(const std::string& name) {
  absl::StatusOr<v1::Trigger> trigger = triggers_->Get(name);
  absl::MutexLock lock(&mu_);
  if (!trigger.ok() || !trigger->has_schedule()) {
    entries_.erase(name);
    return;
  }
  absl::StatusOr<CronSchedule> cron =
      CronSchedule::Parse(trigger->schedule().cron(), trigger->schedule().time_zone());
  if (!cron.ok()) return;  // the registry validated it
  const absl::Time last =
      entries_.contains(name) ? entries_.at(name).last_fire : absl::InfinitePast();
  Entry entry{*std::move(cron), trigger->function(), *trigger};
  entry.last_fire = last;
  entry.next_fire = entry.cron.Next(clock_->Now());
  entries_.insert_or_assign(name, std::move(entry));
}

void Scheduler::Describe(v1::Trigger& trigger) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(trigger.name());
  if (it == entries_.end()) return;
  if (it->second.last_fire != absl::InfinitePast()) {
    *trigger.mutable_last_fire_time() = ToProtoTime(it->second.last_fire);
  }
  *trigger.mutable_next_fire_time() = ToProtoTime(it->second.next_fire);
}

}  // namespace sluice
