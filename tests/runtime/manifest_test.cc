// Tests of ParseManifest and LoadManifest: the sluice.yaml format.
#include "runtime/manifest.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kTwoFunctions[] = R"yaml(
functions:
  - name: echo
    runtime: native
    artifact: ../build/functions/libecho.so
    entry_point: my_entry
    concurrency: 8
    max_queue: 1000
    timeout: 1m30s
    isolation: none
    description: "Says it back"
    env: {GREETING: hello, PORT: 8080, EMPTY: ""}
  - name: sleep
    runtime: native
    artifact: /opt/functions/libsleep.so
    timeout: 500ms
)yaml";

constexpr char kEveryRuntime[] = R"yaml(
functions:
  - name: greet
    runtime: lambda
    artifact: greet.zip
    handler: function.handler
    isolation: process
    memory_mb: 256
    min_warm: 2
    idle_timeout: 1m30s
    max_open_files: 4096
  - name: count
    runtime: exec
    artifact: bin/count
    min_warm: 0
    idle_timeout: 1500ms
  - name: echo
    runtime: native
    artifact: libecho.so
)yaml";

TEST(ParseManifestTest, ParsesEveryFieldOfEveryFunction) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = ParseManifest(kTwoFunctions, "/srv/app");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);

  const ManifestEntry& echo = (*entries)[0];
  EXPECT_EQ(echo.spec.name(), "echo");
  EXPECT_EQ(echo.spec.runtime(), v1::RUNTIME_NATIVE);
  EXPECT_EQ(echo.artifact_path, "/srv/build/functions/libecho.so");
  EXPECT_EQ(echo.spec.entry_point(), "my_entry");
  EXPECT_EQ(echo.spec.concurrency(), 8u);
  EXPECT_EQ(echo.spec.max_queue(), 1000u);
  EXPECT_EQ(echo.spec.timeout().seconds(), 90);
  EXPECT_EQ(echo.spec.timeout().nanos(), 0);
  EXPECT_EQ(echo.spec.isolation(), v1::ISOLATION_NONE);
  EXPECT_EQ(echo.spec.description(), "Says it back");
  ASSERT_EQ(echo.spec.env().size(), 3u);
  EXPECT_EQ(echo.spec.env().at("GREETING"), "hello");
  EXPECT_EQ(echo.spec.env().at("PORT"), "8080");
  EXPECT_EQ(echo.spec.env().at("EMPTY"), "");

  const ManifestEntry& sleep = (*entries)[1];
  EXPECT_EQ(sleep.spec.name(), "sleep");
  EXPECT_EQ(sleep.artifact_path, "/opt/functions/libsleep.so");
  EXPECT_EQ(sleep.spec.timeout().seconds(), 0);
  EXPECT_EQ(sleep.spec.timeout().nanos(), 500000000);
  // Optional fields left out keep their proto defaults.
  EXPECT_EQ(sleep.spec.concurrency(), 0u);
  EXPECT_EQ(sleep.spec.entry_point(), "");
  EXPECT_EQ(sleep.spec.isolation(), v1::ISOLATION_UNSPECIFIED);
}

