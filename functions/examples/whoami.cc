// whoami: answers what the host told it about the attempt, one "key: value"
// line each: invocation, function, version, attempt, traceparent and
// tracestate. Handy to see the trace context a function gets (spans it makes
// belong under its traceparent).
#include <string>

#include <sluice/function.hpp>

namespace {
sluice::Result WhoAmI(sluice::Context& ctx, std::string_view) {
  std::string out;
  out += "invocation: " + std::string(ctx.invocation_id()) + "\n";
  out += "function: " + std::string(ctx.function_name()) + "\n";
  out += "version: " + std::to_string(ctx.function_version()) + "\n";
  out += "attempt: " + std::to_string(ctx.attempt()) + "\n";
  out += "traceparent: " + std::string(ctx.traceparent()) + "\n";
  out += "tracestate: " + std::string(ctx.tracestate()) + "\n";
  return sluice::Result::Ok(out);
}
}  // namespace

SLUICE_FUNCTION(WhoAmI)
