// Tests of RuntimeApiServer with a real HTTP client playing the bootstrap.
#include "runtime/lambda_runtime_api.h"

#include <httplib.h>

#include <future>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/runtime/progress_recorder.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kNext[] = "/2018-06-01/runtime/invocation/next";
constexpr size_t kMaxPayload = 1024;

std::string ResponsePath(const std::string& id) {
  return absl::StrCat("/2018-06-01/runtime/invocation/", id, "/response");
}
std::string ErrorPath(const std::string& id) {
  return absl::StrCat("/2018-06-01/runtime/invocation/", id, "/error");
}

std::string ProgressPath(const std::string& id) {
  return absl::StrCat("/2018-06-01/runtime/invocation/", id, "/progress");
}

ExecutionRequest MakeRequest(const std::string& id, const std::string& payload,
                             absl::Duration timeout = absl::Seconds(30)) {
  ExecutionRequest request;
  request.invocation_id = id;
  request.function_name = "thumbnail";
  request.function_version = 3;
  request.deadline = absl::Now() + timeout;
  request.payload = payload;
  return request;
}

class RuntimeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<RuntimeApiServer>(
        RuntimeApiOptions{.function_name = "thumbnail", .max_payload_bytes = kMaxPayload});
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  // Client is a new connection to the server, as each curl of a shell
  // bootstrap is.
  std::unique_ptr<httplib::Client> Client() {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client->set_read_timeout(std::chrono::seconds(60));
    return client;
  }

  // Invoke runs server_->Invoke on another thread.
  std::future<ExecutionResult> InvokeAsync(ExecutionRequest request) {
    return std::async(std::launch::async, [this, request = std::move(request)] {
      return server_->Invoke(request, [] { return false; });
    });
  }

  // Next plays the bootstrap's GET /next, which blocks until work arrives.
  httplib::Result Next() { return Client()->Get(kNext); }

  std::unique_ptr<RuntimeApiServer> server_;
};

TEST_F(RuntimeApiServerTest, NextBlocksUntilAnInvocationIsHandedOver) {
  auto next = std::async(std::launch::async, [this] { return Next(); });
  ASSERT_TRUE(
      server_->WaitForFirstNext(absl::Now() + absl::Seconds(10), [] { return false; }).ok());
  // Nothing to hand over yet: /next is still waiting.
  EXPECT_EQ(next.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);

  auto result = InvokeAsync(MakeRequest("inv-1", R"({"n":1})"));
  httplib::Result event = next.get();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->status, 200);
  EXPECT_EQ(event->body, R"({"n":1})");
  ASSERT_EQ(Client()->Post(ResponsePath("inv-1"), "done", "application/json")->status, 202);
  ExecutionResult got = result.get();
  EXPECT_TRUE(got.ok);
  EXPECT_EQ(got.output, "done");
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, NextCarriesTheLambdaHeaders) {
  ExecutionRequest request = MakeRequest("inv-headers", "{}");
  const int64_t deadline_ms = absl::ToUnixMillis(request.deadline);
  auto result = InvokeAsync(request);
  httplib::Result event = Next();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->get_header_value("Lambda-Runtime-Aws-Request-Id"), "inv-headers");
  EXPECT_EQ(event->get_header_value("Lambda-Runtime-Deadline-Ms"), std::to_string(deadline_ms));
  EXPECT_EQ(event->get_header_value("Lambda-Runtime-Invoked-Function-Arn"),
            "arn:aws:lambda:local:000000000000:function:thumbnail");
  EXPECT_TRUE(std::regex_match(event->get_header_value("Lambda-Runtime-Trace-Id"),
                               std::regex("Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};"
                                          "Sampled=0")))
      << event->get_header_value("Lambda-Runtime-Trace-Id");
  // Without a trace context of its own the attempt gets a fresh one.
  EXPECT_FALSE(event->has_header("traceparent"));
  ASSERT_EQ(Client()->Post(ResponsePath("inv-headers"), "{}", "application/json")->status, 202);
  EXPECT_TRUE(result.get().ok);
}

