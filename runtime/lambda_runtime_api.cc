// RuntimeApiServer: the Lambda Runtime API on cpp-httplib.
#include "runtime/lambda_runtime_api.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "monitoring/trace_context.h"

namespace sluice {
namespace {

constexpr char kNextPath[] = "/2018-06-01/runtime/invocation/next";
constexpr char kResponsePattern[] = R"(/2018-06-01/runtime/invocation/([^/]+)/response)";
constexpr char kErrorPattern[] = R"(/2018-06-01/runtime/invocation/([^/]+)/error)";
constexpr char kProgressPattern[] = R"(/2018-06-01/runtime/invocation/([^/]+)/progress)";
constexpr char kInitErrorPath[] = "/2018-06-01/runtime/init/error";
// The largest progress body read; the message in it is cut to
// kMaxProgressMessageBytes anyway.
constexpr size_t kMaxProgressBodyBytes = 64 * 1024;
constexpr char kErrorTypeHeader[] = "Lambda-Runtime-Function-Error-Type";
constexpr char kJson[] = "application/json";
// How often waits look at the cancel flag and the process.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);
// Answered ids remembered to recognise a second post.
constexpr size_t kAnsweredKept = 16;
// The deadline shown to the runtime for an invocation that has none: AWS
// Lambda's longest timeout.
constexpr absl::Duration kShownWithoutDeadline = absl::Minutes(15);

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  return out;
}

void Reply(httplib::Response& response, int status, std::string body) {
  response.status = status;
  response.body = std::move(body);
  response.set_header("Content-Type", kJson);
}

// ReplyError answers with AWS's error document. `close` ends the connection
// afterwards, for requests whose body was not read.
void ReplyError(httplib::Response& response, int status, absl::string_view type,
                absl::string_view message, bool close = false) {
  Reply(response, status,
        absl::StrCat("{\"errorMessage\":\"", JsonEscape(message), "\",\"errorType\":\"",
                     JsonEscape(type), "\"}"));
  if (close) response.set_header("Connection", "close");
}

void ReplyAccepted(httplib::Response& response) { Reply(response, 202, "{\"status\":\"OK\"}"); }

// FunctionError is what a runtime reported through /error or /init/error.
struct FunctionError {
  std::string type;
  std::string message;
};

FunctionError ParseFunctionError(const std::string& header_type, const std::string& body) {
  FunctionError error{header_type, body};
  google::protobuf::Struct json;
  if (google::protobuf::util::JsonStringToMessage(body, &json).ok()) {
    const auto& fields = json.fields();
    auto type = fields.find("errorType");
    if (error.type.empty() && type != fields.end() &&
        type->second.kind_case() == google::protobuf::Value::kStringValue) {
      error.type = type->second.string_value();
    }
    auto message = fields.find("errorMessage");
    if (message != fields.end() &&
        message->second.kind_case() == google::protobuf::Value::kStringValue) {
      error.message = message->second.string_value();
    }
  }
  if (error.type.empty()) error.type = kUnhandledError;
  return error;
}

// ParseProgress reads {"percent": n, "message": "..."}: percent a number
// >= 0 (over 100 counts as 100, fractions are cut), message an optional
// string. INVALID_ARGUMENT says what is wrong otherwise.
absl::StatusOr<ProgressReport> ParseProgress(const std::string& body) {
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(body, &json).ok()) {
    return absl::InvalidArgumentError("the progress body is not a JSON object");
  }
  const auto& fields = json.fields();
  auto percent = fields.find("percent");
  if (percent == fields.end() ||
      percent->second.kind_case() != google::protobuf::Value::kNumberValue ||
      !std::isfinite(percent->second.number_value()) || percent->second.number_value() < 0) {
    return absl::InvalidArgumentError("\"percent\" must be a number from 0 to 100");
  }
  std::string message;
  if (auto it = fields.find("message"); it != fields.end()) {
    if (it->second.kind_case() == google::protobuf::Value::kStringValue) {
      message = it->second.string_value();
    } else if (it->second.kind_case() != google::protobuf::Value::kNullValue) {
      return absl::InvalidArgumentError("\"message\" must be a string");
    }
  }
  const double value = std::min(percent->second.number_value(), 100.0);
  return NormalizeProgress(static_cast<uint32_t>(value), message);
}

// PostBody is the body of a POST as far as it was read.
struct PostBody {
  enum class Outcome { kOk, kTooLarge, kBroken, kMultipart };
  Outcome outcome = Outcome::kOk;
  std::string data;  // when kOk
  uint64_t size = 0;
};

