// The `sluice` executable.
#include "cli/app.h"
#include "gateway/server.h"

int main(int argc, char** argv) {
  sluice::cli::Console console = sluice::cli::StandardConsole();
  return sluice::cli::RunCli(argc, argv, console, &sluice::RunServer);
}