TEST_F(RuntimeApiServerTest, NextCarriesTheAttemptsTraceContext) {
  ExecutionRequest request = MakeRequest("inv-traced", "{}");
  request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  request.tracestate = "vendor=opaque";
  auto result = InvokeAsync(request);
  httplib::Result event = Next();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->get_header_value("Lambda-Runtime-Trace-Id"),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  EXPECT_EQ(event->get_header_value("traceparent"), request.traceparent);
  EXPECT_EQ(event->get_header_value("tracestate"), "vendor=opaque");
  ASSERT_EQ(Client()->Post(ResponsePath("inv-traced"), "{}", "application/json")->status, 202);
  EXPECT_TRUE(result.get().ok);
}

TEST_F(RuntimeApiServerTest, AnswersSeveralInvocationsInTurn) {
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("inv-", i);
    auto result = InvokeAsync(MakeRequest(id, absl::StrCat(i)));
    httplib::Result event = Next();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->body, absl::StrCat(i));
    httplib::Result posted =
        Client()->Post(ResponsePath(id), absl::StrCat("out-", i), "text/plain");
    ASSERT_TRUE(posted);
    EXPECT_EQ(posted->status, 202);
    EXPECT_EQ(posted->body, R"({"status":"OK"})");
    ExecutionResult got = result.get();
    EXPECT_TRUE(got.ok);
    EXPECT_EQ(got.output, absl::StrCat("out-", i));
  }
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, ErrorTypeComesFromTheHeaderFirst) {
  auto result = InvokeAsync(MakeRequest("inv-err", "{}"));
  ASSERT_TRUE(Next());
  httplib::Headers headers = {{"Lambda-Runtime-Function-Error-Type", "Custom.Failure"}};
  httplib::Result posted = Client()->Post(
      ErrorPath("inv-err"), headers, R"({"errorMessage":"disk on fire","errorType":"Ignored"})",
      "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 202);
  ExecutionResult got = result.get();
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, "Custom.Failure");
  EXPECT_EQ(got.error_message, "disk on fire");
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, ErrorTypeAndMessageComeFromTheJsonBody) {
  auto result = InvokeAsync(MakeRequest("inv-err", "{}"));
  ASSERT_TRUE(Next());
  httplib::Result posted = Client()->Post(
      ErrorPath("inv-err"), R"({"errorMessage":"bad \"input\"","errorType":"ValueError"})",
      "application/json");
  ASSERT_EQ(posted->status, 202);
  ExecutionResult got = result.get();
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, "ValueError");
  EXPECT_EQ(got.error_message, "bad \"input\"");
}

TEST_F(RuntimeApiServerTest, MalformedErrorBodyIsStillAnErrorWithTheRawBody) {
  auto result = InvokeAsync(MakeRequest("inv-err", "{}"));
  ASSERT_TRUE(Next());
  httplib::Result posted = Client()->Post(ErrorPath("inv-err"), "{not json", "application/json");
  ASSERT_EQ(posted->status, 202);
  ExecutionResult got = result.get();
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, kUnhandledError);
  EXPECT_EQ(got.error_message, "{not json");
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, SecondPostForTheSameIdIsRefusedAndMakesTheServerUnusable) {
  auto result = InvokeAsync(MakeRequest("inv-twice", "{}"));
  ASSERT_TRUE(Next());
  ASSERT_EQ(Client()->Post(ResponsePath("inv-twice"), "first", "text/plain")->status, 202);
  EXPECT_EQ(result.get().output, "first");
  EXPECT_TRUE(server_->usable());

  httplib::Result again = Client()->Post(ResponsePath("inv-twice"), "second", "text/plain");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 400);
  EXPECT_THAT(again->body, HasSubstr(R"("errorType":"InvalidStateTransition")"));
  EXPECT_THAT(again->body, HasSubstr("already answered"));
  EXPECT_FALSE(server_->usable());
  EXPECT_THAT(server_->unusable_reason(), HasSubstr("inv-twice"));
}

TEST_F(RuntimeApiServerTest, PostForAnUnknownIdFailsTheInvocationInFlight) {
  auto result = InvokeAsync(MakeRequest("inv-real", "{}"));
  ASSERT_TRUE(Next());
  httplib::Result posted = Client()->Post(ResponsePath("inv-bogus"), "hello", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 400);
  EXPECT_THAT(posted->body, HasSubstr(R"("errorType":"InvalidRequestID")"));
  EXPECT_THAT(posted->body, HasSubstr("unknown invocation id inv-bogus"));
  ExecutionResult got = result.get();
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, kProtocolError);
  EXPECT_THAT(got.error_message, HasSubstr("inv-bogus"));
  EXPECT_FALSE(server_->usable());
}

