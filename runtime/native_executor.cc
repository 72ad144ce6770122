#include "runtime/native_executor.h"

#include <dlfcn.h>

#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "runtime/progress.h"
#include "sluice/function.h"

namespace sluice {
namespace {

// AttemptState is what the host API callbacks write into during one call.
// set_output and set_error are called by the function's own thread; progress
// may come from any thread and is guarded by progress_mu.
struct AttemptState {
  explicit AttemptState(const ExecutionRequest* r) : request(r) {}

  // Deliver passes `report` on, if any. Requires progress_mu, which keeps
  // reports from several threads in order.
  void Deliver(const std::optional<ProgressReport>& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu) {
    if (report.has_value()) request->on_progress(report->percent, report->message);
  }

  const ExecutionRequest* const request;
  bool error_set = false;
  ExecutionResult result;
  absl::Mutex progress_mu;
  ProgressThrottle throttle ABSL_GUARDED_BY(progress_mu);
};

void SetOutput(void* host, const uint8_t* data, size_t len) {
  auto* state = static_cast<AttemptState*>(host);
  state->result.output.assign(reinterpret_cast<const char*>(data), len);
}

void SetError(void* host, const char* type, const char* message) {
  auto* state = static_cast<AttemptState*>(host);
  state->error_set = true;
  state->result.error_type = (type != nullptr && *type != '\0') ? type : "FunctionError";
  state->result.error_message = message != nullptr ? message : "";
}

int IsCancelled(void* host) {
  auto* state = static_cast<AttemptState*>(host);
  const absl::Time now = absl::Now();
  if (state->request->on_progress) {
    // A coalesced report goes out as soon as the rate allows: functions that
    // report in a burst and then work poll this often.
    absl::MutexLock lock(&state->progress_mu);
    state->Deliver(state->throttle.Due(now));
  }
  return state->request->cancel->cancelled() || now >= state->request->deadline;
}

void ReportProgress(void* host, uint32_t percent, const char* message) {
  auto* state = static_cast<AttemptState*>(host);
  if (!state->request->on_progress) return;
  ProgressReport report =
      NormalizeProgress(percent, message != nullptr ? absl::string_view(message) : "");
  absl::MutexLock lock(&state->progress_mu);
  state->Deliver(state->throttle.Offer(std::move(report), absl::Now()));
}

constexpr sluice_host_api kHostApi = {&SetOutput, &SetError, &IsCancelled, &ReportProgress};

class NativeExecutor final : public Executor {
 public:
  NativeExecutor(void* handle, sluice_function_fn fn) : handle_(handle), fn_(fn) {}
  ~NativeExecutor() override { dlclose(handle_); }

  bool InProcess() const override { return true; }

  ExecutionResult Execute(const ExecutionRequest& request) override {
    std::vector<sluice_metadata_entry> metadata;
    metadata.reserve(request.metadata.size());
    for (const auto& [key, value] : request.metadata) {
      metadata.push_back({key.c_str(), value.c_str()});
    }
    AttemptState state(&request);
    sluice_invocation inv{};
    inv.abi_version = SLUICE_ABI_VERSION;
    inv.invocation_id = request.invocation_id.c_str();
    inv.function_name = request.function_name.c_str();
    inv.function_version = request.function_version;
    inv.attempt = request.attempt;
    inv.deadline_unix_ms = request.deadline == absl::InfiniteFuture()
                               ? INT64_MAX
                               : absl::ToUnixMillis(request.deadline);
    inv.input = reinterpret_cast<const uint8_t*>(request.payload.data());
    inv.input_len = request.payload.size();
    inv.metadata = metadata.data();
    inv.metadata_count = metadata.size();
    inv.host = &state;
    inv.host_api = &kHostApi;
    inv.traceparent = request.traceparent.c_str();
    inv.tracestate = request.tracestate.c_str();

    const int rc = fn_(&inv);
    if (request.on_progress) {  // the last report always goes out before the result
      absl::MutexLock lock(&state.progress_mu);
      state.Deliver(state.throttle.Flush());
    }
    if (state.error_set) {
      state.result.ok = false;
      state.result.output.clear();
      return std::move(state.result);
    }
    if (rc != 0) {
      return ExecutionResult::Error("FunctionError",
                                    absl::StrCat("entry point returned ", rc, " without an error"));
    }
    state.result.ok = true;
    return std::move(state.result);
  }

 private:
  void* const handle_;
  const sluice_function_fn fn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Executor>> LoadNativeFunction(const std::string& path,
                                                             const std::string& entry_point) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: not a loadable shared object: ", why != nullptr ? why : "unknown"));
  }
  dlerror();
  void* symbol = dlsym(handle, entry_point.c_str());
  if (symbol == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact: entry point \"", entry_point,
        "\" not found (export it with SLUICE_FUNCTION or extern \"C\" SLUICE_EXPORT)"));
  }
  return std::make_unique<NativeExecutor>(handle, reinterpret_cast<sluice_function_fn>(symbol));
}

}  // namespace sluice
