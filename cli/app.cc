// Command-line grammar of `sluice`: global options, subcommands and their
// flags, wired to the command implementations.
#include "cli/app.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "cli/client.h"
#include "cli/deploy_command.h"
#include "cli/event_commands.h"
#include "cli/exit_codes.h"
#include "cli/function_commands.h"
#include "cli/invocation_commands.h"
#include "cli/invoke_command.h"
#include "cli/logs_command.h"
#include "cli/serve_config.h"

namespace sluice::cli {
namespace {

std::string FailureMessage(const CLI::App* /*app*/, const CLI::Error& error) {
  return std::string("error: ") + error.what() + "\nRun with --help for more information.\n";
}

// OnePerFlag makes a repeatable option take one value per occurrence, so
// that `--meta a=1 NAME` leaves NAME to the positional argument.
CLI::Option* OnePerFlag(CLI::Option* option) { return option->allow_extra_args(false); }

}  // namespace

namespace {
// RunExpanded parses and runs a command line whose --config is expanded.
int RunExpanded(int argc, const char* const argv[], Console& console, const ServeFunction& serve);
}  // namespace

int RunCli(int argc, const char* const argv[], Console& console, const ServeFunction& serve) {
  absl::StatusOr<std::vector<std::string>> args =
      ExpandServeConfig(std::vector<std::string>(argv, argv + argc));
  if (!args.ok()) return ReportError(args.status().message(), kExitUsage, console);
  std::vector<const char*> expanded;
  for (const std::string& arg : *args) expanded.push_back(arg.c_str());
  return RunExpanded(static_cast<int>(expanded.size()), expanded.data(), console, serve);
}

namespace {

int RunExpanded(int argc, const char* const argv[], Console& console, const ServeFunction& serve) {
  CLI::App app("Sluice: deploy, invoke and follow serverless functions.", "sluice");
  app.footer(kExitCodesHelp);
  app.failure_message(FailureMessage);
  app.require_subcommand(1);
  // Global options may also follow the subcommand.
  app.fallthrough();

  ClientConfig config;
  std::string output = "text";
  app.add_option("--server", config.server, "Address of the sluice gRPC API (host:port)")
      ->envname(kServerEnv)
      ->capture_default_str();
  app.add_option("-o,--output", output, "Output format of client commands: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  // The chosen subcommand's callback stores what to run here.
  std::function<int()> run;

  // serve
  ServerOptions server_options;
  CLI::App* serve_command =
      app.add_subcommand("serve", "Run the gateway, queue and executors in this process");
  std::string config_file;  // read by ExpandServeConfig before parsing
  serve_command->add_option(
      "--config", config_file,
      "YAML file of settings by flag name (listen: ..., manifest: [...]); flags win");
  serve_command->add_option("--listen", server_options.listen, "gRPC listen address")
      ->capture_default_str();
  serve_command
      ->add_option("--metrics-listen", server_options.metrics_listen,
                   "Prometheus /metrics listen address")
      ->capture_default_str();
  serve_command->add_option("--data-dir", server_options.data_dir, "Store and artifact directory")
      ->capture_default_str();
  serve_command
      ->add_option("--max-payload-bytes", server_options.max_payload_bytes,
                   "Largest invocation payload accepted")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_command
      ->add_option("--max-artifact-bytes", server_options.max_artifact_bytes,
                   "Largest artifact accepted by deploy")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_command
      ->add_option("--executor-threads", server_options.executor_threads,
                   "Threads that run invocations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_command->add_option("--ready-file", server_options.ready_file,
                            "Write {\"grpc_port\": P, \"metrics_port\": M} here once serving");
  OnePerFlag(serve_command->add_option("-f,--manifest", server_options.manifests,
                                       "Deploy this sluice.yaml at start-up (repeatable)"));
  serve_command->add_option(
      "--cgroup-root", server_options.cgroup_root,
      "cgroup v2 directory for per-worker memory limits: auto, a path, or \"\" for rlimits only");
  serve_command
      ->add_option("--log-lines", server_options.log_lines,
                   "Lines of function output kept per function for `sluice logs`")
      ->check(CLI::PositiveNumber);
  serve_command
      ->add_option("--max-queued", server_options.max_queued_total,
                   "Invocations waiting in all queues together before new ones are refused")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  ServeDurationFlags serve_durations;
  serve_command->add_option(
      "--shutdown-grace", serve_durations.shutdown_grace,
      "On SIGTERM, how long running attempts may take to finish, e.g. 30s (default 30s)");
  serve_command->add_option(
      "--retention", serve_durations.retention,
      "How long finished background invocations and their idempotency keys are kept, "
      "e.g. 72h (default 72h)");
  serve_command->add_option(
      "--event-dedupe-window", serve_durations.event_dedupe_window,
      "A published event repeating the source and id of one this recent is dropped, "
      "e.g. 24h (default 24h)");
  OnePerFlag(serve_command->add_option(
      "--callback-allow", server_options.callback_allow,
      "Allow gRPC callback destinations to this HOST:PORT; HOST may be * or *.SUFFIX and "
      "PORT * (repeatable; default: none)"));
  ServeLogFlags serve_logs;
  serve_command->add_option("--log-format", serve_logs.format,
                            "Format of the server's log lines: json or text (default text)");
  serve_command->add_option(
      "--log-level", serve_logs.level,
      "Least severe server log lines written: debug, info, warn or error (default info)");
  serve_command->callback([&] {
    run = [&] {
      if (const absl::Status status = ApplyServeDurations(serve_durations, server_options);
          !status.ok()) {
        return ReportError(status.message(), kExitUsage, console);
      }
      if (const absl::Status status = ApplyServeLogFlags(serve_logs, server_options);
          !status.ok()) {
        return ReportError(status.message(), kExitUsage, console);
      }
      return RunServe(server_options, serve, console);
    };
  });

  // deploy
  DeployFlags deploy;
  CLI::App* deploy_command = app.add_subcommand(
      "deploy", "Deploy a function from flags, or every function and trigger of a manifest (-f)");
  deploy_command->add_option("name", deploy.name,
                             "Function name (with -f: deploy only this function of the manifest)");
  CLI::Option* manifest = deploy_command->add_option("-f,--manifest", deploy.manifest,
                                                     "Deploy the functions of this sluice.yaml");
  const auto spec_option = [&](CLI::Option* option) { return option->excludes(manifest); };
  spec_option(deploy_command->add_option(
      "--artifact", deploy.artifact,
      "Shared object, executable or .zip/.tar.gz bundle to upload (required without -f)"));
  spec_option(
      deploy_command->add_option("--runtime", deploy.runtime, "Runtime: native, lambda or exec"))
      ->capture_default_str();
  spec_option(deploy_command->add_option(
      "--entry-point", deploy.entry_point,
      "Exported entry point of a native function (default sluice_function_invoke)"));
  spec_option(deploy_command->add_option("--handler", deploy.handler,
                                         "Handler of a lambda function (its _HANDLER)"));
  spec_option(deploy_command->add_option("--concurrency", deploy.concurrency,
                                         "Invocations that may run at once"))
      ->check(CLI::PositiveNumber);
  spec_option(deploy_command->add_option("--max-queue", deploy.max_queue,
                                         "Invocations that may wait in the queue"))
      ->check(CLI::PositiveNumber);
  spec_option(deploy_command->add_option("--timeout", deploy.timeout,
                                         "How long one attempt may run, e.g. 500ms, 10s, 1m30s"));
  spec_option(OnePerFlag(deploy_command->add_option(
      "--env", deploy.env, "Environment variable KEY=VALUE for the function (repeatable)")));
  spec_option(deploy_command->add_option(
      "--isolation", deploy.isolation,
      "Isolation: process (default), or none to run a native function in the server"));
  spec_option(
      deploy_command->add_option("--memory-mb", deploy.memory_mb,
                                 "Memory limit of each worker process in MiB (default 512)"))
      ->check(CLI::PositiveNumber);
  spec_option(deploy_command->add_option("--min-warm", deploy.min_warm,
                                         "Workers kept started while idle (default 0)"))
      ->check(CLI::NonNegativeNumber);
  spec_option(deploy_command->add_option(
      "--idle-timeout", deploy.idle_timeout,
      "Idle workers above --min-warm stop after this long, e.g. 30s, 5m (default 5m)"));
  spec_option(deploy_command->add_option("--max-open-files", deploy.max_open_files,
                                         "Open-file limit of each worker process (default 1024)"))
      ->check(CLI::PositiveNumber);
  spec_option(deploy_command->add_option("--description", deploy.description, "Description"));
  spec_option(deploy_command->add_option(
                  "--max-attempts", deploy.max_attempts,
                  "Attempts of a background invocation, the first included (default 3)"))
      ->check(CLI::PositiveNumber);
  spec_option(
      deploy_command->add_option("--initial-backoff", deploy.initial_backoff,
                                 "Longest wait before the first retry, e.g. 500ms (default 1s)"));
  spec_option(deploy_command->add_option("--max-backoff", deploy.max_backoff,
                                         "Longest wait between retries, e.g. 1m (default 5m)"));
  spec_option(
      deploy_command->add_option("--backoff-multiplier", deploy.backoff_multiplier,
                                 "Growth of the backoff from one retry to the next (default 2)"))
      ->check(CLI::PositiveNumber);
  spec_option(OnePerFlag(deploy_command->add_option(
      "--retry-on", deploy.retry_on,
      "Outcome that is retried: function-error, crash, timeout or lease-lost (repeatable or a "
      "comma list; default: all)")));
  spec_option(deploy_command->add_option(
      "--max-event-age", deploy.max_event_age,
      "A background invocation older than this is not attempted again, e.g. 1h (default 6h)"));
  spec_option(deploy_command->add_option(
      "--on-success", deploy.on_success,
      "Function invoked in the background with the record of each invocation that succeeded"));
  spec_option(deploy_command->add_option(
      "--on-failure", deploy.on_failure,
      "Function invoked in the background with the record of each invocation that failed"));
  deploy_command->callback([&] { run = [&] { return RunDeploy(deploy, config, console); }; });

  // ls
  CLI::App* ls_command = app.add_subcommand("ls", "List functions (latest version of each)");
  ls_command->callback([&] { run = [&] { return RunListFunctions(config, console); }; });

  // describe
  std::string describe_name;
  uint64_t describe_version = 0;
  CLI::App* describe_command = app.add_subcommand("describe", "Describe a function version");
  describe_command->add_option("name", describe_name, "Function name")->required();
  describe_command->add_option("--version", describe_version, "Version (default: the latest)");
  describe_command->callback([&] {
    run = [&] { return RunDescribeFunction(describe_name, describe_version, config, console); };
  });

  // rm
  std::string rm_name;
  CLI::App* rm_command = app.add_subcommand("rm", "Delete a function and all its versions");
  rm_command->add_option("name", rm_name, "Function name")->required();
  rm_command->callback([&] { run = [&] { return RunRemoveFunction(rm_name, config, console); }; });

  // invoke
  InvokeFlags invoke;
  std::string invoke_data;
  CLI::App* invoke_command = app.add_subcommand(
      "invoke", "Run a function and print its output (--async: queue it and print the id)");
  invoke_command->add_option("name", invoke.function, "Function name")->required();
  invoke_command->add_option("--version", invoke.version, "Version (default: the latest)");
  CLI::Option* data_option = invoke_command->add_option(
      "--data", invoke_data,
      "Payload: a string, @FILE, or - for stdin (default: stdin when it is not a terminal)");
  invoke_command->add_flag("--async", invoke.async, "Queue the invocation and print its id");
  OnePerFlag(invoke_command->add_option("--meta", invoke.meta,
                                        "Metadata KEY=VALUE passed to the function (repeatable)"));
  invoke_command->add_option("--timeout", invoke.timeout,
                             "Give up waiting for the server after this long, e.g. 30s");
  invoke_command->add_option("--priority", invoke.priority,
                             "Priority in the function's queue: low, normal (default), high or "
                             "critical");
  invoke_command->add_option("--idempotency-key", invoke.idempotency_key,
                             "With --async: a repeat with the same key returns the first "
                             "invocation's id and runs nothing");
  invoke_command
      ->add_option("--max-attempts", invoke.max_attempts,
                   "With --async: attempts in all, replacing the function's retry policy's")
      ->check(CLI::PositiveNumber);
  invoke_command->callback([&] {
    if (data_option->count() > 0) invoke.data = invoke_data;
    run = [&] { return RunInvoke(invoke, config, console); };
  });

  // get, watch, cancel
  std::string invocation_id;
  CLI::App* get_command =
      app.add_subcommand("get", "Show a background invocation with its timeline");
  get_command->add_option("id", invocation_id, "Invocation id")->required();
  get_command->callback(
      [&] { run = [&] { return RunGetInvocation(invocation_id, config, console); }; });
  CLI::App* watch_command =
      app.add_subcommand("watch", "Print each state change of an invocation until it finishes");
  watch_command->add_option("id", invocation_id, "Invocation id")->required();
  watch_command->callback(
      [&] { run = [&] { return RunWatchInvocation(invocation_id, config, console); }; });
  CLI::App* cancel_command = app.add_subcommand("cancel", "Cancel a pending or running invocation");
  cancel_command->add_option("id", invocation_id, "Invocation id")->required();
  cancel_command->callback(
      [&] { run = [&] { return RunCancelInvocation(invocation_id, config, console); }; });

  // invocations
  InvocationListFlags list;
  CLI::App* list_command =
      app.add_subcommand("invocations", "List background invocations, newest first");
  list_command->add_option("--function", list.function, "Only this function");
  list_command->add_option("--state", list.state, "Only this state")
      ->check(CLI::IsMember({"pending", "running", "succeeded", "failed", "cancelled"},
                            CLI::ignore_case));
  list_command->add_flag("--dead-lettered", list.dead_lettered,
                         "Only dead-lettered invocations (failed for good)");
  list_command->add_option("--limit", list.limit, "At most this many")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  list_command->callback([&] { run = [&] { return RunListInvocations(list, config, console); }; });

  // redrive
  RedriveFlags redrive;
  CLI::App* redrive_command = app.add_subcommand(
      "redrive",
      "Queue dead-lettered invocations again: one by ID, or those of --function that match");
  redrive_command->add_option("id", redrive.id, "Invocation id");
  redrive_command->add_option("--function", redrive.function,
                              "Every dead-lettered invocation of this function (oldest first)");
  redrive_command->add_option("--error-type", redrive.error_type,
                              "Only those whose last error has this type, e.g. Timeout");
  redrive_command->add_option(
      "--created-after", redrive.created_after,
      "Only those created at or after this RFC 3339 time, or this long ago (e.g. 24h)");
  redrive_command->add_option(
      "--created-before", redrive.created_before,
      "Only those created before this RFC 3339 time, or this long ago (e.g. 1h)");
  redrive_command->add_option("--limit", redrive.limit, "At most this many (default 10000)")
      ->check(CLI::PositiveNumber);
  redrive_command->callback([&] { run = [&] { return RunRedrive(redrive, config, console); }; });

  // publish
  PublishFlags publish;
  CLI::App* publish_command = app.add_subcommand(
      "publish", "Publish an event; every matching trigger starts a background invocation");
  publish_command->add_option("--topic", publish.topic, "Topic to publish to");
  publish_command->add_option("--type", publish.type, "Event type, e.g. com.example.created")
      ->required();
  publish_command->add_option("--source", publish.source, "Event source, e.g. /shop/orders")
      ->required();
  publish_command->add_option("--id", publish.id,
                              "Event id, unique within its source (default: a random id)");
  publish_command->add_option("--subject", publish.subject, "Event subject");
  publish_command->add_option("--content-type", publish.content_type,
                              "Media type of the data, e.g. application/json");
  publish_command->add_option("--ext", publish.extensions, "Extension attribute NAME=VALUE")
      ->take_all();
  publish_command->add_option("-d,--data", publish.data,
                              "Event data: text, @file, or - for standard input");
  publish_command->callback([&] { run = [&] { return RunPublish(publish, config, console); }; });

  // triggers
  CLI::App* triggers_command =
      app.add_subcommand("triggers", "Create, list and remove triggers")->require_subcommand(1);
  TriggerFlags trigger;
  CLI::App* trigger_create = triggers_command->add_subcommand(
      "create", "Create a trigger: events (--topic/--type), a schedule (--cron) or a route");
  trigger_create->add_option("name", trigger.name, "Trigger name")->required();
  trigger_create->add_option("--function", trigger.function, "Function to invoke")->required();
  trigger_create->add_option("--topic", trigger.topic, "Events published to this topic");
  trigger_create->add_option("--type", trigger.type, "Events of this type");
  trigger_create
      ->add_option("--filter", trigger.filters,
                   "ATTRIBUTE=VALUE, ATTRIBUTE^=PREFIX or ATTRIBUTE$=SUFFIX")
      ->take_all();
  trigger_create->add_flag("--any", trigger.any, "Match any filter instead of all of them");
  trigger_create->add_option("--cron", trigger.cron, "Cron expression, e.g. \"*/5 * * * *\"");
  trigger_create->add_option("--timezone", trigger.time_zone,
                             "IANA time zone of the cron expression (default UTC)");
  trigger_create->add_flag("--catch-up", trigger.catch_up,
                           "After downtime, fire once for the missed times (default: skip)");
  trigger_create->add_option("--route", trigger.route,
                             "gRPC method to serve, e.g. /shop.v1.Orders/Create");
  trigger_create->add_option("--priority", trigger.priority,
                             "Priority of its invocations: low, normal, high, critical");
  trigger_create->add_flag("--replace", trigger.replace, "Replace a trigger of the same name");
  trigger_create->callback(
      [&] { run = [&] { return RunCreateTrigger(trigger, config, console); }; });
  CLI::App* trigger_list = triggers_command->add_subcommand("ls", "List triggers");
  trigger_list->callback([&] { run = [&] { return RunListTriggers(config, console); }; });
  std::string trigger_name;
  CLI::App* trigger_remove = triggers_command->add_subcommand("rm", "Remove a trigger");
  trigger_remove->add_option("name", trigger_name, "Trigger name")->required();
  trigger_remove->callback(
      [&] { run = [&] { return RunDeleteTrigger(trigger_name, config, console); }; });

  // logs
  LogsFlags logs;
  uint32_t logs_lines = 0;
  CLI::App* logs_command = app.add_subcommand(
      "logs", "Print what a function wrote to stdout and stderr (-f: keep printing new lines)");
  logs_command->add_option("name", logs.function, "Function name")->required();
  logs_command->add_flag("-f,--follow", logs.follow, "Keep printing new lines until Ctrl-C");
  CLI::Option* lines_option = logs_command->add_option(
      "-n,--lines", logs_lines, "How many past lines to print first (default 100)");
  logs_command->callback([&] {
    if (lines_option->count() > 0) logs.lines = logs_lines;
    run = [&] { return RunLogs(logs, config, console); };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error, console.out, console.err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  config.format = output == "json" ? OutputFormat::kJson : OutputFormat::kText;
  if (!run) return kExitUsage;  // unreachable: a subcommand is required
  return run();
}

}  // namespace

}  // namespace sluice::cli
