// EventPublisher: deduplication and fan-out of published events.
#include "runtime/event_publisher.h"

#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/events.h"

namespace sluice {
namespace {

// The stored value of a deduplication key: when the event was published,
// in Unix microseconds.
std::string EncodeTime(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }

absl::Time DecodeTime(const std::string& value) {
  int64_t micros = 0;
  if (!absl::SimpleAtoi(value, &micros)) return absl::InfinitePast();  // swept as expired
  return absl::FromUnixMicros(micros);
}

}  // namespace

EventPublisher::EventPublisher(EventPublisherOptions options, Store* store,
                               TriggerRegistry* triggers, InvocationService* invocations,
                               Clock* clock)
    : options_(options),
      store_(store),
      triggers_(triggers),
      invocations_(invocations),
      clock_(clock) {}

void EventPublisher::Publish(std::string topic, v1::CloudEvent event, const TraceContext& trace,
                             Done done) {
  const absl::Time now = clock_->Now();
  if (absl::Status s = ValidateTopic(topic, "topic"); !s.ok()) {
    done(s);
    return;
  }
  if (absl::Status s = NormalizeEvent(event, options_.max_event_bytes, now); !s.ok()) {
    done(s);
    return;
  }
  const std::string key = EventKey(event);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = in_flight_.find(key); it != in_flight_.end()) {
      it->second.push_back(std::move(done));
      return;
    }
    absl::StatusOr<std::string> seen = store_->GetEntry(Table::kEvents, key);
    if (seen.ok() && now - DecodeTime(*seen) < options_.dedupe_window) {
      v1::PublishResponse duplicate;
      duplicate.set_duplicate(true);
      done(std::move(duplicate));
      return;
    }
    if (!seen.ok() && !absl::IsNotFound(seen.status())) {
      done(absl::UnavailableError(
          absl::StrCat("could not look up the event: ", seen.status().message())));
      return;
    }
    in_flight_[key];
  }

  std::vector<std::shared_ptr<const v1::Trigger>> matched = triggers_->MatchEvent(topic, event);
  std::vector<InvokeArgs> requests;
  v1::PublishResponse response;
  requests.reserve(matched.size());
  for (const auto& trigger : matched) {
    InvokeArgs args;
    args.function = trigger->function();
    args.payload = event.data();
    args.metadata = EventMetadata(event, topic, trigger->name());
    args.priority = trigger->priority();
    args.trace = trace;
    requests.push_back(std::move(args));
    response.add_triggers(trigger->name());
  }
  WriteBatch extra;
  extra.PutEntry(Table::kEvents, key, EncodeTime(now));
  {
    absl::MutexLock lock(&mu_);
    ++recording_;
  }
  invocations_->InvokeAll(std::move(requests), std::move(extra),
                          [this, key, response = std::move(response), done = std::move(done)](
                              absl::StatusOr<std::vector<std::string>> ids) mutable {
                            if (!ids.ok()) {
                              Answer(key, std::move(done), ids.status());
                            } else {
                              for (std::string& id : *ids) {
                                response.add_invocation_ids(std::move(id));
                              }
                              Answer(key, std::move(done), std::move(response));
                            }
                            absl::MutexLock lock(&mu_);
                            --recording_;
                          });
}

EventPublisher::~EventPublisher() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](size_t* recording) { return *recording == 0; }, &recording_));
}

void EventPublisher::Answer(const std::string& key, Done done,
                            absl::StatusOr<v1::PublishResponse> result) {
  std::vector<Done> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      waiters = std::move(it->second);
      in_flight_.erase(it);
    }
  }
  for (Done& waiter : waiters) {
    if (result.ok()) {
      v1::PublishResponse duplicate;
      duplicate.set_duplicate(true);
      waiter(std::move(duplicate));
    } else {
      waiter(result.status());
    }
  }
  done(std::move(result));
}

absl::StatusOr<size_t> EventPublisher::Sweep(size_t limit) {
  std::string cursor;
  {
    absl::MutexLock lock(&mu_);
    cursor = sweep_cursor_;
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> page =
      store_->ScanEntries(Table::kEvents, cursor, limit);
  if (!page.ok()) return page.status();
  const absl::Time now = clock_->Now();
  WriteBatch batch;
  batch.set_sync(false);  // a key that comes back after a crash is swept again
  for (const auto& [key, value] : *page) {
    if (now - DecodeTime(value) >= options_.dedupe_window) batch.DeleteEntry(Table::kEvents, key);
  }
  const size_t deleted = batch.size();
  if (absl::Status s = store_->Commit(batch); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  sweep_cursor_ = page->size() < limit ? std::string() : page->back().first;
  return deleted;
}

}  // namespace sluice
