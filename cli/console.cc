// The process's standard streams as a Console.
#include "cli/console.h"

#include <unistd.h>

#include <iostream>

namespace sluice::cli {

Console StandardConsole() {
  return Console{std::cin, std::cout, std::cerr, isatty(STDIN_FILENO) == 1};
}

}  // namespace sluice::cli
