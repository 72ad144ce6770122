#include "runtime/callback_deliverer.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "monitoring/log.h"
#include "monitoring/trace_context.h"
#include "sluice/v1/events.grpc.pb.h"

namespace sluice {
namespace {

constexpr size_t kScanPage = 1000;

const char* KindName(const std::string& destination) {
  return DestinationKindOf(destination) == Destination::Kind::kTopic ? "topic" : "grpc";
}

// EventOf is the event a topic destination publishes: the record as JSON,
// with the invocation's id as the event id.
v1::CloudEvent EventOf(const v1::DestinationRecord& record) {
  v1::CloudEvent event;
  event.set_id(record.invocation_id());
  event.set_source(absl::StrCat("sluice://functions/", record.function()));
  event.set_type(record.state() == v1::SUCCEEDED ? "sluice.invocation.succeeded"
                                                 : "sluice.invocation.failed");
  event.set_subject(record.invocation_id());
  event.set_datacontenttype("application/json");
  std::string json;
  // Serializing a message of known, valid fields cannot fail.
  (void)google::protobuf::util::MessageToJsonString(record, &json);
  event.set_data(std::move(json));
  return event;
}

}  // namespace

CallbackDeliverer::CallbackDeliverer(CallbackDelivererOptions options, Store* store,
                                     EventPublisher* publisher, CallbackProbe* probe)
    : options_(std::move(options)), store_(store), publisher_(publisher), probe_(probe) {}

CallbackDeliverer::~CallbackDeliverer() { Stop(); }

absl::Status CallbackDeliverer::Start() {
  std::string after;
  std::vector<std::pair<std::string, internal::CallbackDelivery>> stored;
  while (true) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> page =
        store_->ScanEntries(Table::kCallbacks, after, kScanPage);
    if (!page.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the callback outbox: ", page.status().message()));
    }
    for (auto& [key, value] : *page) {
      internal::CallbackDelivery delivery;
      if (!delivery.ParseFromString(value)) {
        LogError("callbacks", "skipping an unreadable delivery in the outbox", {{"key", key}});
        continue;
      }
      stored.emplace_back(key, std::move(delivery));
    }
    if (page->size() < kScanPage) break;
    after = page->back().first;
  }
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    for (auto& [key, delivery] : stored) {
      items_.try_emplace(key, Item{std::move(delivery), now});
    }
    if (probe_ != nullptr) probe_->SetPending(items_.size());
    woken_ = true;
  }
  if (!stored.empty()) {
    LogInfo("callbacks", absl::StrCat("resuming ", stored.size(), " pending deliveries"));
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void CallbackDeliverer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    for (grpc::ClientContext* call : calls_) call->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void CallbackDeliverer::Added(const std::string& key, internal::CallbackDelivery delivery) {
  absl::MutexLock lock(&mu_);
  items_.try_emplace(key, Item{std::move(delivery), absl::Now()});
  if (probe_ != nullptr) probe_->SetPending(items_.size());
  woken_ = true;
}

size_t CallbackDeliverer::Pending() const {
  absl::MutexLock lock(&mu_);
  return items_.size();
}

bool CallbackDeliverer::Wakeful() const { return stopping_ || woken_ || !outcomes_.empty(); }

void CallbackDeliverer::Run() {
  while (true) {
    std::vector<Outcome> outcomes;
    std::vector<std::pair<std::string, internal::CallbackDelivery>> due;
    {
      absl::MutexLock lock(&mu_);
      absl::Time next = absl::InfiniteFuture();
      for (const auto& [key, item] : items_) {
        if (!item.in_flight) next = std::min(next, item.due);
      }
      if (in_flight_ >= options_.max_in_flight) next = absl::InfiniteFuture();
      mu_.AwaitWithDeadline(absl::Condition(this, &CallbackDeliverer::Wakeful), next);
      woken_ = false;
      if (stopping_) {
        // The calls were cancelled: record their outcomes, and leave the
        // rest in the outbox.
        mu_.Await(absl::Condition(
            +[](size_t* in_flight) { return *in_flight == 0; }, &in_flight_));
      }
      outcomes.swap(outcomes_);
    }
    for (const Outcome& outcome : outcomes) Apply(outcome);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      for (auto& [key, item] : items_) {
        if (in_flight_ >= options_.max_in_flight) break;
        if (item.in_flight || item.due > now) continue;
        item.in_flight = true;
        ++in_flight_;
        due.emplace_back(key, item.delivery);
      }
    }
    for (const auto& [key, delivery] : due) Begin(key, delivery);
  }
}

void CallbackDeliverer::Begin(const std::string& key, const internal::CallbackDelivery& delivery) {
  absl::StatusOr<Destination> destination = ParseDestination(delivery.destination(), "destination");
  if (!destination.ok() || destination->kind == Destination::Kind::kFunction) {
    Finish({key,
            absl::InvalidArgumentError(
                absl::StrCat("not a topic or callback destination: ", delivery.destination())),
            true});
    return;
  }
  if (destination->kind == Destination::Kind::kTopic) {
    Publish(key, *destination, delivery);
  } else {
    Call(key, *destination, delivery);
  }
}

