// flaky: fails its first N attempts, for trying out retries. Its input is N
// (empty: 0), or "always" to fail every attempt. While the attempt number is
// at most N it fails with error type "Flaky", or, when the metadata "crash"
// is "1", aborts its process instead (a crash); a later attempt answers
// "ok after K attempts". Every attempt first reports progress 0 with the
// message "attempt K", so callers can watch the attempts go by.
#include <charconv>
#include <cstdlib>
#include <string>

#include <sluice/function.hpp>

namespace {
sluice::Result Flaky(sluice::Context& ctx, std::string_view input) {
  const uint32_t attempt = ctx.attempt();
  ctx.ReportProgress(0, "attempt " + std::to_string(attempt));
  bool fail = input == "always";
  if (!fail) {
    unsigned long failures = 0;
    if (!input.empty()) {
      auto [end, ec] = std::from_chars(input.data(), input.data() + input.size(), failures);
      if (ec != std::errc() || end != input.data() + input.size()) {
        return sluice::Result::Error("InvalidInput",
                                     "input must be a number of failing attempts or \"always\"");
      }
    }
    fail = attempt <= failures;
  }
  if (!fail) return sluice::Result::Ok("ok after " + std::to_string(attempt) + " attempts");
  if (ctx.metadata("crash") == "1") std::abort();
  return sluice::Result::Error("Flaky",
                               "attempt " + std::to_string(attempt) + " failed on purpose");
}
}  // namespace

SLUICE_FUNCTION(Flaky)