TEST(ParseManifestTest, ParsesEveryRuntimeAndWorkerField) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = ParseManifest(kEveryRuntime, "/srv/app");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);

  const v1::FunctionSpec& greet = (*entries)[0].spec;
  EXPECT_EQ(greet.runtime(), v1::RUNTIME_LAMBDA);
  EXPECT_EQ((*entries)[0].artifact_path, "/srv/app/greet.zip");
  EXPECT_EQ(greet.handler(), "function.handler");
  EXPECT_EQ(greet.isolation(), v1::ISOLATION_PROCESS);
  EXPECT_EQ(greet.memory_mb(), 256u);
  EXPECT_EQ(greet.min_warm(), 2u);
  EXPECT_EQ(greet.idle_timeout().seconds(), 90);
  EXPECT_EQ(greet.idle_timeout().nanos(), 0);
  EXPECT_EQ(greet.max_open_files(), 4096u);

  const v1::FunctionSpec& count = (*entries)[1].spec;
  EXPECT_EQ(count.runtime(), v1::RUNTIME_EXEC);
  EXPECT_EQ(count.min_warm(), 0u);
  EXPECT_EQ(count.idle_timeout().seconds(), 1);
  EXPECT_EQ(count.idle_timeout().nanos(), 500000000);

  // Worker fields left out keep their proto defaults.
  const v1::FunctionSpec& echo = (*entries)[2].spec;
  EXPECT_EQ(echo.runtime(), v1::RUNTIME_NATIVE);
  EXPECT_EQ(echo.handler(), "");
  EXPECT_EQ(echo.memory_mb(), 0u);
  EXPECT_FALSE(echo.has_idle_timeout());
  EXPECT_EQ(echo.max_open_files(), 0u);
}

constexpr char kRetriesAndDestinations[] = R"yaml(
functions:
  - name: resize
    runtime: native
    artifact: libresize.so
    retry:
      max_attempts: 5
      initial_backoff: 500ms
      max_backoff: 1m
      multiplier: 1.5
      retry_on: [function-error, crash, timeout, lease-lost]
    max_event_age: 1h
    on_success: notify
    on_failure: alert
  - name: notify
    runtime: native
    artifact: libnotify.so
    retry: {max_attempts: 1}
  - name: alert
    runtime: native
    artifact: libalert.so
)yaml";

TEST(ParseManifestTest, ParsesRetryPolicyMaxEventAgeAndDestinations) {
  absl::StatusOr<std::vector<ManifestEntry>> entries =
      ParseManifest(kRetriesAndDestinations, "/srv/app");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);

  const v1::FunctionSpec& resize = (*entries)[0].spec;
  ASSERT_TRUE(resize.has_retry());
  const v1::RetryPolicy& retry = resize.retry();
  EXPECT_EQ(retry.max_attempts(), 5u);
  EXPECT_EQ(retry.initial_backoff().seconds(), 0);
  EXPECT_EQ(retry.initial_backoff().nanos(), 500000000);
  EXPECT_EQ(retry.max_backoff().seconds(), 60);
  EXPECT_DOUBLE_EQ(retry.multiplier(), 1.5);
  ASSERT_EQ(retry.retry_on_size(), 4);
  EXPECT_EQ(retry.retry_on(0), v1::RETRY_ON_FUNCTION_ERROR);
  EXPECT_EQ(retry.retry_on(1), v1::RETRY_ON_CRASH);
  EXPECT_EQ(retry.retry_on(2), v1::RETRY_ON_TIMEOUT);
  EXPECT_EQ(retry.retry_on(3), v1::RETRY_ON_LEASE_LOST);
  EXPECT_EQ(resize.max_event_age().seconds(), 3600);
  EXPECT_EQ(resize.on_success(), "notify");
  EXPECT_EQ(resize.on_failure(), "alert");

  // Retry fields left out keep their proto defaults (the server's defaults).
  const v1::RetryPolicy& notify = (*entries)[1].spec.retry();
  EXPECT_EQ(notify.max_attempts(), 1u);
  EXPECT_FALSE(notify.has_initial_backoff());
  EXPECT_FALSE(notify.has_max_backoff());
  EXPECT_EQ(notify.multiplier(), 0);
  EXPECT_TRUE(notify.retry_on().empty());

  const v1::FunctionSpec& alert = (*entries)[2].spec;
  EXPECT_FALSE(alert.has_retry());
  EXPECT_FALSE(alert.has_max_event_age());
  EXPECT_EQ(alert.on_success(), "");
  EXPECT_EQ(alert.on_failure(), "");
}

