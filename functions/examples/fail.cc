// fail: always fails with error type "AlwaysFails"; the message names the
// attempt, so retries can be told apart.
#include <string>

#include <sluice/function.hpp>

namespace {
sluice::Result Fail(sluice::Context& ctx, std::string_view) {
  return sluice::Result::Error("AlwaysFails",
                               "attempt " + std::to_string(ctx.attempt()) + " failed on purpose");
}
}  // namespace

SLUICE_FUNCTION(Fail)
