// RouteTable: which function serves a gRPC method that Sluice itself does
// not implement (a "route"), e.g. "/shop.v1.Orders/Create".
#pragma once

#include <string>
#include "absl/strings/string_view.h"

namespace sluice {

// RouteTable is thread-safe; implementations answer from memory and never
// block on I/O.
class RouteTable {
 public:
  virtual ~RouteTable() = default;

  // FunctionFor returns the function bound to the full method name `method`
  // ("/package.Service/Method"), or "" when no route names it.
  virtual std::string FunctionFor(absl::string_view method) const = 0;
};

}  // namespace sluice
