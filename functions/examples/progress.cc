// progress: works in four steps, reporting 25, 50, 75 and 100 percent with
// the messages "step 1 of 4" .. "step 4 of 4", and answers "done". Its input
// is how long each step takes in milliseconds (empty: 0); a step ends early,
// with the error "Interrupted", when the invocation is cancelled or times
// out.
#include <charconv>
#include <chrono>
#include <string>
#include <thread>

#include <sluice/function.hpp>

namespace {
sluice::Result Progress(sluice::Context& ctx, std::string_view input) {
  long step_ms = 0;
  if (!input.empty()) {
    auto [end, ec] = std::from_chars(input.data(), input.data() + input.size(), step_ms);
    if (ec != std::errc() || end != input.data() + input.size() || step_ms < 0) {
      return sluice::Result::Error("InvalidInput", "input must be a number of milliseconds");
    }
  }
  constexpr int kSteps = 4;
  for (int step = 1; step <= kSteps; ++step) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(step_ms);
    while (std::chrono::steady_clock::now() < until) {
      if (ctx.cancelled()) {
        return sluice::Result::Error("Interrupted",
                                     "cancelled in step " + std::to_string(step) + " of 4");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ctx.ReportProgress(static_cast<uint32_t>(step * 100 / kSteps),
                       "step " + std::to_string(step) + " of " + std::to_string(kSteps));
  }
  return sluice::Result::Ok("done");
}
}  // namespace

SLUICE_FUNCTION(Progress)