TEST_F(RuntimeApiServerTest, OversizedResponseIsRefusedAndFailsTheInvocation) {
  auto result = InvokeAsync(MakeRequest("inv-big", "{}"));
  ASSERT_TRUE(Next());
  httplib::Result posted =
      Client()->Post(ResponsePath("inv-big"), std::string(kMaxPayload + 1, 'x'), "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 413);
  EXPECT_THAT(posted->body, HasSubstr("errorMessage"));
  ExecutionResult got = result.get();
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, kResponseTooLargeError);
  EXPECT_THAT(got.error_message, HasSubstr("1025 bytes"));
  EXPECT_FALSE(server_->usable());
}

TEST_F(RuntimeApiServerTest, OversizedChunkedResponseIsRefusedToo) {
  auto result = InvokeAsync(MakeRequest("inv-chunked", "{}"));
  ASSERT_TRUE(Next());
  // No Content-Length: the body arrives in chunks, 3 x 512 bytes.
  httplib::Result posted = Client()->Post(
      ResponsePath("inv-chunked"),
      [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 3 * 512) {
          sink.done();
          return true;
        }
        const std::string chunk(512, 'z');
        return sink.write(chunk.data(), chunk.size());
      },
      "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 413);
  ExecutionResult got = result.get();
  EXPECT_EQ(got.error_type, kResponseTooLargeError);
  EXPECT_THAT(got.error_message, HasSubstr("1536 bytes"));
}

TEST_F(RuntimeApiServerTest, MultipartResponseIsAProtocolError) {
  auto result = InvokeAsync(MakeRequest("inv-form", "{}"));
  ASSERT_TRUE(Next());
  httplib::Result posted =
      Client()->Post(ResponsePath("inv-form"),
                     httplib::MultipartFormDataItems{{"field", "value", "", "text/plain"}});
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 400);
  ExecutionResult got = result.get();
  EXPECT_EQ(got.error_type, kProtocolError);
  EXPECT_FALSE(server_->usable());
}

TEST_F(RuntimeApiServerTest, NextBeforeAnsweringFailsTheInvocationInFlight) {
  auto result = InvokeAsync(MakeRequest("inv-lost", "{}"));
  ASSERT_TRUE(Next());
  httplib::Result again = Next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 400);
  ExecutionResult got = result.get();
  EXPECT_EQ(got.error_type, kProtocolError);
  EXPECT_THAT(got.error_message, HasSubstr("before answering inv-lost"));
  EXPECT_FALSE(server_->usable());
}

