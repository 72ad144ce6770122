// progress_test_function: a native function that reports progress in ways the
// examples do not, for tests of the host side. By input:
//   "big"     reports 150 percent with a message of 5000 'x'
//   "utf8"    reports a message of 1023 'a' then "é" (cut at the boundary),
//             then one with an invalid byte ("a\xffb")
//   "flood"   reports 1000 times in a tight loop: percent i/10, "report i"
//   "threads" reports 50 times from each of 4 threads
//   "wait"    reports 50 "waiting", then waits until cancelled
//             ("Interrupted")
//   "abi"     reports nothing and answers the host's abi_version
// and answers "ok" (or the version).
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <sluice/function.hpp>

namespace {
sluice::Result ProgressTest(sluice::Context& ctx, std::string_view input) {
  if (input == "big") {
    ctx.ReportProgress(150, std::string(5000, 'x'));
  } else if (input == "utf8") {
    ctx.ReportProgress(10, std::string(1023, 'a') + "\xc3\xa9");
    ctx.ReportProgress(20,
                       "a\xff"
                       "b");
  } else if (input == "flood") {
    for (int i = 0; i < 1000; ++i) {
      ctx.ReportProgress(static_cast<uint32_t>(i / 10), "report " + std::to_string(i));
    }
  } else if (input == "threads") {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&ctx, t] {
        for (int i = 0; i < 50; ++i) ctx.ReportProgress(static_cast<uint32_t>(t), "from a thread");
      });
    }
    for (std::thread& thread : threads) thread.join();
  } else if (input == "wait") {
    ctx.ReportProgress(50, "waiting");
    while (!ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return sluice::Result::Error("Interrupted", "cancelled while waiting");
  } else if (input == "abi") {
    return sluice::Result::Ok(std::to_string(ctx.abi_version()));
  }
  return sluice::Result::Ok("ok");
}
}  // namespace

SLUICE_FUNCTION(ProgressTest)
