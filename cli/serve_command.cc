// `sluice serve`: hands the flags to the server and reports how it ended.
#include "cli/serve_command.h"

#include "cli/client.h"
#include "cli/exit_codes.h"

namespace sluice::cli {

int RunServe(const ServerOptions& options, const ServeFunction& serve, Console& console) {
  const absl::Status status = serve(options);
  if (!status.ok()) return ReportError(status.message(), kExitFailed, console);
  return kExitOk;
}

}  // namespace sluice::cli