TEST_F(RuntimeApiServerTest, ResponseOfExactlyTheLimitIsAccepted) {
  auto result = InvokeAsync(MakeRequest("inv-limit", "{}"));
  ASSERT_TRUE(Next());
  const std::string body(kMaxPayload, 'y');
  ASSERT_EQ(Client()->Post(ResponsePath("inv-limit"), body, "text/plain")->status, 202);
  EXPECT_EQ(result.get().output, body);
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, InitErrorEndsTheWaitForTheFirstNext) {
  httplib::Headers headers = {{"Lambda-Runtime-Function-Error-Type", "Runtime.ImportModuleError"}};
  httplib::Result posted =
      Client()->Post("/2018-06-01/runtime/init/error", headers,
                     R"({"errorMessage":"no module named handler","errorType":"ImportError"})",
                     "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 202);
  absl::Status init =
      server_->WaitForFirstNext(absl::Now() + absl::Seconds(10), [] { return false; });
  EXPECT_EQ(init.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(init.message(), "Runtime.ImportModuleError: no module named handler");
}

TEST_F(RuntimeApiServerTest, InitErrorAfterInitIsForbidden) {
  auto next = std::async(std::launch::async, [this] { return Next(); });
  ASSERT_TRUE(
      server_->WaitForFirstNext(absl::Now() + absl::Seconds(10), [] { return false; }).ok());
  httplib::Result posted =
      Client()->Post("/2018-06-01/runtime/init/error", "{}", "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 403);
  EXPECT_FALSE(server_->usable());
  server_->Stop();
  next.get();
}

TEST_F(RuntimeApiServerTest, WaitForFirstNextTimesOutOrSeesTheProcessExit) {
  absl::Status waited =
      server_->WaitForFirstNext(absl::Now() + absl::Milliseconds(50), [] { return false; });
  EXPECT_EQ(waited.code(), absl::StatusCode::kDeadlineExceeded);
  waited = server_->WaitForFirstNext(absl::Now() + absl::Seconds(30), [] { return true; });
  EXPECT_EQ(waited.code(), absl::StatusCode::kAborted);
}

TEST_F(RuntimeApiServerTest, UnknownPathIsNotFound) {
  httplib::Result got = Client()->Get("/2018-06-01/runtime/invocation/what");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);
  EXPECT_THAT(got->body, HasSubstr(R"("errorType":"NotFound")"));
  got = Client()->Post("/2020-01-01/extension/register", "{}", "application/json");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, InvokeEndsAtTheDeadline) {
  const absl::Time start = absl::Now();
  ExecutionResult got =
      server_->Invoke(MakeRequest("inv-slow", "{}", absl::Milliseconds(100)), [] { return false; });
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, kTimeoutError);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_FALSE(server_->usable());
}

TEST_F(RuntimeApiServerTest, InvokeEndsWhenCancelled) {
  ExecutionRequest request = MakeRequest("inv-cancel", "{}");
  auto cancel = std::make_shared<CancelFlag>();
  request.cancel = cancel;
  auto result = InvokeAsync(request);
  ASSERT_TRUE(Next());  // the function has the event and is working on it
  cancel->Cancel();
  ExecutionResult got = result.get();
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, kCancelledError);
  // A late answer for the abandoned invocation is refused.
  EXPECT_EQ(Client()->Post(ResponsePath("inv-cancel"), "late", "text/plain")->status, 400);
}

TEST_F(RuntimeApiServerTest, InvokeEndsWhenTheProcessExits) {
  ExecutionResult got = server_->Invoke(MakeRequest("inv-crash", "{}"), [] { return true; });
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error_type, kCrashError);
  EXPECT_FALSE(server_->usable());
}

TEST_F(RuntimeApiServerTest, StopUnblocksAPendingNext) {
  auto next = std::async(std::launch::async, [this] { return Next(); });
  ASSERT_TRUE(
      server_->WaitForFirstNext(absl::Now() + absl::Seconds(10), [] { return false; }).ok());
  server_->Stop();
  httplib::Result got = next.get();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 500);
  ExecutionResult after = server_->Invoke(MakeRequest("inv-late", "{}"), [] { return false; });
  EXPECT_EQ(after.error_type, kWorkerUnavailableError);
}

TEST_F(RuntimeApiServerTest, ProgressIsPassedOnInOrderBeforeTheResult) {
  ProgressRecorder recorder;
  ExecutionRequest request = MakeRequest("inv-progress", "{}");
  request.on_progress = recorder.Callback();
  auto result = InvokeAsync(request);
  ASSERT_TRUE(Next());
  const std::pair<const char*, ProgressReport> posts[] = {
      {R"({"percent": 10, "message": "reading"})", {10, "reading"}},
      {R"({"percent": 60.7, "message": "resizing \u00e9"})", {60, "resizing \xc3\xa9"}},
      {R"({"percent": 250})", {100, ""}},
  };
  for (const auto& [body, expected] : posts) {
    httplib::Result posted = Client()->Post(ProgressPath("inv-progress"), body, "application/json");
    ASSERT_TRUE(posted);
    EXPECT_EQ(posted->status, 202) << posted->body;
    EXPECT_EQ(posted->body, R"({"status":"OK"})");
  }
  ASSERT_EQ(Client()->Post(ResponsePath("inv-progress"), "done", "text/plain")->status, 202);
  ExecutionResult got = result.get();
  EXPECT_TRUE(got.ok);
  EXPECT_THAT(recorder.reports(), ElementsAre(posts[0].second, posts[1].second, posts[2].second));
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, ProgressReachesTheCallerWhileTheFunctionRuns) {
  // Only a report passed on before the response can cancel the invocation.
  ExecutionRequest request = MakeRequest("inv-live", "{}");
  auto cancel = std::make_shared<CancelFlag>();
  request.cancel = cancel;
  request.on_progress = [cancel](uint32_t, const std::string&) { cancel->Cancel(); };
  auto result = InvokeAsync(request);
  ASSERT_TRUE(Next());
  ASSERT_EQ(
      Client()->Post(ProgressPath("inv-live"), R"({"percent": 1})", "application/json")->status,
      202);
  EXPECT_EQ(result.get().error_type, kCancelledError);
}

