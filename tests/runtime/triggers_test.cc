// Tests of events and triggers over a real invocation engine: trigger
// validation and storage, event matching and fan-out, deduplication, and
// schedules fired on a manual clock.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/event_publisher.h"
#include "runtime/events.h"
#include "runtime/proto_time.h"
#include "runtime/scheduler.h"
#include "runtime/triggers.h"
#include "tests/runtime/engine_fixture.h"
#include "tests/support/manual_clock.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

v1::Trigger EventTrigger(const std::string& name, const std::string& function,
                         const std::string& topic, const std::string& type = "") {
  v1::Trigger trigger;
  trigger.set_name(name);
  trigger.set_function(function);
  trigger.mutable_event()->set_topic(topic);
  trigger.mutable_event()->set_type(type);
  return trigger;
}

v1::Trigger ScheduleTrigger(const std::string& name, const std::string& function,
                            const std::string& cron,
                            v1::MissedFires missed = v1::MISSED_FIRES_SKIP) {
  v1::Trigger trigger;
  trigger.set_name(name);
  trigger.set_function(function);
  trigger.mutable_schedule()->set_cron(cron);
  trigger.mutable_schedule()->set_missed(missed);
  return trigger;
}

v1::Trigger RouteTrigger(const std::string& name, const std::string& function,
                         const std::string& method) {
  v1::Trigger trigger;
  trigger.set_name(name);
  trigger.set_function(function);
  trigger.mutable_route()->set_method(method);
  return trigger;
}

v1::CloudEvent Event(const std::string& id, const std::string& type = "order.created") {
  v1::CloudEvent event;
  event.set_id(id);
  event.set_source("/shop/orders");
  event.set_type(type);
  event.set_data("payload of " + id);
  return event;
}

v1::AttributeFilter Filter(const std::string& attribute, const std::string& exact,
                           const std::string& prefix = "", const std::string& suffix = "") {
  v1::AttributeFilter filter;
  filter.set_attribute(attribute);
  if (!exact.empty()) filter.set_exact(exact);
  if (!prefix.empty()) filter.set_prefix(prefix);
  if (!suffix.empty()) filter.set_suffix(suffix);
  return filter;
}

// Matching and validation need no engine.

TEST(EventMatchingTest, TopicTypeAndFiltersAllOrAny) {
  v1::CloudEvent event = Event("1");
  event.set_subject("eu/berlin/42.png");
  (*event.mutable_extensions())["tenant"] = "acme";

  v1::EventSource source;
  source.set_topic("orders");
  EXPECT_TRUE(Matches(source, "orders", event));
  EXPECT_FALSE(Matches(source, "payments", event));
  source.set_type("order.created");
  EXPECT_TRUE(Matches(source, "orders", event));
  source.set_type("order.deleted");
  EXPECT_FALSE(Matches(source, "orders", event));

  v1::EventSource filtered;
  filtered.set_type("order.created");  // any topic
  *filtered.add_filters() = Filter("subject", "", "eu/");
  *filtered.add_filters() = Filter("subject", "", "", ".png");
  *filtered.add_filters() = Filter("tenant", "acme");
  EXPECT_TRUE(Matches(filtered, "", event));
  EXPECT_TRUE(Matches(filtered, "anything", event));
  (*event.mutable_extensions())["tenant"] = "other";
  EXPECT_FALSE(Matches(filtered, "", event)) << "all filters must match";
  filtered.set_any(true);
  EXPECT_TRUE(Matches(filtered, "", event)) << "any filter is enough";

  v1::EventSource missing;
  missing.set_type("order.created");
  *missing.add_filters() = Filter("region", "eu");
  EXPECT_FALSE(Matches(missing, "", event)) << "an absent attribute matches nothing";
}