TEST(ParseManifestTest, IntegerMultiplierAndEmptyRetryOnList) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = ParseManifest(
      "functions:\n  - {name: a, runtime: native, artifact: a.so, retry: {multiplier: 3, "
      "retry_on: []}}\n",
      "");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_DOUBLE_EQ((*entries)[0].spec.retry().multiplier(), 3.0);
  EXPECT_TRUE((*entries)[0].spec.retry().retry_on().empty());
}

TEST(RetryOnNamesTest, NamesAndValuesRoundTrip) {
  for (const v1::RetryOn outcome : {v1::RETRY_ON_FUNCTION_ERROR, v1::RETRY_ON_CRASH,
                                    v1::RETRY_ON_TIMEOUT, v1::RETRY_ON_LEASE_LOST}) {
    const std::optional<std::string_view> name = RetryOnNameOf(outcome);
    ASSERT_TRUE(name.has_value()) << outcome;
    EXPECT_EQ(RetryOnFromName(*name), outcome);
  }
  EXPECT_EQ(RetryOnNameOf(v1::RETRY_ON_LEASE_LOST), "lease-lost");
  EXPECT_EQ(RetryOnNameOf(v1::RETRY_ON_UNSPECIFIED), std::nullopt);
  EXPECT_EQ(RetryOnFromName("function_error"), std::nullopt);
  EXPECT_EQ(RetryOnFromName("Crash"), std::nullopt);
}

TEST(RuntimeNamesTest, NamesAndValuesRoundTrip) {
  for (const v1::Runtime runtime : {v1::RUNTIME_NATIVE, v1::RUNTIME_LAMBDA, v1::RUNTIME_EXEC}) {
    const std::optional<std::string_view> name = RuntimeNameOf(runtime);
    ASSERT_TRUE(name.has_value()) << runtime;
    EXPECT_EQ(RuntimeFromName(*name), runtime);
  }
  EXPECT_EQ(RuntimeNameOf(v1::RUNTIME_LAMBDA), "lambda");
  EXPECT_EQ(RuntimeNameOf(v1::RUNTIME_UNSPECIFIED), std::nullopt);
  EXPECT_EQ(RuntimeFromName("Native"), std::nullopt);
  EXPECT_EQ(RuntimeFromName(""), std::nullopt);

  EXPECT_EQ(IsolationFromName("none"), v1::ISOLATION_NONE);
  EXPECT_EQ(IsolationFromName("process"), v1::ISOLATION_PROCESS);
  EXPECT_EQ(IsolationNameOf(v1::ISOLATION_PROCESS), "process");
  EXPECT_EQ(IsolationNameOf(v1::ISOLATION_UNSPECIFIED), std::nullopt);
  EXPECT_EQ(IsolationFromName("vm"), std::nullopt);
}

TEST(ParseManifestTest, EmptyBaseDirLeavesRelativeArtifactsRelative) {
  absl::StatusOr<std::vector<ManifestEntry>> entries =
      ParseManifest("functions:\n  - {name: a, runtime: native, artifact: ./out/../liba.so}\n", "");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].artifact_path, "liba.so");
}

constexpr char kTriggers[] = R"yaml(
functions:
  - {name: notify, runtime: native, artifact: n.so}
triggers:
  - name: new-orders
    function: notify
    priority: high
    topic: orders
    type: com.example.order.created
    filters:
      - {attribute: subject, prefix: "eu/"}
      - {attribute: region, exact: west}
      - {attribute: source, suffix: /shop}
    match: any
  - name: nightly
    function: notify
    schedule: "0 2 * * *"
    time_zone: Europe/Berlin
    missed: catch-up-once
    payload: '{"kind":"nightly"}'
  - name: create-order
    function: notify
    route: /shop.v1.Orders/Create
)yaml";

