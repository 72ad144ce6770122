// Console: the standard streams a command reads and writes, injected so that
// commands can be run in tests.
#pragma once

#include <istream>
#include <ostream>

namespace sluice::cli {

// Console refers to streams owned by the caller, which outlive the command.
// Not thread-safe.
struct Console {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  // Whether `in` is an interactive terminal; a command then never reads a
  // payload from it unless asked to.
  bool stdin_is_tty;
};

// StandardConsole returns std::cin, std::cout and std::cerr.
Console StandardConsole();

}  // namespace sluice::cli