TEST_F(RuntimeApiServerTest, OversizedProgressMessageIsCut) {
  // The fixture's payload limit is below this body; take the default one.
  server_ = std::make_unique<RuntimeApiServer>(RuntimeApiOptions{.function_name = "thumbnail"});
  ASSERT_TRUE(server_->Start().ok());
  ProgressRecorder recorder;
  ExecutionRequest request = MakeRequest("inv-long", "{}");
  request.on_progress = recorder.Callback();
  auto result = InvokeAsync(request);
  ASSERT_TRUE(Next());
  const std::string body =
      absl::StrCat(R"({"percent": 5, "message": ")", std::string(3000, 'm'), R"("})");
  ASSERT_EQ(Client()->Post(ProgressPath("inv-long"), body, "application/json")->status, 202);
  ASSERT_EQ(Client()->Post(ResponsePath("inv-long"), "done", "text/plain")->status, 202);
  ASSERT_TRUE(result.get().ok);
  EXPECT_THAT(recorder.reports(),
              ElementsAre(ProgressReport{5, std::string(kMaxProgressMessageBytes, 'm')}));
}

TEST_F(RuntimeApiServerTest, ProgressForAnUnknownOrAnsweredIdIsRefusedButHarmless) {
  ProgressRecorder recorder;
  ExecutionRequest request = MakeRequest("inv-real", "{}");
  request.on_progress = recorder.Callback();
  auto result = InvokeAsync(request);
  ASSERT_TRUE(Next());
  httplib::Result unknown =
      Client()->Post(ProgressPath("inv-other"), R"({"percent": 1})", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_THAT(unknown->body, HasSubstr("InvalidRequestID"));
  ASSERT_EQ(Client()->Post(ResponsePath("inv-real"), "done", "text/plain")->status, 202);
  ExecutionResult got = result.get();
  EXPECT_TRUE(got.ok);
  EXPECT_EQ(got.output, "done");
  httplib::Result late =
      Client()->Post(ProgressPath("inv-real"), R"({"percent": 2})", "application/json");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 400);
  EXPECT_THAT(late->body, HasSubstr("InvalidStateTransition"));
  EXPECT_TRUE(recorder.reports().empty());
  EXPECT_TRUE(server_->usable());
}

TEST_F(RuntimeApiServerTest, MalformedProgressIsRefusedButHarmless) {
  ProgressRecorder recorder;
  ExecutionRequest request = MakeRequest("inv-bad", "{}");
  request.on_progress = recorder.Callback();
  auto result = InvokeAsync(request);
  ASSERT_TRUE(Next());
  for (const char* body : {"not json", R"({"message": "no percent"})", R"({"percent": -1})",
                           R"({"percent": "50"})", R"({"percent": 5, "message": 7})"}) {
    httplib::Result posted = Client()->Post(ProgressPath("inv-bad"), body, "application/json");
    ASSERT_TRUE(posted);
    EXPECT_EQ(posted->status, 400) << body;
    EXPECT_THAT(posted->body, HasSubstr("InvalidRequest")) << body;
  }
  httplib::Result huge =
      Client()->Post(ProgressPath("inv-bad"), std::string(100 * 1024, ' '), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  ASSERT_EQ(Client()->Post(ResponsePath("inv-bad"), "done", "text/plain")->status, 202);
  EXPECT_TRUE(result.get().ok);
  EXPECT_TRUE(recorder.reports().empty());
  EXPECT_TRUE(server_->usable());
}

}  // namespace
}  // namespace sluice
