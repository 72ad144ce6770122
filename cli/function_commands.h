// `sluice ls`, `sluice describe` and `sluice rm`: reading and removing
// deployed functions through the Functions API.
#pragma once

#include <cstdint>
#include <string>

#include "cli/client.h"
#include "cli/console.h"

namespace sluice::cli {

// RunListFunctions prints the latest version of every function as a table
// (JSON: the ListFunctionsResponse). Returns the exit code.
int RunListFunctions(const ClientConfig& config, Console& console);

// RunDescribeFunction prints one version of `name` (0: the latest).
int RunDescribeFunction(const std::string& name, uint64_t version, const ClientConfig& config,
                        Console& console);

// RunRemoveFunction deletes `name` with all its versions and prints
// "deleted NAME (N versions)".
int RunRemoveFunction(const std::string& name, const ClientConfig& config, Console& console);

}  // namespace sluice::cli
