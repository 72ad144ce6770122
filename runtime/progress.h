// Progress reports from running functions: how a report is normalised and
// how a flood of reports is kept from reaching ExecutionRequest::on_progress.
// Shared by the runtimes that can report progress (native in-process,
// native worker processes, lambda).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "monitoring/utf8.h"
#include "sluice/function.h"

namespace sluice {

// kMaxProgressMessageBytes: longer progress messages are cut.
inline constexpr size_t kMaxProgressMessageBytes = SLUICE_MAX_PROGRESS_MESSAGE_BYTES;

// ProgressReport is one report: percent 0..100 and a valid UTF-8 message of
// at most kMaxProgressMessageBytes.
struct ProgressReport {
  uint32_t percent = 0;
  std::string message;

  bool operator==(const ProgressReport&) const = default;
};

// NormalizeProgress clamps `percent` to 100 and makes `message` valid UTF-8
// (each byte that does not belong to a well-formed character becomes '?')
// of at most kMaxProgressMessageBytes, cut at a character boundary.
inline ProgressReport NormalizeProgress(uint32_t percent, absl::string_view message) {
  ProgressReport report;
  report.percent = std::min<uint32_t>(percent, 100);
  report.message.reserve(std::min(message.size(), kMaxProgressMessageBytes));
  size_t i = 0;
  while (i < message.size()) {
    const size_t len = Utf8Length(std::string_view(message.data() + i, message.size() - i));
    const size_t take = len > 0 ? len : 1;
    if (report.message.size() + take > kMaxProgressMessageBytes) break;
    if (len > 0) {
      report.message.append(message.data() + i, len);
    } else {
      report.message.push_back('?');
    }
    i += take;
  }
  return report;
}

// ProgressThrottle limits how many reports are passed on: a token bucket
// holding `burst` tokens, refilled with one token per `interval`. A report
// that finds a token is passed on at once; one that finds none is kept as
// the pending report, replacing an older pending one (coalescing: only the
// latest state matters). The pending report is passed on by Due once a token
// is back, or by Flush when the attempt ends. Reports are thus passed on in
// the order they were made, some skipped, the latest never lost.
//
// Not thread-safe: the owner serialises calls. Time comes from the caller.
class ProgressThrottle {
 public:
  // The default: bursts of 32 reports, then 10 a second.
  static constexpr int kDefaultBurst = 32;
  static constexpr absl::Duration kDefaultInterval = absl::Milliseconds(100);

  explicit ProgressThrottle(int burst = kDefaultBurst, absl::Duration interval = kDefaultInterval)
      : burst_(std::max(1, burst)), interval_(interval), tokens_(burst_) {}

  // Offer takes a report made at `now`; returns it when it may be passed on
  // now, or nothing when it was kept as the pending report.
  std::optional<ProgressReport> Offer(ProgressReport report, absl::Time now) {
    if (!TakeToken(now)) {
      pending_ = std::move(report);
      return std::nullopt;
    }
    pending_.reset();  // superseded
    return report;
  }

  // Due returns the pending report when a token is available at `now`.
  std::optional<ProgressReport> Due(absl::Time now) {
    if (!pending_.has_value() || !TakeToken(now)) return std::nullopt;
    return Flush();
  }

  // Flush returns the pending report, if any, whatever the tokens.
  std::optional<ProgressReport> Flush() {
    std::optional<ProgressReport> report = std::move(pending_);
    pending_.reset();
    return report;
  }

 private:
  bool TakeToken(absl::Time now) {
    if (last_refill_ == absl::InfinitePast()) last_refill_ = now;
    if (interval_ > absl::ZeroDuration() && now > last_refill_) {
      tokens_ =
          std::min<double>(burst_, tokens_ + absl::FDivDuration(now - last_refill_, interval_));
    } else if (interval_ <= absl::ZeroDuration()) {
      tokens_ = burst_;
    }
    last_refill_ = std::max(last_refill_, now);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

  const int burst_;
  const absl::Duration interval_;
  double tokens_;
  absl::Time last_refill_ = absl::InfinitePast();
  std::optional<ProgressReport> pending_;
};

}  // namespace sluice
