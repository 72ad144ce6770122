// sleep: sleeps for the number of milliseconds in its input (default 100),
// waking early when the invocation is cancelled or times out, and answers
// "slept N ms" or the error "Interrupted".
#include <charconv>
#include <chrono>
#include <string>
#include <thread>

#include <sluice/function.hpp>

namespace {
sluice::Result Sleep(sluice::Context& ctx, std::string_view input) {
  long ms = 100;
  if (!input.empty()) {
    auto [end, ec] = std::from_chars(input.data(), input.data() + input.size(), ms);
    if (ec != std::errc() || ms < 0) {
      return sluice::Result::Error("InvalidInput", "input must be a number of milliseconds");
    }
    (void)end;
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (ctx.cancelled()) return sluice::Result::Error("Interrupted", "cancelled while sleeping");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return sluice::Result::Ok("slept " + std::to_string(ms) + " ms");
}
}  // namespace

SLUICE_FUNCTION(Sleep)
