// TriggerRegistry: the triggers that start invocations — event triggers,
// gRPC method routes and schedules — validated, stored and looked up.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/clock.h"
#include "runtime/function_registry.h"
#include "runtime/route_table.h"
#include "runtime/store.h"
#include "sluice/v1/events.pb.h"

namespace sluice {

// ValidateRouteMethod: INVALID_ARGUMENT unless `method` is a full gRPC
// method name "/package.Service/Method" (identifiers of letters, digits and
// '_', the package part optional) outside Sluice's own services: no
// "/sluice." or "/grpc." method can be routed.
absl::Status ValidateRouteMethod(absl::string_view method);

// TriggerRegistry is thread-safe. Triggers live in the store (Table::
// kTriggers) and in memory; every change is durable before it returns.
// `store`, `functions` and `clock` are not owned and must outlive it.
class TriggerRegistry final : public RouteTable {
 public:
  TriggerRegistry(Store* store, FunctionRegistry* functions, Clock* clock);

  // Load reads every stored trigger. Call once, before serving.
  absl::Status Load();

  // Create validates `trigger` and stores it: INVALID_ARGUMENT naming the
  // field (bad name, no source, a bad filter, cron expression or time zone,
  // a malformed or reserved route), NOT_FOUND when its function is not
  // deployed, ALREADY_EXISTS when the name is taken (unless `replace`) or
  // another trigger routes the same method. Returns the stored trigger.
  // Blocks on the store.
  absl::StatusOr<v1::Trigger> Create(v1::Trigger trigger, bool replace);
  // Get returns the trigger `name`, or NOT_FOUND.
  absl::StatusOr<v1::Trigger> Get(const std::string& name) const;
  // List returns every trigger, by name.
  std::vector<v1::Trigger> List() const;
  // Delete removes the trigger `name` (and its schedule's state), or
  // NOT_FOUND. Blocks on the store.
  absl::Status Delete(const std::string& name);

  // MatchEvent returns the event triggers that select `event` published to
  // `topic` (see Matches in runtime/events.h), by name.
  std::vector<std::shared_ptr<const v1::Trigger>> MatchEvent(absl::string_view topic,
                                                             const v1::CloudEvent& event) const;
  // Schedules returns the schedule triggers, by name.
  std::vector<std::shared_ptr<const v1::Trigger>> Schedules() const;

  // RouteTable.
  std::string FunctionFor(absl::string_view method) const override;

  // SetListener makes `listener` be called, on the changing thread and with
  // no lock held, with the name of every trigger created, replaced or
  // deleted after this call. Call before serving.
  void SetListener(std::function<void(const std::string& name)> listener);

 private:
  absl::Status Validate(v1::Trigger& trigger) const;

  // Constant after construction.
  Store* const store_;
  FunctionRegistry* const functions_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  // Ordered by name (a std::map keeps List and MatchEvent sorted).
  std::map<std::string, std::shared_ptr<const v1::Trigger>> triggers_ ABSL_GUARDED_BY(mu_);
  // Routed method -> function.
  absl::flat_hash_map<std::string, std::string> routes_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> listener_;  // set before serving
  // Serializes Create and Delete, so that a check and its commit are one
  // step. Ordered before mu_.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace sluice
