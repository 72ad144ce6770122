// The `sluice` executable. `sluice worker ...` is the worker process that the
// server starts for isolated native functions; it is not a user command.
#include <cstring>
#include <string>

#include "cli/app.h"
#include "gateway/server.h"
#include "gateway/server_settings.h"
#include "runtime/native_worker.h"

#ifdef SLUICE_SANITIZE
// A worker must die of the signal its function raised, as in a normal
// build, so that the crash is reported with that signal: the sanitizer
// leaves fatal signals alone.
extern "C" const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}
#endif

namespace {

// RunWorker parses `worker --artifact PATH --entry-point NAME` and serves
// frames on fd 3.
int RunWorker(int argc, char** argv) {
  std::string artifact, entry_point;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--artifact") == 0) artifact = argv[i + 1];
    if (std::strcmp(argv[i], "--entry-point") == 0) entry_point = argv[i + 1];
  }
  if (artifact.empty() || entry_point.empty()) return 2;
  return sluice::RunWorkerProcess(3, artifact, entry_point);
}

}  // namespace

int main(int argc, char** argv) {
  sluice::ApplyProcessSettings();
  if (argc > 1 && std::strcmp(argv[1], "worker") == 0) return RunWorker(argc, argv);
  sluice::cli::Console console = sluice::cli::StandardConsole();
  return sluice::cli::RunCli(argc, argv, console, &sluice::RunServer);
}
