#include "gateway/server.h"

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gateway/functions_service.h"
#include "gateway/invocations_service.h"
#include "gateway/work_pool.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "monitoring/invocation_probe.h"
#include "monitoring/metrics_server.h"
#include "runtime/artifact_store.h"
#include "runtime/dispatcher.h"
#include "runtime/function_registry.h"
#include "runtime/group_committer.h"
#include "runtime/invocation_service.h"
#include "runtime/manifest.h"
#include "runtime/rocksdb_store.h"
#include "runtime/timer_queue.h"
#include "runtime/watch_hub.h"

namespace sluice {
namespace {

constexpr size_t kMaxDeployChunk = 1024 * 1024;
constexpr absl::Duration kShutdownGrace = absl::Seconds(10);

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

absl::Status DeployManifests(const std::vector<std::string>& manifests,
                             FunctionRegistry& registry) {
  for (const std::string& path : manifests) {
    absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(path);
    if (!entries.ok()) return entries.status();
    for (ManifestEntry& entry : *entries) {
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
      std::cerr << "sluice: function " << name << " version " << f->version() << " ready\n";
    }
  }
  return absl::OkStatus();
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

absl::Status RunServer(const ServerOptions& options) {
  // Every thread started from here on inherits the blocked signals, so only
  // sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Clock* clock = Clock::Real();
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options.data_dir + "/db");
  if (!store.ok()) return store.status();
  absl::StatusOr<std::unique_ptr<ArtifactStore>> artifacts =
      ArtifactStore::Open(options.data_dir + "/artifacts");
  if (!artifacts.ok()) return artifacts.status();
  absl::StatusOr<std::unique_ptr<FunctionRegistry>> registry =
      FunctionRegistry::Open(store->get(), artifacts->get(), clock);
  if (!registry.ok()) return registry.status();
  if (absl::Status s = DeployManifests(options.manifests, **registry); !s.ok()) return s;

  auto metrics = std::make_shared<prometheus::Registry>();
  InvocationProbe probe(*metrics);
  GroupCommitter committer(store->get());
  WatchHub watchers;
  TimerQueue timers;
  Dispatcher dispatcher(options.executor_threads, &probe, clock);
  InvocationService invocations({.max_payload_bytes = options.max_payload_bytes}, store->get(),
                                &committer, registry->get(), &dispatcher, &watchers, &timers,
                                &probe, clock);
  if (absl::Status s = invocations.Recover(); !s.ok()) return s;

  WorkPool pool(8, 10000);
  FunctionsService functions_service(registry->get(), &pool, options.max_artifact_bytes);
  InvocationsService invocations_service(&invocations, &watchers, &pool);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &grpc_port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::max(options.max_payload_bytes, kMaxDeployChunk) + 1024 * 1024));
  builder.RegisterService(&functions_service);
  builder.RegisterService(&invocations_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  absl::StatusOr<std::unique_ptr<MetricsServer>> metrics_server =
      MetricsServer::Start(options.metrics_listen, metrics);
  if (!metrics_server.ok()) {
    server->Shutdown();
    return metrics_server.status();
  }
  std::cerr << "sluice: serving gRPC on port " << grpc_port << ", metrics on port "
            << (*metrics_server)->port() << " (/metrics), data in " << options.data_dir << "\n";
  if (!options.ready_file.empty()) {
    if (absl::Status s = WriteReadyFile(options.ready_file, grpc_port, (*metrics_server)->port());
        !s.ok()) {
      server->Shutdown();
      return s;
    }
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "sluice: received signal " << signal_number << ", shutting down\n";
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
  invocations.Shutdown();
  return absl::OkStatus();
}

}  // namespace sluice