TEST(EventMatchingTest, MetadataUsesTheCloudEventsBinaryNames) {
  v1::CloudEvent event = Event("7");
  event.set_subject("s");
  event.set_datacontenttype("application/json");
  (*event.mutable_extensions())["tenant"] = "acme";
  ASSERT_TRUE(NormalizeEvent(event, 1024, absl::FromUnixSeconds(1'800'000'000)).ok());
  std::map<std::string, std::string> metadata;
  for (auto& [key, value] : EventMetadata(event, "orders", "on-order")) metadata[key] = value;
  EXPECT_EQ(metadata["ce-id"], "7");
  EXPECT_EQ(metadata["ce-source"], "/shop/orders");
  EXPECT_EQ(metadata["ce-type"], "order.created");
  EXPECT_EQ(metadata["ce-specversion"], "1.0");
  EXPECT_EQ(metadata["ce-subject"], "s");
  EXPECT_EQ(metadata["ce-time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(metadata["content-type"], "application/json");
  EXPECT_EQ(metadata["ce-tenant"], "acme");
  EXPECT_EQ(metadata["sluice-topic"], "orders");
  EXPECT_EQ(metadata["sluice-trigger"], "on-order");
}

TEST(EventMatchingTest, MalformedEventsAreRefusedNamingTheField) {
  const absl::Time now = absl::Now();
  struct Case {
    std::function<void(v1::CloudEvent&)> spoil;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](v1::CloudEvent& e) { e.clear_id(); }, "event.id is required"},
      {[](v1::CloudEvent& e) { e.clear_source(); }, "event.source is required"},
      {[](v1::CloudEvent& e) { e.clear_type(); }, "event.type is required"},
      {[](v1::CloudEvent& e) { e.set_specversion("0.3"); }, "event.specversion"},
      {[](v1::CloudEvent& e) { (*e.mutable_extensions())["Bad-Name"] = "x"; }, "Bad-Name"},
      {[](v1::CloudEvent& e) { (*e.mutable_extensions())["subject"] = "x"; },
       "is a standard attribute"},
      {[](v1::CloudEvent& e) { e.set_subject(std::string(2000, 's')); }, "event.subject"},
      {[](v1::CloudEvent& e) { e.set_data(std::string(5000, 'd')); }, "over the limit of 4096"},
  };
  for (const Case& c : cases) {
    v1::CloudEvent event = Event("1");
    c.spoil(event);
    const absl::Status status = NormalizeEvent(event, 4096, now);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
  EXPECT_EQ(ValidateTopic("Orders", "topic").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateTopic("orders.eu_1-x", "topic").ok());
}

TEST(RouteMethodTest, OwnServicesAndMalformedNamesAreRefused) {
  EXPECT_TRUE(ValidateRouteMethod("/shop.v1.Orders/Create").ok());
  EXPECT_TRUE(ValidateRouteMethod("/Orders/Create").ok());
  for (const char* method : {"/sluice.v1.Invocations/Invoke", "/grpc.health.v1.Health/Check",
                             "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}) {
    const absl::Status status = ValidateRouteMethod(method);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << method;
    EXPECT_THAT(status.message(), HasSubstr("collides with Sluice's own")) << method;
  }
  for (const char* method : {"shop.Orders/Create", "/shop.Orders", "/shop..Orders/Create",
                             "/shop.Orders/Cre-ate", "/shop.Orders/", "/.Orders/Create", "/"}) {
    const absl::Status status = ValidateRouteMethod(method);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << method;
    EXPECT_THAT(status.message(), HasSubstr("not a full gRPC method name")) << method;
  }
}

class TriggersTest : public EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    Deploy("echo", "echo");
    triggers_ = std::make_unique<TriggerRegistry>(store_.get(), registry_.get(), &clock_);
    ASSERT_TRUE(triggers_->Load().ok());
    publisher_ = std::make_unique<EventPublisher>(
        EventPublisherOptions{.dedupe_window = absl::Hours(1), .max_event_bytes = 4096},
        store_.get(), triggers_.get(), service_.get(), &clock_);
  }

  void TearDown() override {
    publisher_.reset();
    EngineFixture::TearDown();
  }

  absl::StatusOr<v1::PublishResponse> Publish(const std::string& topic, v1::CloudEvent event) {
    absl::Notification done;
    absl::StatusOr<v1::PublishResponse> out = absl::UnknownError("not answered");
    publisher_->Publish(topic, std::move(event), TraceContext{},
                        [&](absl::StatusOr<v1::PublishResponse> r) {
                          out = std::move(r);
                          done.Notify();
                        });
    done.WaitForNotification();
    return out;
  }

  size_t Stored(const std::string& function) {
    InvocationFilter filter;
    filter.function = function;
    filter.limit = 1000;
    absl::StatusOr<std::vector<v1::Invocation>> all = service_->List(filter);
    EXPECT_TRUE(all.ok()) << all.status();
    return all.ok() ? all->size() : 0;
  }

  testing::ManualClock clock_{absl::FromUnixSeconds(1'800'000'000)};  // 2027-01-15T08:00:00Z
  std::unique_ptr<TriggerRegistry> triggers_;
  std::unique_ptr<EventPublisher> publisher_;
};

TEST_F(TriggersTest, BadTriggersGetPreciseErrorsAndChangeNothing) {
  struct Case {
    v1::Trigger trigger;
    absl::StatusCode code;
    std::string message;
  };
  v1::Trigger no_source;
  no_source.set_name("none");
  no_source.set_function("echo");
  v1::Trigger bad_filter = EventTrigger("bad-filter", "echo", "orders");
  bad_filter.mutable_event()->add_filters()->set_attribute("subject");
  const std::vector<Case> cases = {
      {EventTrigger("unknown-fn", "nope", "orders"), absl::StatusCode::kNotFound,
       "function nope is not deployed"},
      {EventTrigger("Bad_Name", "echo", "orders"), absl::StatusCode::kInvalidArgument,
       "trigger.name"},
      {no_source, absl::StatusCode::kInvalidArgument, "one of event, schedule and route"},
      {EventTrigger("no-topic", "echo", ""), absl::StatusCode::kInvalidArgument,
       "a topic or an event type"},
      {bad_filter, absl::StatusCode::kInvalidArgument, "trigger.event.filters[0]"},
      {ScheduleTrigger("bad-cron", "echo", "61 * * * *"), absl::StatusCode::kInvalidArgument,
       "trigger.schedule"},
      {ScheduleTrigger("few-fields", "echo", "* * *"), absl::StatusCode::kInvalidArgument,
       "trigger.schedule"},
      {RouteTrigger("own", "echo", "/sluice.v1.Invocations/Invoke"),
       absl::StatusCode::kInvalidArgument, "collides with Sluice's own"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::Trigger> created = triggers_->Create(c.trigger, false);
    EXPECT_EQ(created.status().code(), c.code) << c.trigger.name() << ": " << created.status();
    EXPECT_THAT(created.status().message(), HasSubstr(c.message)) << c.trigger.name();
  }
  v1::Trigger zone = ScheduleTrigger("bad-zone", "echo", "0 * * * *");
  zone.mutable_schedule()->set_time_zone("Mars/Olympus");
  EXPECT_EQ(triggers_->Create(zone, false).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(triggers_->List().empty());
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> stored =
      store_->ScanEntries(Table::kTriggers, "", 10);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->empty());
}

TEST_F(TriggersTest, NamesAndRoutesAreUniqueAndTriggersSurviveAReload) {
  ASSERT_TRUE(
      triggers_->Create(RouteTrigger("create-order", "echo", "/shop.v1.Orders/Create"), false)
          .ok());
  EXPECT_EQ(triggers_->FunctionFor("/shop.v1.Orders/Create"), "echo");
  EXPECT_EQ(triggers_->FunctionFor("/shop.v1.Orders/Delete"), "");
  EXPECT_EQ(triggers_->Create(RouteTrigger("create-order", "echo", "/shop.v1.Orders/Get"), false)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<v1::Trigger> twice =
      triggers_->Create(RouteTrigger("again", "echo", "/shop.v1.Orders/Create"), false);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(twice.status().message(), HasSubstr("already routed by trigger create-order"));
  // Replacing moves the route.
  ASSERT_TRUE(
      triggers_->Create(RouteTrigger("create-order", "echo", "/shop.v1.Orders/Get"), true).ok());
  EXPECT_EQ(triggers_->FunctionFor("/shop.v1.Orders/Create"), "");
  EXPECT_EQ(triggers_->FunctionFor("/shop.v1.Orders/Get"), "echo");
  ASSERT_TRUE(triggers_->Create(EventTrigger("on-order", "echo", "orders"), false).ok());

  TriggerRegistry reloaded(store_.get(), registry_.get(), &clock_);
  ASSERT_TRUE(reloaded.Load().ok());
  std::vector<std::string> names;
  for (const v1::Trigger& t : reloaded.List()) names.push_back(t.name());
  EXPECT_THAT(names, ElementsAre("create-order", "on-order"));
  EXPECT_EQ(reloaded.FunctionFor("/shop.v1.Orders/Get"), "echo");

  ASSERT_TRUE(reloaded.Delete("create-order").ok());
  EXPECT_EQ(reloaded.FunctionFor("/shop.v1.Orders/Get"), "");
  EXPECT_EQ(reloaded.Delete("create-order").code(), absl::StatusCode::kNotFound);
  TriggerRegistry again(store_.get(), registry_.get(), &clock_);
  ASSERT_TRUE(again.Load().ok());
  ASSERT_EQ(again.List().size(), 1u);
  EXPECT_EQ(again.List()[0].name(), "on-order");
}

TEST_F(TriggersTest, AnEventFansOutToEveryMatchingTriggerAndRunsWithItsAttributes) {
  Deploy("echo-b", "echo");
  Deploy("echo-c", "echo");
  ASSERT_TRUE(triggers_->Create(EventTrigger("a-orders", "echo", "orders"), false).ok());
  v1::Trigger created = EventTrigger("b-created", "echo-b", "", "order.created");
  *created.mutable_event()->add_filters() = Filter("subject", "", "eu/");
  ASSERT_TRUE(triggers_->Create(created, false).ok());
  ASSERT_TRUE(triggers_->Create(EventTrigger("c-payments", "echo-c", "payments"), false).ok());

  v1::CloudEvent event = Event("e-1");
  event.set_subject("eu/42");
  absl::StatusOr<v1::PublishResponse> published = Publish("orders", event);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_FALSE(published->duplicate());
  EXPECT_THAT(published->triggers(), ElementsAre("a-orders", "b-created"));
  ASSERT_EQ(published->invocation_ids_size(), 2);
  for (const std::string& id : published->invocation_ids()) {
    const v1::Invocation done = AwaitState(id, v1::SUCCEEDED);
    EXPECT_EQ(done.output(), "payload of e-1");
    EXPECT_EQ(done.metadata().at("ce-id"), "e-1");
    EXPECT_EQ(done.metadata().at("ce-source"), "/shop/orders");
    EXPECT_EQ(done.metadata().at("ce-subject"), "eu/42");
    EXPECT_EQ(done.metadata().at("sluice-topic"), "orders");
  }
  EXPECT_EQ(Stored("echo-c"), 0u);

  // Outside eu/, only the topic trigger matches.
  v1::CloudEvent us = Event("e-2");
  us.set_subject("us/1");
  published = Publish("orders", us);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_THAT(published->triggers(), ElementsAre("a-orders"));
}

TEST_F(TriggersTest, ARepeatedSourceAndIdIsDroppedWithinTheWindowOnly) {
  ASSERT_TRUE(triggers_->Create(EventTrigger("on-order", "echo", "orders"), false).ok());
  absl::StatusOr<v1::PublishResponse> first = Publish("orders", Event("dup"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->invocation_ids_size(), 1);

  absl::StatusOr<v1::PublishResponse> second = Publish("orders", Event("dup"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->duplicate());
  EXPECT_EQ(second->invocation_ids_size(), 0);
  // Another source with the same id is another event.
  v1::CloudEvent other = Event("dup");
  other.set_source("/shop/returns");
  absl::StatusOr<v1::PublishResponse> third = Publish("orders", other);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->duplicate());
  AwaitState(first->invocation_ids(0), v1::SUCCEEDED);
  AwaitState(third->invocation_ids(0), v1::SUCCEEDED);
  EXPECT_EQ(Stored("echo"), 2u);

  // Past the window the key is swept and the event is new again.
  clock_.Advance(absl::Minutes(59));
  absl::StatusOr<size_t> swept = publisher_->Sweep();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 0u);
  clock_.Advance(absl::Minutes(2));
  swept = publisher_->Sweep();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 2u);
  absl::StatusOr<v1::PublishResponse> later = Publish("orders", Event("dup"));
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->duplicate());
  EXPECT_EQ(later->invocation_ids_size(), 1);
}

TEST_F(TriggersTest, ConcurrentRepeatsOfOneEventStartItOnce) {
  ASSERT_TRUE(triggers_->Create(EventTrigger("on-order", "echo", "orders"), false).ok());
  constexpr int kPublishers = 8;
  std::atomic<int> originals{0};
  std::atomic<int> duplicates{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPublishers; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<v1::PublishResponse> r = Publish("orders", Event("same"));
      ASSERT_TRUE(r.ok()) << r.status();
      (r->duplicate() ? duplicates : originals)++;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(originals.load(), 1);
  EXPECT_EQ(duplicates.load(), kPublishers - 1);
  EXPECT_EQ(Stored("echo"), 1u);
}

TEST_F(TriggersTest, AFullQueueRefusesTheWholeEventAndRecordsNothing) {
  v1::FunctionSpec small;
  small.set_max_queue(1);
  small.set_concurrency(1);
  Deploy("slow", "sleep", small);
  ASSERT_TRUE(triggers_->Create(EventTrigger("a-echo", "echo", "jobs"), false).ok());
  ASSERT_TRUE(triggers_->Create(EventTrigger("b-slow", "slow", "jobs"), false).ok());
  // Fill `slow`: one running (3 s) and one waiting; the next is refused.
  absl::StatusOr<AsyncAccepted> running = InvokeAsyncWith({"slow", 0, "3000", {}});
  ASSERT_TRUE(running.ok()) << running.status();
  AwaitState(running->invocation_id, v1::RUNNING);
  ASSERT_TRUE(InvokeAsyncWith({"slow", 0, "3000", {}}).ok());
  const absl::Status filled = InvokeAsyncWith({"slow", 0, "3000", {}}).status();
  ASSERT_EQ(filled.code(), absl::StatusCode::kResourceExhausted) << filled;

  absl::StatusOr<v1::PublishResponse> refused = Publish("jobs", Event("3"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(Stored("echo"), 0u) << "no invocation of a refused event is recorded";
  EXPECT_EQ(store_->GetEntry(Table::kEvents, EventKey(Event("3"))).status().code(),
            absl::StatusCode::kNotFound)
      << "a refused event may be published again";
}

class SchedulerTest : public TriggersTest {
 protected:
  std::unique_ptr<Scheduler> StartScheduler() {
    auto scheduler =
        std::make_unique<Scheduler>(store_.get(), triggers_.get(), service_.get(), &clock_);
    EXPECT_TRUE(scheduler->Start().ok());
    return scheduler;
  }

  // Fires returns the scheduled times of the schedule's invocations so far,
  // oldest first, once every one is recorded.
  std::vector<std::string> Fires(const std::string& function) {
    InvocationFilter filter;
    filter.function = function;
    filter.limit = 1000;
    std::vector<std::string> times;
    absl::StatusOr<std::vector<v1::Invocation>> all = service_->List(filter);
    EXPECT_TRUE(all.ok());
    if (!all.ok()) return times;
    for (const v1::Invocation& fired : *all) {
      times.push_back(fired.metadata().at("sluice-scheduled-time"));
    }
    // Invocations made within one millisecond list in any order; the
    // scheduled times (RFC 3339, UTC) sort in time order.
    std::sort(times.begin(), times.end());
    return times;
  }

  // AwaitFires waits until `count` fires of `function` are recorded.
  std::vector<std::string> AwaitFires(const std::string& function, size_t count) {
    EXPECT_TRUE(
        testing::WaitFor([&] { return Fires(function).size() >= count; }, absl::Seconds(10)));
    return Fires(function);
  }
};

TEST_F(SchedulerTest, FiresAtEachCronTimeOnceAndNeverTwiceAcrossARestart) {
  // Created at 08:00:00; fires at 08:05, 08:10, ...
  ASSERT_TRUE(triggers_->Create(ScheduleTrigger("tick", "echo", "*/5 * * * *"), false).ok());
  auto scheduler = StartScheduler();
  triggers_->SetListener([&](const std::string& name) { scheduler->Update(name); });
  clock_.Advance(absl::Minutes(4) + absl::Seconds(59));
  scheduler->FireDue();
  clock_.Advance(absl::Seconds(1));
  scheduler->FireDue();
  EXPECT_THAT(AwaitFires("echo", 1), ElementsAre("2027-01-15T08:05:00Z"));
  scheduler->FireDue();  // the same time again: nothing
  clock_.Advance(absl::Seconds(30));
  scheduler->FireDue();
  EXPECT_EQ(Fires("echo").size(), 1u);
  // The fire's answer, which records it as the last one, may come just
  // after its invocation shows.
  v1::Trigger described;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        described = *triggers_->Get("tick");
        scheduler->Describe(described);
        return described.has_last_fire_time();
      },
      absl::Seconds(10)));
  EXPECT_EQ(FromProtoTime(described.last_fire_time()), absl::FromUnixSeconds(1'800'000'300));
  EXPECT_EQ(FromProtoTime(described.next_fire_time()), absl::FromUnixSeconds(1'800'000'600));

  // A restart at 08:05:30 does not fire 08:05 again.
  scheduler.reset();
  scheduler = StartScheduler();
  scheduler->FireDue();
  clock_.Advance(absl::Minutes(4) + absl::Seconds(30));  // 08:10:00
  scheduler->FireDue();
  EXPECT_THAT(AwaitFires("echo", 2), ElementsAre("2027-01-15T08:05:00Z", "2027-01-15T08:10:00Z"));
  InvocationFilter filter;
  filter.function = "echo";
  absl::StatusOr<std::vector<v1::Invocation>> fired = service_->List(filter);
  ASSERT_TRUE(fired.ok()) << fired.status();
  for (const v1::Invocation& invocation : *fired) {
    EXPECT_EQ(AwaitState(invocation.id(), v1::SUCCEEDED).metadata().at("sluice-trigger"), "tick");
  }
}

TEST_F(SchedulerTest, MissedFiresAreSkippedOrCaughtUpOnceByPolicy) {
  Deploy("echo-b", "echo");
  ASSERT_TRUE(triggers_->Create(ScheduleTrigger("skip", "echo", "0 * * * *"), false).ok());
  ASSERT_TRUE(triggers_
                  ->Create(ScheduleTrigger("catch-up", "echo-b", "0 * * * *",
                                           v1::MISSED_FIRES_CATCH_UP_ONCE),
                           false)
                  .ok());
  {
    auto scheduler = StartScheduler();
    clock_.Advance(absl::Hours(1));  // 09:00
    scheduler->FireDue();
    AwaitFires("echo", 1);
    AwaitFires("echo-b", 1);
  }
  // Down from 09:00:00 to 12:30: 10:00, 11:00 and 12:00 were missed.
  clock_.Advance(absl::Hours(3) + absl::Minutes(30));
  auto scheduler = StartScheduler();
  EXPECT_THAT(AwaitFires("echo-b", 2), ElementsAre("2027-01-15T09:00:00Z", "2027-01-15T12:00:00Z"))
      << "catch up once, for the latest missed time";
  scheduler->FireDue();
  EXPECT_THAT(Fires("echo"), ElementsAre("2027-01-15T09:00:00Z")) << "skip fires nothing";
  v1::Trigger skip = *triggers_->Get("skip");
  scheduler->Describe(skip);
  EXPECT_EQ(FromProtoTime(skip.next_fire_time()), absl::FromUnixSeconds(1'800'000'000 + 5 * 3600));
  clock_.Advance(absl::Minutes(30));  // 13:00
  // As the server does, every few milliseconds: a time that comes while the
  // catch-up fire is being recorded fires once that is answered, and only
  // once however often FireDue runs.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        scheduler->FireDue();
        return Fires("echo").size() >= 2 && Fires("echo-b").size() >= 3;
      },
      absl::Seconds(10)));
  scheduler->FireDue();
  EXPECT_THAT(AwaitFires("echo", 2), ElementsAre("2027-01-15T09:00:00Z", "2027-01-15T13:00:00Z"));
  EXPECT_THAT(AwaitFires("echo-b", 3),
              ElementsAre("2027-01-15T09:00:00Z", "2027-01-15T12:00:00Z", "2027-01-15T13:00:00Z"));
}

TEST_F(SchedulerTest, ATimeZoneMovesTheFireTimes) {
  v1::Trigger berlin = ScheduleTrigger("berlin", "echo", "30 9 * * *");
  berlin.mutable_schedule()->set_time_zone("Europe/Berlin");
  ASSERT_TRUE(triggers_->Create(berlin, false).ok());
  auto scheduler = StartScheduler();
  v1::Trigger described = *triggers_->Get("berlin");
  scheduler->Describe(described);
  // 09:30 in Berlin in January is 08:30 UTC.
  EXPECT_EQ(FromProtoTime(described.next_fire_time()),
            absl::FromUnixSeconds(1'800'000'000 + 30 * 60));
  clock_.Advance(absl::Minutes(30));
  scheduler->FireDue();
  EXPECT_THAT(AwaitFires("echo", 1), ElementsAre("2027-01-15T08:30:00Z"));
}

}  // namespace
}  // namespace sluice
