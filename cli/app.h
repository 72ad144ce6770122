// The `sluice` command line: parses arguments with CLI11 and runs one
// subcommand. See exit_codes.h for what the exit code means.
#pragma once

#include "cli/console.h"
#include "cli/serve_command.h"

namespace sluice::cli {

// RunCli runs `sluice` with `argv` (argv[0] is the program name) against
// `console`; `serve` runs the server for `sluice serve`. Usage errors and
// --help are written to console.err / console.out. Returns the exit code.
int RunCli(int argc, const char* const argv[], Console& console, const ServeFunction& serve);

}  // namespace sluice::cli
