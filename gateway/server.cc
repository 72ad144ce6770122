#include "gateway/server.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gateway/events_service.h"
#include "gateway/functions_service.h"
#include "gateway/invocations_service.h"
#include "gateway/logs_service.h"
#include "gateway/route_service.h"
#include "gateway/server_settings.h"
#include "gateway/work_pool.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "monitoring/callback_probe.h"
#include "monitoring/grpc_server_probe.h"
#include "monitoring/invocation_probe.h"
#include "monitoring/log.h"
#include "monitoring/metrics_server.h"
#include "monitoring/otel_config.h"
#include "monitoring/otlp_exporter.h"
#include "monitoring/process_collector.h"
#include "monitoring/store_probe.h"
#include "monitoring/trace_probe.h"
#include "monitoring/tracer.h"
#include "monitoring/worker_probe.h"
#include "runtime/artifact_store.h"
#include "runtime/callback_deliverer.h"
#include "runtime/dispatcher.h"
#include "runtime/event_publisher.h"
#include "runtime/executor_factory.h"
#include "runtime/function_logs.h"
#include "runtime/function_registry.h"
#include "runtime/group_committer.h"
#include "runtime/invocation_service.h"
#include "runtime/manifest.h"
#include "runtime/pool_events.h"
#include "runtime/retention.h"
#include "runtime/rocksdb_store.h"
#include "runtime/scheduler.h"
#include "runtime/subprocess.h"
#include "runtime/timer_queue.h"
#include "runtime/triggers.h"
#include "runtime/watch_hub.h"

namespace sluice {
namespace {

// After the drain only quick unary calls and open streams (Watch) remain:
// they get this long, then are cancelled.
constexpr absl::Duration kShutdownGrace = absl::Seconds(1);
// At shutdown, the spans still queued get this long to reach the collector.
constexpr absl::Duration kSpanFlushGrace = absl::Seconds(2);
constexpr absl::Duration kMaintenanceInterval = absl::Seconds(1);
// Finished invocations deleted per maintenance round, at most.
constexpr size_t kRetentionDeletesPerRound = 10000;
// Exit status of a shutdown forced before the running attempts finished.
constexpr int kForcedExitCode = 3;

// SelfExecutable is the path of the running `sluice` binary, which worker
// processes run in worker mode.
std::string SelfExecutable() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, n) : std::string("sluice");
}

// CgroupRoot resolves ServerOptions::cgroup_root: with "auto", this
// process's cgroup when the unified (v2) hierarchy is mounted with the
// memory controller; workers then get cgroups below it where writable.
std::string CgroupRoot(const std::string& option) {
  if (option != "auto") return option;
  std::ifstream controllers("/sys/fs/cgroup/cgroup.controllers");
  std::string available((std::istreambuf_iterator<char>(controllers)),
                        std::istreambuf_iterator<char>());
  if (available.find("memory") == std::string::npos) return "";
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
  }
  return "";
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ManifestTrigger is a trigger of a manifest, with the manifest's path.
struct ManifestTrigger {
  std::string path;
  v1::Trigger trigger;
};

// DeployManifests deploys the functions of `manifests` (unchanged ones keep
// their version) and returns their triggers, for CreateTriggers.
absl::StatusOr<std::vector<ManifestTrigger>> DeployManifests(
    const std::vector<std::string>& manifests, FunctionRegistry& registry) {
  std::vector<ManifestTrigger> triggers;
  for (const std::string& path : manifests) {
    absl::StatusOr<Manifest> manifest = LoadManifestFile(path);
    if (!manifest.ok()) return manifest.status();
    for (v1::Trigger& trigger : manifest->triggers) {
      triggers.push_back({path, std::move(trigger)});
    }
    for (ManifestEntry& entry : manifest->functions) {
      absl::StatusOr<std::string> artifact = ReadFile(entry.artifact_path);
      if (!artifact.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": function \"", entry.spec.name(),
                                                       "\": ", artifact.status().message()));
      }
      const std::string name = entry.spec.name();
      absl::StatusOr<v1::Function> f =
          registry.Deploy(std::move(entry.spec), *artifact, "", /*skip_unchanged=*/true);
      if (!f.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": function \"", name, "\": ", f.status().message()));
      }
      LogInfo("registry", absl::StrCat("function ", name, " version ", f->version(), " ready"),
              {{"function", name}, {"version", f->version()}, {"manifest", path}});
    }
  }
  return triggers;
}

