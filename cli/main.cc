// The `sluice` executable. `sluice worker ...` is the worker process that the
// server starts for isolated native functions; it is not a user command.
#include <cstring>
#include <string>

#include "cli/app.h"
#include "gateway/server.h"
#include "runtime/native_worker.h"

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
  if (argc > 1 && std::strcmp(argv[1], "worker") == 0) return RunWorker(argc, argv);
  sluice::cli::Console console = sluice::cli::StandardConsole();
  return sluice::cli::RunCli(argc, argv, console, &sluice::RunServer);
}