void CallbackDeliverer::Publish(const std::string& key, const Destination& destination,
                                const internal::CallbackDelivery& delivery) {
  TraceContext trace;
  if (std::optional<TraceContext> parsed =
          ParseTraceparent(delivery.traceparent(), delivery.tracestate())) {
    trace = *parsed;
  }
  publisher_->Publish(destination.target, EventOf(delivery.record()), trace,
                      [this, key](absl::StatusOr<v1::PublishResponse> published) {
                        // An event too large or otherwise invalid never will be.
                        const bool permanent =
                            !published.ok() &&
                            published.status().code() == absl::StatusCode::kInvalidArgument;
                        Finish({key, published.status(), permanent});
                      });
}

void CallbackDeliverer::Call(const std::string& key, const Destination& destination,
                             const internal::CallbackDelivery& delivery) {
  if (!options_.allowlist.Allows(destination.target)) {
    Finish({key,
            absl::PermissionDeniedError(absl::StrCat("callback endpoint ", destination.target,
                                                     " is not in the callback allowlist")),
            true});
    return;
  }
  struct Pending {
    grpc::ClientContext context;
    v1::DestinationRecord request;
    v1::DeliverResponse response;
    std::unique_ptr<v1::Callbacks::Stub> stub;
  };
  auto call = std::make_shared<Pending>();
  call->request = delivery.record();
  call->stub = v1::Callbacks::NewStub(ChannelTo(destination.target));
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  if (!delivery.traceparent().empty()) {
    call->context.AddMetadata("traceparent", delivery.traceparent());
    if (!delivery.tracestate().empty()) {
      call->context.AddMetadata("tracestate", delivery.tracestate());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    calls_.insert(&call->context);
    if (stopping_) call->context.TryCancel();
  }
  call->stub->async()->Deliver(
      &call->context, &call->request, &call->response, [this, key, call](grpc::Status status) {
        {
          absl::MutexLock lock(&mu_);
          calls_.erase(&call->context);
        }
        Finish({key, status.ok() ? absl::OkStatus()
                                 : absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                                status.error_message())});
      });
}

std::shared_ptr<grpc::Channel> CallbackDeliverer::ChannelTo(const std::string& target) {
  std::shared_ptr<grpc::Channel>& channel = channels_[target];
  if (channel == nullptr) {
    channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  }
  return channel;
}

void CallbackDeliverer::Finish(Outcome outcome) {
  absl::MutexLock lock(&mu_);
  --in_flight_;
  outcomes_.push_back(std::move(outcome));
}

void CallbackDeliverer::Apply(const Outcome& outcome) {
  internal::CallbackDelivery delivery;
  {
    absl::MutexLock lock(&mu_);
    auto it = items_.find(outcome.key);
    if (it == items_.end()) return;
    it->second.in_flight = false;
    // Cancelled by Stop: not an attempt; the outbox keeps it for the next start.
    if (stopping_ && outcome.status.code() == absl::StatusCode::kCancelled) return;
    delivery = it->second.delivery;
  }
  const char* kind = KindName(delivery.destination());
  delivery.set_attempts(delivery.attempts() + 1);
  const bool give_up =
      !outcome.status.ok() && (outcome.permanent || delivery.attempts() >= options_.max_attempts);
  const char* result = outcome.status.ok()                                            ? "delivered"
                       : !give_up                                                     ? "retried"
                       : outcome.status.code() == absl::StatusCode::kPermissionDenied ? "refused"
                                                                                      : "failed";
  WriteBatch batch;
  if (outcome.status.ok() || give_up) {
    batch.DeleteEntry(Table::kCallbacks, outcome.key);
  } else {
    delivery.set_last_error(std::string(outcome.status.message()));
    batch.PutEntry(Table::kCallbacks, outcome.key, delivery.SerializeAsString());
  }
  if (absl::Status s = store_->Commit(batch); !s.ok()) {
    // Kept in memory and in the store as it was: tried again after a pause.
    LogError("callbacks", "cannot record a delivery's outcome",
             {{"invocation_id", outcome.key}, {"error", s.message()}});
    absl::MutexLock lock(&mu_);
    if (auto it = items_.find(outcome.key); it != items_.end()) {
      it->second.due = absl::Now() + options_.initial_backoff;
    }
    return;
  }
  if (probe_ != nullptr) probe_->OnDelivery(kind, result);
  if (give_up) {
    LogError("callbacks",
             absl::StrCat("gave up delivering to ", delivery.destination(), " after ",
                          delivery.attempts(), " attempts: ", outcome.status.ToString()),
             {{"invocation_id", outcome.key}, {"destination", delivery.destination()}});
  }
  absl::MutexLock lock(&mu_);
  auto it = items_.find(outcome.key);
  if (it == items_.end()) return;
  if (outcome.status.ok() || give_up) {
    items_.erase(it);
    if (probe_ != nullptr) probe_->SetPending(items_.size());
    return;
  }
  const absl::Duration ceiling =
      std::min(options_.max_backoff,
               options_.initial_backoff * (1 << std::min<uint32_t>(delivery.attempts() - 1, 20)));
  const absl::Duration backoff = ceiling / 2 + ceiling / 2 * absl::Uniform(random_, 0.0, 1.0);
  it->second.delivery = std::move(delivery);
  it->second.due = absl::Now() + backoff;
}

}  // namespace sluice