// ReadBody reads the request body, keeping at most `limit` bytes. An
// oversized body is drained (or skipped by httplib when its Content-Length
// says so), so the connection stays usable.
PostBody ReadBody(const httplib::Request& request, httplib::Response& response,
                  const httplib::ContentReader& reader, size_t limit) {
  PostBody body;
  if (request.is_multipart_form_data()) {
    body.outcome = PostBody::Outcome::kMultipart;
    return body;
  }
  bool too_large = false;
  const bool read = reader([&](const char* data, size_t size) {
    body.size += size;
    if (too_large || body.data.size() + size > limit) {
      too_large = true;
      body.data.clear();
    } else {
      body.data.append(data, size);
    }
    return true;
  });
  if (!read && response.status == 413) {
    too_large = true;
    uint64_t declared = 0;
    if (absl::SimpleAtoi(request.get_header_value("Content-Length"), &declared)) {
      body.size = declared;
    }
  }
  if (too_large) {
    body.outcome = PostBody::Outcome::kTooLarge;
  } else if (!read) {
    body.outcome = PostBody::Outcome::kBroken;
  }
  return body;
}

}  // namespace

struct RuntimeApiServer::Invocation {
  enum class State { kPending, kInFlight, kAnswered };
  State state = State::kPending;
  std::string id;
  std::string payload;
  int64_t deadline_ms = 0;
  std::string trace_id;  // Lambda-Runtime-Trace-Id
  std::string traceparent;
  std::string tracestate;
  std::optional<ExecutionResult> result;  // set with kAnswered
  // Progress posted and admitted by `throttle`, not yet passed on by Invoke.
  std::vector<ProgressReport> progress;
  ProgressThrottle throttle;
};

RuntimeApiServer::RuntimeApiServer(RuntimeApiOptions options)
    : options_(std::move(options)),
      function_arn_(
          absl::StrCat("arn:aws:lambda:local:000000000000:function:", options_.function_name)) {}

RuntimeApiServer::~RuntimeApiServer() { Stop(); }

absl::Status RuntimeApiServer::Start() {
  http_ = std::make_unique<httplib::Server>();
  const size_t threads = static_cast<size_t>(std::max(1, options_.threads));
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.max_payload_bytes);
  http_->set_tcp_nodelay(true);
  http_->Get(kNextPath, [this](const httplib::Request&, httplib::Response& response) {
    HandleNext(response);
  });
  http_->Post(kResponsePattern, [this](const httplib::Request& request, httplib::Response& response,
                                       const httplib::ContentReader& reader) {
    HandlePost(PostKind::kResponse, request, response, reader);
  });
  http_->Post(kErrorPattern, [this](const httplib::Request& request, httplib::Response& response,
                                    const httplib::ContentReader& reader) {
    HandlePost(PostKind::kError, request, response, reader);
  });
  http_->Post(kProgressPattern, [this](const httplib::Request& request, httplib::Response& response,
                                       const httplib::ContentReader& reader) {
    HandleProgress(request, response, reader);
  });
  http_->Post(kInitErrorPath, [this](const httplib::Request& request, httplib::Response& response,
                                     const httplib::ContentReader& reader) {
    HandlePost(PostKind::kInitError, request, response, reader);
  });
  http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& request,
                                                                   httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (response.status == 404) {
      ReplyError(response, 404, "NotFound",
                 absl::StrCat("no such Runtime API path: ", request.method, " ", request.path));
    } else {
      ReplyError(response, response.status, "InvalidRequest", "the request could not be handled");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));

  const int port = http_->bind_to_any_port("127.0.0.1");
  if (port < 0) return absl::UnavailableError("runtime API: cannot bind a port on 127.0.0.1");
  port_ = port;
  auto listen_returned = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, listen_returned] {
    http_->listen_after_bind();
    listen_returned->store(true);
  });
  // httplib's stop() only takes effect once the server runs.
  while (!http_->is_running() && !listen_returned->load()) std::this_thread::yield();
  return absl::OkStatus();
}

absl::Status RuntimeApiServer::WaitForFirstNext(absl::Time deadline, ProcessExited process_exited) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(this, &RuntimeApiServer::InitSettledLocked),
                            std::min(absl::Now() + kPollInterval, deadline));
      if (init_error_.has_value()) return absl::FailedPreconditionError(*init_error_);
      if (init_done_) return absl::OkStatus();
      if (stopping_) return absl::CancelledError("the runtime API server was stopped");
    }
    if (process_exited()) return absl::AbortedError("the runtime process exited during init");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the runtime did not call /next in time");
    }
  }
}

