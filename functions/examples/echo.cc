// echo: returns its input unchanged.
#include <sluice/function.hpp>

namespace {
sluice::Result Echo(sluice::Context&, std::string_view input) {
  return sluice::Result::Ok(std::string(input));
}
}  // namespace

SLUICE_FUNCTION(Echo)
