// Tests of the `sluice` argument grammar: help, usage errors, and how
// `serve` flags reach ServerOptions.
#include "cli/app.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_runner.h"

namespace sluice::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

TEST(AppTest, HelpListsSubcommandsAndExitCodes) {
  const CliResult result = RunSluice({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, AllOf(HasSubstr("serve"), HasSubstr("deploy"), HasSubstr("invoke"),
                                HasSubstr("invocations"), HasSubstr("--server"),
                                HasSubstr("Exit codes:"), HasSubstr("SLUICE_SERVER")));
  EXPECT_THAT(result.err, IsEmpty());
}

TEST(AppTest, InvokeHelpListsItsFlags) {
  const CliResult result = RunSluice({"invoke", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out,
              AllOf(HasSubstr("--data"), HasSubstr("--async"), HasSubstr("--meta"),
                    HasSubstr("--timeout"), HasSubstr("--version"), HasSubstr("--priority"),
                    HasSubstr("--idempotency-key"), HasSubstr("--max-attempts")));
}

TEST(AppTest, RedriveHelpListsItsFilters) {
  const CliResult result = RunSluice({"redrive", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, AllOf(HasSubstr("--function"), HasSubstr("--error-type"),
                                HasSubstr("--created-after"), HasSubstr("--created-before"),
                                HasSubstr("RFC 3339"), HasSubstr("--limit")));
}

TEST(AppTest, DeployHelpListsItsFlags) {
  const CliResult result = RunSluice({"deploy", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(
      result.out,
      AllOf(HasSubstr("--artifact"), HasSubstr("native, lambda or exec"), HasSubstr("--handler"),
            HasSubstr("--isolation"), HasSubstr("none"), HasSubstr("--memory-mb"),
            HasSubstr("--min-warm"), HasSubstr("--idle-timeout"), HasSubstr("--max-open-files"),
            HasSubstr("--max-attempts"), HasSubstr("--initial-backoff"), HasSubstr("--max-backoff"),
            HasSubstr("--backoff-multiplier"), HasSubstr("--retry-on"), HasSubstr("lease-lost"),
            HasSubstr("--max-event-age"), HasSubstr("--on-success"), HasSubstr("--on-failure")));
}

TEST(AppTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"invoke"},
           {"invoke", "echo", "--bogus"},
           {"-o", "yaml", "ls"},
           {"invocations", "--state", "done"},
           {"invocations", "--limit", "0"},
           {"deploy", "-f", "sluice.yaml", "--artifact", "a.so"},
           {"deploy", "-f", "sluice.yaml", "--handler", "main.handle"},
           {"deploy", "-f", "sluice.yaml", "--min-warm", "1"},
           {"deploy", "echo", "--artifact", "a.so", "--memory-mb", "0"},
           {"deploy", "echo", "--artifact", "a.so", "--memory-mb", "lots"},
           {"deploy", "echo", "--artifact", "a.so", "--memory-mb", "4294967296"},
           {"deploy", "echo", "--artifact", "a.so", "--min-warm", "-1"},
           {"deploy", "echo", "--artifact", "a.so", "--max-open-files", "0"},
           {"serve", "--executor-threads", "0"},
           {"serve", "--max-queued", "0"},
           {"serve", "--shutdown-grace", "soon"},
           {"serve", "--shutdown-grace", "-1s"},
           {"serve", "--retention", "0s"},
           {"serve", "--retention", "3d"},
           {"deploy", "-f", "sluice.yaml", "--max-attempts", "3"},
           {"deploy", "-f", "sluice.yaml", "--on-failure", "alert"},
           {"deploy", "echo", "--artifact", "a.so", "--max-attempts", "0"},
           {"deploy", "echo", "--artifact", "a.so", "--backoff-multiplier", "0"},
           {"deploy", "echo", "--artifact", "a.so", "--backoff-multiplier", "twice"},
           {"deploy", "echo", "--artifact", "a.so", "--retry-on", "oom"},
           {"invoke", "echo", "--priority", "urgent"},
           {"invoke", "echo", "--idempotency-key", "k"},
           {"invoke", "echo", "--async", "--max-attempts", "0"},
           {"redrive"},
           {"redrive", "--limit", "0", "--function", "echo"},
       }) {
    const CliResult result = RunSluice(args);
    EXPECT_EQ(result.exit_code, 2) << ::testing::PrintToString(args);
    EXPECT_THAT(result.err, StartsWith("error: ")) << ::testing::PrintToString(args);
  }
}

TEST(AppTest, BadLocalInputExitsTwoBeforeCallingTheServer) {
  // No server listens on this address; a call would fail with exit code 4.
  const std::string server = "--server=127.0.0.1:1";
  CliResult result = RunSluice({server, "invoke", "echo", "--meta", "novalue"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--meta"));

  result = RunSluice({server, "invoke", "echo", "--data", "@/nonexistent/payload"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("/nonexistent/payload"));

  result = RunSluice({server, "invoke", "echo", "--timeout", "soon"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--timeout"));

  result = RunSluice({server, "deploy", "echo"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--artifact"));

  result = RunSluice({server, "deploy", "echo", "--artifact", "a.so", "--runtime", "python"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--runtime \"python\""));

  result = RunSluice({server, "deploy", "echo", "--artifact", "a.so", "--isolation", "vm"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--isolation \"vm\""));

  result = RunSluice({server, "deploy", "echo", "--artifact", "a.so", "--idle-timeout", "soon"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--idle-timeout"));
}

TEST(AppTest, ServeFillsServerOptionsFromFlags) {
  ServerOptions seen;
  const ServeFunction serve = [&](const ServerOptions& options) {
    seen = options;
    return absl::OkStatus();
  };
  const CliResult result = RunSluice({"serve",
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--metrics-listen",
                                      "127.0.0.1:9999",
                                      "--data-dir",
                                      "data",
                                      "--max-payload-bytes",
                                      "1024",
                                      "--max-artifact-bytes",
                                      "2048",
                                      "--executor-threads",
                                      "3",
                                      "--ready-file",
                                      "ready.json",
                                      "-f",
                                      "a.yaml",
                                      "--manifest",
                                      "b.yaml",
                                      "--max-queued",
                                      "500",
                                      "--shutdown-grace",
                                      "1m30s",
                                      "--retention",
                                      "24h"},
                                     "", true, serve);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(seen.listen, "127.0.0.1:0");
  EXPECT_EQ(seen.metrics_listen, "127.0.0.1:9999");
  EXPECT_EQ(seen.data_dir, "data");
  EXPECT_EQ(seen.max_payload_bytes, 1024u);
  EXPECT_EQ(seen.max_artifact_bytes, 2048u);
  EXPECT_EQ(seen.executor_threads, 3);
  EXPECT_EQ(seen.ready_file, "ready.json");
  EXPECT_EQ(seen.manifests, (std::vector<std::string>{"a.yaml", "b.yaml"}));
  EXPECT_EQ(seen.max_queued_total, 500u);
  EXPECT_EQ(seen.shutdown_grace, absl::Seconds(90));
  EXPECT_EQ(seen.retention, absl::Hours(24));
}

TEST(AppTest, ServeAcceptsAZeroShutdownGrace) {
  ServerOptions seen;
  const CliResult result =
      RunSluice({"serve", "--shutdown-grace", "0s"}, "", true, [&](const ServerOptions& options) {
        seen = options;
        return absl::OkStatus();
      });
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(seen.shutdown_grace, absl::ZeroDuration());
}

TEST(AppTest, BadServeDurationsNameTheFlagAndDoNotServe) {
  bool served = false;
  const ServeFunction serve = [&](const ServerOptions&) {
    served = true;
    return absl::OkStatus();
  };
  CliResult result = RunSluice({"serve", "--retention", "forever"}, "", true, serve);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--retention \"forever\" is not a duration"));
  result = RunSluice({"serve", "--shutdown-grace", "-5s"}, "", true, serve);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--shutdown-grace \"-5s\" is not a finite, non-negative"));
  EXPECT_FALSE(served);
}

TEST(AppTest, ServeKeepsDefaultsForFlagsNotGiven) {
  ServerOptions seen;
  seen.listen = "changed";
  const CliResult result = RunSluice({"serve"}, "", true, [&](const ServerOptions& options) {
    seen = options;
    return absl::OkStatus();
  });
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(seen.listen, ServerOptions().listen);
  EXPECT_EQ(seen.data_dir, ServerOptions().data_dir);
  EXPECT_THAT(seen.manifests, IsEmpty());
  EXPECT_EQ(seen.max_queued_total, ServerOptions().max_queued_total);
  EXPECT_EQ(seen.shutdown_grace, ServerOptions().shutdown_grace);
  EXPECT_EQ(seen.retention, ServerOptions().retention);
}

TEST(AppTest, ServeFailureExitsOneWithTheMessage) {
  const CliResult result = RunSluice({"serve"}, "", true, [](const ServerOptions&) {
    return absl::FailedPreconditionError("address 127.0.0.1:50051 is in use");
  });
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "error: address 127.0.0.1:50051 is in use\n");
}

}  // namespace
}  // namespace sluice::cli