ExecutionResult RuntimeApiServer::Invoke(const ExecutionRequest& request,
                                         ProcessExited process_exited) {
  const absl::Time start = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (!unusable_reason_.empty()) {
      return ExecutionResult::Error(kWorkerUnavailableError, unusable_reason_);
    }
    if (current_ != nullptr) {
      return ExecutionResult::Error(kWorkerUnavailableError,
                                    "the worker is already running an invocation");
    }
    auto invocation = std::make_unique<Invocation>();
    invocation->id = request.invocation_id;
    if (invocation->id.empty()) {
      invocation->id = absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16),
                                    absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16));
    }
    invocation->payload = request.payload;
    invocation->deadline_ms = absl::ToUnixMillis(request.deadline == absl::InfiniteFuture()
                                                     ? start + kShownWithoutDeadline
                                                     : request.deadline);
    // The attempt's trace context, in X-Ray form for AWS libraries and as
    // W3C headers for OpenTelemetry ones.
    if (std::optional<TraceContext> trace =
            ParseTraceparent(request.traceparent, request.tracestate)) {
      invocation->trace_id = trace->LambdaTraceId();
      invocation->traceparent = trace->Traceparent();
      invocation->tracestate = trace->tracestate;
    } else {
      invocation->trace_id = NewTraceIdLocked();
    }
    // An invocation retried on the same worker comes back with its id.
    answered_.erase(std::remove(answered_.begin(), answered_.end(), invocation->id),
                    answered_.end());
    current_ = std::move(invocation);
  }
  while (true) {
    std::vector<ProgressReport> progress;
    std::optional<ExecutionResult> finished;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(this, &RuntimeApiServer::InvocationEventLocked),
                            std::min(absl::Now() + kPollInterval, request.deadline));
      progress = TakeProgressLocked(current_->result.has_value() || stopping_);
      if (current_->result.has_value()) {
        finished = *std::move(current_->result);
        current_.reset();
      } else if (stopping_) {
        current_.reset();
        finished =
            ExecutionResult::Error(kWorkerUnavailableError, "the runtime API server was stopped");
      }
    }
    // Outside the lock, on this thread, so on_progress never runs after
    // Invoke returned.
    if (request.on_progress) {
      for (const ProgressReport& report : progress) {
        request.on_progress(report.percent, report.message);
      }
    }
    if (finished.has_value()) return *std::move(finished);
    if (request.cancel->cancelled())
      return Abandon(request, kCancelledError, "the invocation was cancelled");
    if (absl::Now() >= request.deadline) {
      return Abandon(request, kTimeoutError,
                     absl::StrCat("the function did not answer within ",
                                  absl::FormatDuration(
                                      std::max(request.deadline - start, absl::ZeroDuration()))));
    }
    if (process_exited()) return Abandon(request, kCrashError, "the runtime process exited");
  }
}

ExecutionResult RuntimeApiServer::Abandon(const ExecutionRequest& request, const std::string& type,
                                          const std::string& message) {
  std::vector<ProgressReport> progress;
  ExecutionResult result;
  {
    absl::MutexLock lock(&mu_);
    progress = TakeProgressLocked(/*final=*/true);
    if (current_->result.has_value()) {  // the answer came just in time
      result = *std::move(current_->result);
    } else {
      MarkUnusableLocked(absl::StrCat("invocation ", current_->id, " was abandoned: ", message));
      result = ExecutionResult::Error(type, message);
    }
    current_.reset();
  }
  if (request.on_progress) {
    for (const ProgressReport& report : progress) {
      request.on_progress(report.percent, report.message);
    }
  }
  return result;
}

std::vector<ProgressReport> RuntimeApiServer::TakeProgressLocked(bool final) {
  std::vector<ProgressReport> progress = std::move(current_->progress);
  current_->progress.clear();
  std::optional<ProgressReport> pending =
      final ? current_->throttle.Flush() : current_->throttle.Due(absl::Now());
  if (pending.has_value()) progress.push_back(*std::move(pending));
  return progress;
}

bool RuntimeApiServer::usable() const {
  absl::MutexLock lock(&mu_);
  return unusable_reason_.empty();
}

std::string RuntimeApiServer::unusable_reason() const {
  absl::MutexLock lock(&mu_);
  return unusable_reason_;
}

void RuntimeApiServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    MarkUnusableLocked("the runtime API server was stopped");
  }
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void RuntimeApiServer::HandleNext(httplib::Response& response) {
  absl::MutexLock lock(&mu_);
  init_done_ = true;
  if (current_ != nullptr && current_->state == Invocation::State::kInFlight) {
    const std::string message =
        absl::StrCat("the runtime asked for the next invocation before answering ", current_->id);
    MarkUnusableLocked(message);
    FailInFlightLocked(kProtocolError, message);
    ReplyError(response, 400, "InvalidStateTransition", message);
    return;
  }
  mu_.Await(absl::Condition(this, &RuntimeApiServer::NextReadyLocked));
  if (stopping_) {
    ReplyError(response, 500, "ServiceStopping", "the worker is shutting down", /*close=*/true);
    return;
  }
  Invocation& invocation = *current_;
  invocation.state = Invocation::State::kInFlight;
  response.status = 200;
  response.set_header("Lambda-Runtime-Aws-Request-Id", invocation.id);
  response.set_header("Lambda-Runtime-Deadline-Ms", std::to_string(invocation.deadline_ms));
  response.set_header("Lambda-Runtime-Invoked-Function-Arn", function_arn_);
  response.set_header("Lambda-Runtime-Trace-Id", invocation.trace_id);
  if (!invocation.traceparent.empty()) response.set_header("traceparent", invocation.traceparent);
  if (!invocation.tracestate.empty()) response.set_header("tracestate", invocation.tracestate);
  response.set_header("Content-Type", kJson);
  response.body = std::move(invocation.payload);
}

void RuntimeApiServer::HandlePost(PostKind kind, const httplib::Request& request,
                                  httplib::Response& response,
                                  const httplib::ContentReader& reader) {
  PostBody body = ReadBody(request, response, reader, options_.max_payload_bytes);
  const std::string id = kind == PostKind::kInitError ? "" : request.matches[1].str();
  absl::MutexLock lock(&mu_);
  if (body.outcome == PostBody::Outcome::kBroken) {
    ReplyError(response, 400, "InvalidRequest", "the request body could not be read",
               /*close=*/true);
    return;
  }

  if (kind == PostKind::kInitError) {
    if (init_done_ || init_error_.has_value()) {
      const std::string message = "the runtime posted /init/error after initialisation";
      MarkUnusableLocked(message);
      FailInFlightLocked(kProtocolError, message);
      ReplyError(response, 403, "InvalidStateTransition", message);
      return;
    }
    if (body.outcome == PostBody::Outcome::kMultipart) {
      init_error_ = absl::StrCat(kProtocolError, ": the runtime posted a multipart init error");
      ReplyError(response, 400, "InvalidRequest", "multipart bodies are not accepted", true);
      return;
    }
    if (body.outcome == PostBody::Outcome::kTooLarge) {
      init_error_ =
          absl::StrCat(kResponseTooLargeError, ": the init error of ", body.size,
                       " bytes exceeds the limit of ", options_.max_payload_bytes, " bytes");
      ReplyError(response, 413, "RequestEntityTooLarge", *init_error_);
      return;
    }
    FunctionError error = ParseFunctionError(request.get_header_value(kErrorTypeHeader), body.data);
    init_error_ = absl::StrCat(error.type, ": ", error.message);
    ReplyAccepted(response);
    return;
  }

  if (current_ == nullptr || current_->state != Invocation::State::kInFlight ||
      current_->id != id) {
    const bool answered = std::find(answered_.begin(), answered_.end(), id) != answered_.end();
    const std::string message = answered ? absl::StrCat("invocation ", id, " was already answered")
                                         : absl::StrCat("unknown invocation id ", id);
    MarkUnusableLocked(message);
    FailInFlightLocked(kProtocolError, absl::StrCat("the runtime posted for ", message));
    ReplyError(response, 400, answered ? "InvalidStateTransition" : "InvalidRequestID", message,
               body.outcome == PostBody::Outcome::kMultipart);
    return;
  }
  if (body.outcome == PostBody::Outcome::kMultipart) {
    const std::string message = absl::StrCat("the runtime posted a multipart body for ", id);
    MarkUnusableLocked(message);
    FailInFlightLocked(kProtocolError, message);
    ReplyError(response, 400, "InvalidRequest", message, /*close=*/true);
    return;
  }
  if (body.outcome == PostBody::Outcome::kTooLarge) {
    const std::string message = absl::StrCat(
        "the function's ", kind == PostKind::kResponse ? "response" : "error", " of ", body.size,
        " bytes exceeds the limit of ", options_.max_payload_bytes, " bytes");
    MarkUnusableLocked(message);
    FailInFlightLocked(kResponseTooLargeError, message);
    ReplyError(response, 413, "RequestEntityTooLarge", message);
    return;
  }
  if (kind == PostKind::kResponse) {
    current_->result = ExecutionResult::Success(std::move(body.data));
  } else {
    FunctionError error = ParseFunctionError(request.get_header_value(kErrorTypeHeader), body.data);
    current_->result = ExecutionResult::Error(std::move(error.type), std::move(error.message));
  }
  current_->state = Invocation::State::kAnswered;
  answered_.push_back(id);
  if (answered_.size() > kAnsweredKept) answered_.pop_front();
  ReplyAccepted(response);
}

