// Runs `sluice` in-process for tests, capturing its streams.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"

namespace sluice::cli {

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

// RunSluice runs `sluice args...` with `stdin_text` on stdin (a terminal
// when `stdin_is_tty`). `serve` stands in for RunServer.
inline CliResult RunSluice(const std::vector<std::string>& args, const std::string& stdin_text = "",
                           bool stdin_is_tty = true, const ServeFunction& serve = nullptr) {
  std::vector<const char*> argv = {"sluice"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::istringstream in(stdin_text);
  std::ostringstream out;
  std::ostringstream err;
  Console console{in, out, err, stdin_is_tty};
  const ServeFunction fail_serve = [](const ServerOptions&) {
    return absl::InternalError("serve is not available in this test");
  };
  const int code =
      RunCli(static_cast<int>(argv.size()), argv.data(), console, serve ? serve : fail_serve);
  return {code, out.str(), err.str()};
}

}  // namespace sluice::cli