TEST(ParseManifestFileTest, ParsesEveryKindOfTrigger) {
  absl::StatusOr<Manifest> manifest = ParseManifestFile(kTriggers, "/srv/app");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_EQ(manifest->functions.size(), 1u);
  ASSERT_EQ(manifest->triggers.size(), 3u);

  const v1::Trigger& event = manifest->triggers[0];
  EXPECT_EQ(event.name(), "new-orders");
  EXPECT_EQ(event.function(), "notify");
  EXPECT_EQ(event.priority(), v1::PRIORITY_HIGH);
  ASSERT_TRUE(event.has_event());
  EXPECT_EQ(event.event().topic(), "orders");
  EXPECT_EQ(event.event().type(), "com.example.order.created");
  EXPECT_TRUE(event.event().any());
  ASSERT_EQ(event.event().filters_size(), 3);
  EXPECT_EQ(event.event().filters(0).attribute(), "subject");
  EXPECT_EQ(event.event().filters(0).prefix(), "eu/");
  EXPECT_EQ(event.event().filters(1).exact(), "west");
  EXPECT_EQ(event.event().filters(2).suffix(), "/shop");

  const v1::Trigger& schedule = manifest->triggers[1];
  ASSERT_TRUE(schedule.has_schedule());
  EXPECT_EQ(schedule.schedule().cron(), "0 2 * * *");
  EXPECT_EQ(schedule.schedule().time_zone(), "Europe/Berlin");
  EXPECT_EQ(schedule.schedule().missed(), v1::MISSED_FIRES_CATCH_UP_ONCE);
  EXPECT_EQ(schedule.schedule().payload(), R"({"kind":"nightly"})");
  EXPECT_EQ(schedule.priority(), v1::PRIORITY_UNSPECIFIED);

  const v1::Trigger& route = manifest->triggers[2];
  ASSERT_TRUE(route.has_route());
  EXPECT_EQ(route.route().method(), "/shop.v1.Orders/Create");
}

TEST(ParseManifestFileTest, TriggersAreOptionalAndScheduleDefaultsToSkip) {
  absl::StatusOr<Manifest> none =
      ParseManifestFile("functions:\n  - {name: a, runtime: native, artifact: a.so}\n", "");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->triggers.empty());
  absl::StatusOr<Manifest> skip = ParseManifestFile(
      "functions:\n  - {name: a, runtime: native, artifact: a.so}\n"
      "triggers:\n  - {name: t, function: a, schedule: '@hourly'}\n",
      "");
  ASSERT_TRUE(skip.ok()) << skip.status();
  EXPECT_EQ(skip->triggers[0].schedule().missed(), v1::MISSED_FIRES_SKIP);
  // ParseManifest keeps answering with the functions alone.
  absl::StatusOr<std::vector<ManifestEntry>> functions = ParseManifest(kTriggers, "");
  ASSERT_TRUE(functions.ok()) << functions.status();
  EXPECT_EQ(functions->size(), 1u);
}

struct BadManifest {
  std::string yaml;
  std::string message;  // expected in the error message
};

class BadManifestTest : public ::testing::TestWithParam<BadManifest> {};

TEST_P(BadManifestTest, IsInvalidArgumentNamingTheField) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = ParseManifest(GetParam().yaml, "/srv/app");
  ASSERT_FALSE(entries.ok()) << "accepted:\n" << GetParam().yaml;
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entries.status().message()), HasSubstr(GetParam().message));
}

