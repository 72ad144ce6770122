// ServeConfig: `sluice serve --config FILE`, the server's settings in a YAML
// file (for example a Kubernetes ConfigMap), read as if they were flags.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::cli {

// ExpandServeConfig returns `args` (argv, the program name first) with the
// settings of the file named by `serve`'s --config flag put in as flags
// right after "serve", and the --config flag itself taken out. The file is a
// YAML mapping from a flag's long name without dashes to a value, or a
// list of values for a repeatable flag:
//
//   listen: 0.0.0.0:50051
//   shutdown-grace: 45s
//   manifest: [/etc/sluice/functions.yaml]
//   callback-allow: ["*.svc.cluster.local:*"]
//
// A flag given on the command line wins over the file's setting of it.
// `args` without `serve --config` are returned unchanged. INVALID_ARGUMENT
// naming the file for an unreadable file, YAML that is not such a mapping,
// or a key that is not a flag name (`[a-z][a-z0-9-]*`); unknown flags are
// then refused by the parser like unknown flags on the command line.
absl::StatusOr<std::vector<std::string>> ExpandServeConfig(std::vector<std::string> args);

}  // namespace sluice::cli
