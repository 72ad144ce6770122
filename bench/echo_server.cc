// echo_server: the bare gRPC baseline as a process of its own, so that the
// benchmark script can run it and `sluice serve` alike. Built from the same
// libraries with the gateway's server settings (ApplyServerSettings); serves
// BareInvocations (bench/bare_invocations.h).
//
//   echo_server [--listen HOST:PORT] [--ready-file PATH]
//
// Port 0 picks a free port. With --ready-file, writes {"grpc_port": P} there
// once serving (to a temporary name, then renamed). Serves until SIGINT or
// SIGTERM.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/bare_invocations.h"
#include "bench/bench_util.h"
#include "gateway/server_settings.h"
#include "grpcpp/grpcpp.h"

int main(int argc, char** argv) {
  sluice::ApplyProcessSettings();
  std::string listen = "127.0.0.1:0";
  std::string ready_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen") {
      listen = argv[i + 1];
    } else if (flag == "--ready-file") {
      ready_file = argv[i + 1];
    } else {
      sluice::bench::Die("unknown flag " + flag);
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  sluice::bench::BareInvocations service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  sluice::ApplyServerSettings(builder, 6 * 1024 * 1024);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) sluice::bench::Die("cannot listen on " + listen);
  std::fprintf(stderr, "echo_server: serving gRPC on port %d\n", port);
  if (!ready_file.empty()) {
    const std::string temp = ready_file + ".tmp";
    std::ofstream(temp) << "{\"grpc_port\": " << port << "}\n";
    if (std::rename(temp.c_str(), ready_file.c_str()) != 0) {
      sluice::bench::Die("cannot write " + ready_file);
    }
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