// A function entry with all required fields, to prefix bad entries with.
constexpr char kGood[] = "  - {name: ok, runtime: native, artifact: a.so}\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadManifestTest,
    ::testing::Values(
        BadManifest{std::string("functions:\n") + kGood +
                        "  - {name: b, runtime: native, artifact: b.so, timeout: 10x}\n",
                    "functions[1].timeout: \"10x\" is not a duration (use 500ms, 10s, 1m)"},
        BadManifest{"functions:\n  - {runtime: native, artifact: a.so}\n",
                    "functions[0].name: missing"},
        BadManifest{std::string("functions:\n") + kGood +
                        "  - {name: resize, runtime: native, artifact: r.so, "
                        "retry: {max_attempts: 0}}\n",
                    "functions[1].retry.max_attempts: \"0\" is not a positive integer, in "
                    "function \"resize\""},
        BadManifest{std::string("functions:\n") + kGood +
                        "  - {name: b, runtime: native, artifact: b.so}\n"
                        "  - {name: c, runtime: native, artifact: c.so, concurrncy: 3}\n",
                    "functions[2]: unknown key \"concurrncy\""},
        BadManifest{"functions:\n  - name: a\n    runtime: [native\n",
                    "YAML syntax error at line 4, column 1"},
        BadManifest{"functions:\n  - name: a\n  runtime: native\n", "YAML syntax error at line 3"},
        BadManifest{std::string("functions:\n") + kGood + kGood,
                    "functions[1].name: \"ok\" is already used by functions[0]"},
        BadManifest{"functions:\n  - {name: a, artifact: a.so}\n",
                    "functions[0].runtime: missing (use native, lambda or exec)"},
        BadManifest{
            "functions:\n  - {name: a, runtime: python, artifact: a.so}\n",
            "functions[0].runtime: \"python\" is not a runtime (use native, lambda or exec)"},
        BadManifest{"functions:\n  - {name: a, runtime: Lambda, artifact: a.so}\n",
                    "functions[0].runtime: \"Lambda\" is not a runtime"},
        BadManifest{"functions:\n  - {name: a, runtime: [exec], artifact: a.so}\n",
                    "functions[0].runtime: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native}\n",
                    "functions[0].artifact: missing"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: ''}\n",
                    "functions[0].artifact: must not be empty"},
        BadManifest{"functions:\n  - {name: [a], runtime: native, artifact: a.so}\n",
                    "functions[0].name: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, concurrency: -1}\n",
                    "functions[0].concurrency: \"-1\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, concurrency: 0}\n",
                    "functions[0].concurrency: \"0\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, max_queue: lots}\n",
                    "functions[0].max_queue: \"lots\" is not a positive integer"},
        BadManifest{
            "functions:\n  - {name: a, runtime: native, artifact: a.so, max_queue: 99999999999}\n",
            "functions[0].max_queue: 99999999999 is too large"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: 10}\n",
                    "functions[0].timeout: \"10\" is not a duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: -1s}\n",
                    "functions[0].timeout: \"-1s\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: inf}\n",
                    "functions[0].timeout: \"inf\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: }\n",
                    "functions[0].timeout: has no value"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, isolation: vm}\n",
                    "functions[0].isolation: \"vm\" is not an isolation (use none or process)"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, isolation: }\n",
                    "functions[0].isolation: has no value"},
        BadManifest{"functions:\n  - {name: a, runtime: lambda, artifact: a.zip, handler: ''}\n",
                    "functions[0].handler: must not be empty"},
        BadManifest{
            "functions:\n  - {name: a, runtime: lambda, artifact: a.zip, handler: {x: 1}}\n",
            "functions[0].handler: must be a single value, not a mapping"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, memory_mb: 0}\n",
                    "functions[0].memory_mb: \"0\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, memory_mb: 1.5}\n",
                    "functions[0].memory_mb: \"1.5\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, memory_mb: 512Mi}\n",
                    "functions[0].memory_mb: \"512Mi\" is not a positive integer"},
        BadManifest{
            "functions:\n  - {name: a, runtime: exec, artifact: a, memory_mb: 4294967296}\n",
            "functions[0].memory_mb: 4294967296 is too large"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, min_warm: -1}\n",
                    "functions[0].min_warm: \"-1\" is not a non-negative integer"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, min_warm: some}\n",
                    "functions[0].min_warm: \"some\" is not a non-negative integer"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, min_warm: }\n",
                    "functions[0].min_warm: has no value"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, idle_timeout: 5}\n",
                    "functions[0].idle_timeout: \"5\" is not a duration (use 500ms, 10s, 1m)"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, idle_timeout: 0s}\n",
                    "functions[0].idle_timeout: \"0s\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, idle_timeout: inf}\n",
                    "functions[0].idle_timeout: \"inf\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, max_open_files: 0}\n",
                    "functions[0].max_open_files: \"0\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, max_open_files: [1]}\n",
                    "functions[0].max_open_files: must be a single value, not a list"},
        BadManifest{
            "functions:\n  - {name: a, runtime: exec, artifact: a, max_open_files: 99999999999}\n",
            "functions[0].max_open_files: 99999999999 is too large"},
        BadManifest{"functions:\n  - {name: a, runtime: exec, artifact: a, memory: 512}\n",
                    "functions[0]: unknown key \"memory\""},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, entry_point: ''}\n",
                    "functions[0].entry_point: must not be empty"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: [A]}\n",
                    "functions[0].env: must be a mapping of names to values, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: {A: [1]}}\n",
                    "functions[0].env.A: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: {A: }}\n",
                    "functions[0].env.A: has no value"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: {A=B: c}}\n",
                    "functions[0].env: \"A=B\" is not a valid variable name"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: 3}\n",
                    "functions[0].retry: must be a mapping of retry fields (max_attempts, "
                    "initial_backoff, max_backoff, multiplier, retry_on), not a single value"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: }\n",
                    "functions[0].retry: must be a mapping of retry fields"},
        BadManifest{std::string("functions:\n") + kGood +
                        "  - {name: b, runtime: native, artifact: b.so, retry: {attempts: 3}}\n",
                    "functions[1].retry: unknown key \"attempts\""},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{max_attempts: 0}}\n",
                    "functions[0].retry.max_attempts: \"0\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{max_attempts: many}}\n",
                    "functions[0].retry.max_attempts: \"many\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{initial_backoff: 5}}\n",
                    "functions[0].retry.initial_backoff: \"5\" is not a duration (use 500ms, 10s, "
                    "1m)"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{max_backoff: 0s}}\n",
                    "functions[0].retry.max_backoff: \"0s\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{multiplier: double}}\n",
                    "functions[0].retry.multiplier: \"double\" is not a positive number"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{multiplier: 0}}\n",
                    "functions[0].retry.multiplier: \"0\" is not a positive number"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{multiplier: nan}}\n",
                    "functions[0].retry.multiplier: \"nan\" is not a positive number"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{retry_on: crash}}\n",
                    "functions[0].retry.retry_on: must be a list of outcomes (function-error, "
                    "crash, timeout or lease-lost), not a single value"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{retry_on: [crash, oom]}}\n",
                    "functions[0].retry.retry_on[1]: \"oom\" is not an outcome (use "
                    "function-error, crash, timeout or lease-lost)"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{retry_on: [crash, crash]}}\n",
                    "functions[0].retry.retry_on[1]: \"crash\" appears twice"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{retry_on: [[crash]]}}\n",
                    "functions[0].retry.retry_on[0]: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, retry: "
                    "{max_attempts: 2, max_attempts: 3}}\n",
                    "functions[0].retry: key \"max_attempts\" appears twice"},
        BadManifest{
            "functions:\n  - {name: a, runtime: native, artifact: a.so, max_event_age: 1d}\n",
            "functions[0].max_event_age: \"1d\" is not a duration (use 500ms, 10s, 1m)"},
        BadManifest{
            "functions:\n  - {name: a, runtime: native, artifact: a.so, max_event_age: -1h}\n",
            "functions[0].max_event_age: \"-1h\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, on_success: ''}\n",
                    "functions[0].on_success: must not be empty"},
        BadManifest{
            "functions:\n  - {name: a, runtime: native, artifact: a.so, on_failure: [b, c]}\n",
            "functions[0].on_failure: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, on_error: b}\n",
                    "functions[0]: unknown key \"on_error\""},
        BadManifest{"functions:\n  - {name: a, name: b, runtime: native, artifact: a.so}\n",
                    "functions[0]: key \"name\" appears twice"},
        BadManifest{"functions:\n  - echo\n",
                    "functions[0]: must be a mapping of function fields, not a single value"},
        BadManifest{"functions: {name: a}\n", "functions: must be a list, not a mapping"},
        BadManifest{"functions: []\n", "functions: must list at least one function"},
        BadManifest{"functions:\n", "functions: missing"},
        BadManifest{"fnctions: []\n", "manifest: unknown key \"fnctions\""},
        BadManifest{"- name: a\n", "manifest: must be a mapping with a \"functions\" list"},
        BadManifest{"# nothing\n", "manifest: is empty"},
        BadManifest{std::string("functions:\n") + kGood +
                        "triggers:\n  - {name: t, function: ok, topic: a, route: /a.B/C}\n",
                    "triggers[0]: needs exactly one kind: topic and/or type (events), schedule"},
        BadManifest{std::string("functions:\n") + kGood + "triggers:\n  - {name: t, topic: a}\n",
                    "triggers[0].function: missing"},
        BadManifest{std::string("functions:\n") + kGood +
                        "triggers:\n  - {name: t, function: ok, topic: a, missed: skip}\n",
                    "triggers[0].missed: goes with schedule"},
        BadManifest{std::string("functions:\n") + kGood +
                        "triggers:\n  - {name: t, function: ok, schedule: '@daily', "
                        "missed: later}\n",
                    "triggers[0].missed: \"later\" is not skip or catch-up-once"},
        BadManifest{std::string("functions:\n") + kGood +
                        "triggers:\n  - {name: t, function: ok, topic: a, "
                        "filters: [{attribute: subject, exact: x, prefix: y}]}\n",
                    "triggers[0].filters[0]: needs exactly one of exact, prefix or suffix"},
        BadManifest{std::string("functions:\n") + kGood +
                        "triggers:\n  - {name: t, function: ok, route: /a.B/C}\n"
                        "  - {name: t, function: ok, topic: a}\n",
                    "triggers[1].name: \"t\" is already used by triggers[0]"},
        BadManifest{std::string("functions:\n") + kGood +
                        "triggers:\n  - {name: t, function: ok, topic: a, priority: urgent}\n",
                    "triggers[0].priority: \"urgent\" is not one of low, normal, high, critical"},
        BadManifest{std::string("functions:\n") + kGood + "triggers: {name: t}\n",
                    "triggers: must be a list, not a mapping"},
        BadManifest{std::string("functions:\n") + kGood + "---\nfunctions:\n" + kGood,
                    "manifest: holds 2 YAML documents"}));

class LoadManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "deploy");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& relative, const std::string& text) {
    const std::filesystem::path path = dir_ / relative;
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(LoadManifestTest, ResolvesArtifactsAgainstTheManifestDirectory) {
  const std::string path = Write(
      "deploy/sluice.yaml", "functions:\n  - {name: a, runtime: native, artifact: ../lib/a.so}\n");
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(path);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].artifact_path, (dir_ / "lib/a.so").lexically_normal().string());
}

TEST_F(LoadManifestTest, MissingFileIsNotFound) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest((dir_ / "nope.yaml").string());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(entries.status().message()), HasSubstr("nope.yaml: no such file"));
}

TEST_F(LoadManifestTest, ErrorsStartWithThePath) {
  const std::string path = Write(
      "deploy/bad.yaml", "functions:\n  - {name: a, runtime: native, artifact: a.so, x: 1}\n");
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(path);
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entries.status().message()),
              StartsWith(path + ": functions[0]: unknown key \"x\""));
}

TEST_F(LoadManifestTest, RetryErrorsNameTheFileAndField) {
  const std::string path =
      Write("deploy/retry.yaml",
            "functions:\n  - name: a\n    runtime: native\n    artifact: a.so\n"
            "    retry:\n      max_backoff: soon\n");
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(path);
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(entries.status().message()),
            path +
                ": functions[0].retry.max_backoff: \"soon\" is not a duration (use 500ms, "
                "10s, 1m), in function \"a\"");
}

TEST_F(LoadManifestTest, DirectoryIsInvalidArgument) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest((dir_ / "deploy").string());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice
