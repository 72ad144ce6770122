// crash: misbehaves on request, to show that a function cannot take the
// server down. Input "segv" dereferences null, "abort" aborts, "exit" exits
// the process, "print" writes a line to stdout and stderr and answers;
// "hang" never returns and ignores its deadline (only a kill stops it);
// "env" answers the process environment, one variable a line; anything else
// is echoed back.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

extern char** environ;

#include <sluice/function.hpp>

namespace {
sluice::Result Crash(sluice::Context& ctx, std::string_view input) {
  if (input == "segv") std::raise(SIGSEGV);
  if (input == "abort") std::abort();
  if (input == "exit") std::exit(3);
  if (input == "print") {
    std::printf("hello from %s\n", std::string(ctx.invocation_id()).c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "warning from %s\n", std::string(ctx.invocation_id()).c_str());
    return sluice::Result::Ok("printed");
  }
  if (input == "hang") {
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (input == "env") {
    std::string out;
    for (char** e = environ; *e != nullptr; ++e) out.append(*e).append("\n");
    return sluice::Result::Ok(out);
  }
  return sluice::Result::Ok(std::string(input));
}
}  // namespace

SLUICE_FUNCTION(Crash)
