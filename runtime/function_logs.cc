#include "runtime/function_logs.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "monitoring/utf8.h"

namespace sluice {
namespace {

constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// CleanText makes `text` valid UTF-8 of at most `max_bytes` bytes: each byte
// that starts no well-formed character becomes U+FFFD, and the text is cut
// before the first character that does not fit.
void CleanText(std::string& text, size_t max_bytes) {
  // Most lines are already clean: check before copying.
  size_t clean = 0;
  while (clean < text.size()) {
    const size_t length = Utf8Length(std::string_view(text).substr(clean));
    if (length == 0 || clean + length > max_bytes) break;
    clean += length;
  }
  if (clean == text.size()) return;
  std::string out = text.substr(0, clean);
  for (size_t i = clean; i < text.size();) {
    const size_t length = Utf8Length(std::string_view(text).substr(i));
    const absl::string_view character =
        length == 0 ? kReplacementCharacter : absl::string_view(text).substr(i, length);
    if (out.size() + character.size() > max_bytes) break;
    out.append(character.data(), character.size());
    i += std::max<size_t>(length, 1);
  }
  text = std::move(out);
}

}  // namespace

FunctionLogs::FunctionLogs(Logger* server_logger, size_t ring_lines)
    : server_logger_(server_logger), ring_lines_(std::max<size_t>(ring_lines, 1)) {}

void FunctionLogs::Append(LogLine line) {
  CleanText(line.text, kMaxLineBytes);
  if (server_logger_ != nullptr && server_logger_->Enabled(LogLevel::kInfo)) {
    std::vector<LogField> fields = {{"function", line.function}, {"version", line.version}};
    if (!line.invocation_id.empty()) fields.emplace_back("invocation_id", line.invocation_id);
    if (!line.trace_id.empty()) fields.emplace_back("trace_id", line.trace_id);
    fields.emplace_back("stream", line.stream);
    server_logger_->Log(LogLevel::kInfo, "function", line.text, fields);
  }
  {
    absl::MutexLock lock(&mu_);
    FunctionState& state = functions_[line.function];
    if (state.ring.size() >= ring_lines_) state.ring.pop_front();
    state.ring.push_back(SequencedLogLine{next_sequence_++, std::move(line)});
    // Callbacks run under the lock: that is what makes Unsubscribe a barrier
    // and keeps each subscriber's lines in order.
    for (auto& [handle, callback] : state.subscribers) callback(state.ring.back());
  }
}

std::vector<SequencedLogLine> FunctionLogs::TailSequenced(const std::string& function,
                                                          size_t lines) {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return {};
  const std::deque<SequencedLogLine>& ring = it->second.ring;
  const size_t count = std::min(lines, ring.size());
  return std::vector<SequencedLogLine>(ring.end() - static_cast<std::ptrdiff_t>(count), ring.end());
}

std::vector<LogLine> FunctionLogs::Tail(const std::string& function, size_t lines) {
  std::vector<SequencedLogLine> tail = TailSequenced(function, lines);
  std::vector<LogLine> result;
  result.reserve(tail.size());
  for (SequencedLogLine& entry : tail) result.push_back(std::move(entry.line));
  return result;
}

uint64_t FunctionLogs::SubscribeSequenced(const std::string& function, SequencedCallback callback) {
  absl::MutexLock lock(&mu_);
  const uint64_t handle = next_handle_++;
  functions_[function].subscribers.emplace(handle, std::move(callback));
  return handle;
}

uint64_t FunctionLogs::Subscribe(const std::string& function, Callback callback) {
  return SubscribeSequenced(
      function, [callback = std::move(callback)](const SequencedLogLine& entry) mutable {
        callback(entry.line);
      });
}

void FunctionLogs::Unsubscribe(const std::string& function, uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  it->second.subscribers.erase(handle);
  if (it->second.subscribers.empty() && it->second.ring.empty()) functions_.erase(it);
}

void FunctionLogs::Forget(const std::string& function) {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  it->second.ring = {};  // releases the memory, unlike clear()
  if (it->second.subscribers.empty()) functions_.erase(it);
}

}  // namespace sluice