// CreateTriggers creates or replaces the triggers of the manifests.
absl::Status CreateTriggers(std::vector<ManifestTrigger> triggers, TriggerRegistry& registry) {
  for (ManifestTrigger& entry : triggers) {
    const std::string name = entry.trigger.name();
    if (absl::StatusOr<v1::Trigger> created =
            registry.Create(std::move(entry.trigger), /*replace=*/true);
        !created.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(entry.path, ": trigger \"", name, "\": ", created.status().message()));
    }
    LogInfo("triggers", absl::StrCat("trigger ", name, " ready"),
            {{"trigger", name}, {"manifest", entry.path}});
  }
  return absl::OkStatus();
}

// DrainUntilDone drains `invocations` until its running attempts finish
// (true), or until `deadline` or another of `signals` arrives (false).
bool DrainUntilDone(InvocationService& invocations, absl::Time deadline, const sigset_t& signals) {
  absl::Notification drained;
  std::atomic<bool> idle{false};
  std::thread drainer([&] {
    idle = invocations.Drain(deadline);
    drained.Notify();
  });
  bool interrupted = false;
  while (!drained.HasBeenNotified()) {
    const timespec wait = {0, 100 * 1000 * 1000};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) {
      interrupted = true;
      break;
    }
  }
  if (interrupted) {
    drainer.detach();  // the process exits now
    return false;
  }
  drainer.join();
  return idle;
}