void RuntimeApiServer::HandleProgress(const httplib::Request& request, httplib::Response& response,
                                      const httplib::ContentReader& reader) {
  // httplib refuses bodies over max_payload_bytes before they are read.
  const size_t limit = std::min(kMaxProgressBodyBytes, options_.max_payload_bytes);
  PostBody body = ReadBody(request, response, reader, limit);
  const std::string id = request.matches[1].str();
  switch (body.outcome) {
    case PostBody::Outcome::kOk:
      break;
    case PostBody::Outcome::kTooLarge:
      ReplyError(response, 413, "RequestEntityTooLarge",
                 absl::StrCat("a progress body of ", body.size, " bytes exceeds the limit of ",
                              limit, " bytes"));
      return;
    case PostBody::Outcome::kMultipart:
      ReplyError(response, 400, "InvalidRequest", "multipart bodies are not accepted",
                 /*close=*/true);
      return;
    case PostBody::Outcome::kBroken:
      ReplyError(response, 400, "InvalidRequest", "the request body could not be read",
                 /*close=*/true);
      return;
  }
  absl::StatusOr<ProgressReport> report = ParseProgress(body.data);
  absl::MutexLock lock(&mu_);
  if (current_ == nullptr || current_->state != Invocation::State::kInFlight ||
      current_->id != id) {
    // Unlike a stray response this is harmless: the report is refused and
    // the worker stays usable.
    const bool answered = std::find(answered_.begin(), answered_.end(), id) != answered_.end();
    ReplyError(response, 400, answered ? "InvalidStateTransition" : "InvalidRequestID",
               answered ? absl::StrCat("invocation ", id, " was already answered")
                        : absl::StrCat("unknown invocation id ", id));
    return;
  }
  if (!report.ok()) {
    ReplyError(response, 400, "InvalidRequest", report.status().message());
    return;
  }
  if (std::optional<ProgressReport> admitted =
          current_->throttle.Offer(*std::move(report), absl::Now());
      admitted.has_value()) {
    current_->progress.push_back(*std::move(admitted));
  }
  ReplyAccepted(response);
}

void RuntimeApiServer::MarkUnusableLocked(const std::string& reason) {
  if (unusable_reason_.empty()) unusable_reason_ = reason;
}

void RuntimeApiServer::FailInFlightLocked(const std::string& type, const std::string& message) {
  if (current_ == nullptr || current_->state != Invocation::State::kInFlight) return;
  current_->result = ExecutionResult::Error(type, message);
  current_->state = Invocation::State::kAnswered;
  answered_.push_back(current_->id);
  if (answered_.size() > kAnsweredKept) answered_.pop_front();
}

bool RuntimeApiServer::NextReadyLocked() const {
  return stopping_ || (current_ != nullptr && current_->state == Invocation::State::kPending);
}

bool RuntimeApiServer::InvocationSettledLocked() const {
  return stopping_ || (current_ != nullptr && current_->result.has_value());
}

bool RuntimeApiServer::InvocationEventLocked() const {
  return InvocationSettledLocked() || (current_ != nullptr && !current_->progress.empty());
}

bool RuntimeApiServer::InitSettledLocked() const {
  return stopping_ || init_done_ || init_error_.has_value();
}

std::string RuntimeApiServer::NewTraceIdLocked() {
  const auto seconds = static_cast<uint32_t>(absl::ToUnixSeconds(absl::Now()));
  return absl::StrCat("Root=1-", absl::Hex(seconds, absl::kZeroPad8), "-",
                      absl::Hex(absl::Uniform<uint32_t>(random_), absl::kZeroPad8),
                      absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16),
                      ";Parent=", absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16),
                      ";Sampled=0");
}

}  // namespace sluice