absl::Status WriteReadyFile(const std::string& path, int grpc_port, int metrics_port) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << "{\"grpc_port\": " << grpc_port << ", \"metrics_port\": " << metrics_port << "}\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", temp));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunServer(const ServerOptions& given) {
  ConfigureLogging(given.log_format, given.log_level);
  RouteGrpcLogsToDefaultLogger();
  // Worker processes start in directories of their own, so every path the
  // server hands them must be absolute.
  ServerOptions options = given;
  std::error_code error;
  options.data_dir = std::filesystem::absolute(given.data_dir, error).lexically_normal().string();
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data-dir ", given.data_dir, ": ", error.message()));
  }
  // Every thread started from here on inherits the blocked signals, so only
  // sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Clock* clock = Clock::Real();
  // Declared before everything that runs functions: worker processes log
  // into them and report to them until they stop.
  auto metrics = std::make_shared<prometheus::Registry>();
  InvocationProbe probe(*metrics);
  WorkerProbe worker_probe(*metrics);
  PoolEventsByFunction pool_events(&worker_probe);
  FunctionLogs logs(&DefaultLogger(), options.log_lines);
  // Spans go to the OTLP collector named by the OTEL_* environment, if any;
  // the exporter outlives everything that records spans.
  absl::StatusOr<OtelConfig> otel = OtelConfigFromEnv();
  if (!otel.ok()) return otel.status();
  TraceProbe trace_probe(*metrics);
  std::unique_ptr<OtlpExporter> exporter;
  if (!otel->endpoint.empty()) {
    absl::StatusOr<std::unique_ptr<OtlpExporter>> created =
        OtlpExporter::Create(OtlpExporter::OptionsFrom(*otel, &trace_probe));
    if (!created.ok()) return created.status();
    exporter = *std::move(created);
    LogInfo("tracing", absl::StrCat("exporting spans over OTLP/gRPC to ", otel->endpoint),
            {{"endpoint", otel->endpoint}, {"service_name", otel->service_name}});
  }
  const Tracer tracer(otel->sampler, exporter.get());
  const std::string cgroup_root = CgroupRoot(options.cgroup_root);
  if (cgroup_root.empty()) {
    LogInfo("executor", "worker memory limits: RLIMIT_AS", {{"memory_limit", "rlimit_as"}});
  } else {
    LogInfo("executor",
            absl::StrCat("worker memory limits: cgroup v2 below ", cgroup_root,
                         " where writable, else RLIMIT_AS"),
            {{"memory_limit", "cgroup_v2"}, {"cgroup_root", cgroup_root}});
  }
  std::unique_ptr<ExecutorFactory> executors = NewRuntimeExecutorFactory({
      .worker_binary = SelfExecutable(),
      .functions_dir = options.data_dir + "/functions",
      .cgroup_root = cgroup_root,
      .max_payload_bytes = options.max_payload_bytes,
      .logs = &logs,
      .pool_events = [&pool_events](const std::string& f) { return pool_events.For(f); },
  });

  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options.data_dir + "/db");
  if (!store.ok()) return store.status();
  absl::StatusOr<std::unique_ptr<ArtifactStore>> artifacts =
      ArtifactStore::Open(options.data_dir + "/artifacts");
  if (!artifacts.ok()) return artifacts.status();
  absl::StatusOr<std::unique_ptr<FunctionRegistry>> registry =
      FunctionRegistry::Open(store->get(), artifacts->get(), executors.get(), clock);
  if (!registry.ok()) return registry.status();
  absl::StatusOr<CallbackAllowlist> callback_allowlist =
      CallbackAllowlist::Create(options.callback_allow);
  if (!callback_allowlist.ok()) return callback_allowlist.status();
  (*registry)->SetCallbackAllowlist(*callback_allowlist);
  absl::StatusOr<std::vector<ManifestTrigger>> manifest_triggers =
      DeployManifests(options.manifests, **registry);
  if (!manifest_triggers.ok()) return manifest_triggers.status();

  StoreProbe store_probe(*metrics);
  GroupCommitter committer(store->get(), &store_probe, GroupCommitter::kServingCommitDelay,
                           GroupCommitter::kServingDelayCommits);
  RetentionCollector retention(store->get(), &committer, clock, options.retention, &store_probe);
  WatchHub watchers;
  TimerQueue timers;
  Dispatcher dispatcher(DispatcherOptions{.threads = options.executor_threads,
                                          .max_queued_total = options.max_queued_total},
                        &probe, clock);
  InvocationService invocations({.max_payload_bytes = options.max_payload_bytes, .tracer = &tracer},
                                store->get(), &committer, registry->get(), &dispatcher, &watchers,
                                &timers, &probe, clock);
  if (absl::Status s = invocations.Recover(); !s.ok()) return s;
  TriggerRegistry triggers(store->get(), registry->get(), clock);
  if (absl::Status s = triggers.Load(); !s.ok()) return s;
  if (absl::Status s = CreateTriggers(*std::move(manifest_triggers), triggers); !s.ok()) return s;
  EventPublisher publisher(
      {.dedupe_window = options.event_dedupe_window, .max_event_bytes = options.max_payload_bytes},
      store->get(), &triggers, &invocations, clock);
  Scheduler scheduler(store->get(), &triggers, &invocations, clock);
  triggers.SetListener([&scheduler](const std::string& name) { scheduler.Update(name); });
  if (absl::Status s = scheduler.Start(); !s.ok()) return s;
  CallbackProbe callback_probe(*metrics);
  CallbackDeliverer deliverer({.allowlist = *std::move(callback_allowlist)}, store->get(),
                              &publisher, &callback_probe);
  invocations.SetCallbackOutbox(&deliverer);
  // Detached before the deliverer goes.
  struct DetachOutbox {
    InvocationService& invocations;
    ~DetachOutbox() { invocations.SetCallbackOutbox(nullptr); }
  } detach_outbox{invocations};
  if (absl::Status s = deliverer.Start(); !s.ok()) return s;

  // Keeps warm pools warm, stops idle workers, and deletes finished
  // invocations past their retention.
  absl::Notification stop_maintenance;
  std::thread maintenance([&] {
    do {
      (*registry)->Maintain(clock->Now());
      scheduler.FireDue();
      if (absl::StatusOr<size_t> swept = publisher.Sweep(); !swept.ok()) {
        LogError("events", "cannot delete expired event keys",
                 {{"error", swept.status().message()}});
      }
      for (const auto& [function, age] : dispatcher.OldestWaits()) {
        probe.SetOldestPendingAge(function, age);
      }
      if (absl::StatusOr<size_t> deleted = retention.CollectOnce(kRetentionDeletesPerRound);
          !deleted.ok()) {
        LogError("retention", "cannot delete finished invocations past their retention",
                 {{"error", deleted.status().message()}});
      }
    } while (!stop_maintenance.WaitForNotificationWithTimeout(kMaintenanceInterval));
  });
  struct JoinOnExit {
    absl::Notification& stop;
    std::thread& thread;
    ~JoinOnExit() {
      if (!stop.HasBeenNotified()) stop.Notify();
      thread.join();
    }
  } join_maintenance{stop_maintenance, maintenance};

  WorkPool pool(8, 10000);
  FunctionsService functions_service(registry->get(), &pool, options.max_artifact_bytes, &triggers);
  InvocationsService invocations_service(&invocations, &watchers, &pool, &tracer);
  EventsService events_service(&publisher, &triggers, &pool, &tracer, &scheduler);
  RouteService route_service(&invocations, &triggers, &pool, &tracer);
  LogsService logs_service(
      &logs, [&registry](const std::string& name) { return (*registry)->Get(name, 0).ok(); });

  // Declared before the server, which it must outlive.
  GrpcServerProbe grpc_probe(*metrics);
  grpc::ServerBuilder builder;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(grpc_probe.NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  int grpc_port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &grpc_port);
  ApplyServerSettings(builder, options.max_payload_bytes);
  builder.RegisterService(&functions_service);
  builder.RegisterService(&invocations_service);
  builder.RegisterService(&logs_service);
  builder.RegisterService(&events_service);
  // Methods no service above implements go to the routes.
  builder.RegisterCallbackGenericService(&route_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  absl::StatusOr<std::unique_ptr<MetricsServer>> metrics_server =
      MetricsServer::Start(options.metrics_listen, {metrics, std::make_shared<ProcessCollector>()});
  if (!metrics_server.ok()) {
    server->Shutdown();
    return metrics_server.status();
  }
  LogInfo("gateway",
          absl::StrCat("serving gRPC on port ", grpc_port, ", metrics on port ",
                       (*metrics_server)->port(), " (/metrics), data in ", options.data_dir),
          {{"grpc_port", grpc_port},
           {"metrics_port", (*metrics_server)->port()},
           {"data_dir", options.data_dir}});
  if (!options.ready_file.empty()) {
    if (absl::Status s = WriteReadyFile(options.ready_file, grpc_port, (*metrics_server)->port());
        !s.ok()) {
      server->Shutdown();
      return s;
    }
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const absl::Time deadline = absl::Now() + options.shutdown_grace;
  LogInfo(
      "shutdown",
      absl::StrCat("received signal ", signal_number, ", draining: running attempts have until ",
                   absl::FormatDuration(options.shutdown_grace),
                   " from now (send it again to exit at once)"),
      {{"signal", signal_number}, {"grace", absl::FormatDuration(options.shutdown_grace)}});
  server->GetHealthCheckService()->SetServingStatus(false);
  if (!DrainUntilDone(invocations, deadline, signals)) {
    LogWarning("shutdown",
               "exiting before the running attempts finished; they run again after a restart",
               {{"exit_code", kForcedExitCode}});
    KillAllSubprocesses();
    // Destructors would wait for the running attempts; what is acknowledged
    // is durable already (and every log line is flushed as it is written).
    std::_Exit(kForcedExitCode);
  }
  LogInfo("shutdown", "drained, shutting down");
  logs_service.Shutdown();
  server->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
  invocations.Shutdown();
  if (exporter != nullptr) exporter->Shutdown(absl::Now() + kSpanFlushGrace);
  return absl::OkStatus();
}

}  // namespace sluice
