// The monitoring assets of monitoring/: the Prometheus alerting rules pass
// `promtool check rules` and their own unit tests, the example Prometheus
// configuration is valid, the Grafana dashboard covers every area of Sluice
// with valid PromQL, and every metric family the dashboard and the rules use
// is exported by a real `sluice serve`.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"
#include "yaml-cpp/yaml.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

constexpr char kPromtool[] = "/usr/bin/promtool";

std::string Asset(const std::string& relative) {
  return testing::SourceDir() + "/monitoring/" + relative;
}

std::string Show(const testing::RunResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

// ParseJson parses `json` into a Struct with protobuf's JSON parser.
google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct out;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return out;
}

google::protobuf::Struct Dashboard() {
  return ParseJson(testing::ReadFileOrDie(Asset("grafana/sluice-dashboard.json")));
}

// CollectStrings appends every string value stored under a key named `key`
// anywhere inside `value`.
void CollectStrings(const google::protobuf::Value& value, const std::string& key,
                    std::vector<std::string>* out) {
  if (value.has_struct_value()) {
    for (const auto& [k, v] : value.struct_value().fields()) {
      if (k == key && v.has_string_value()) {
        out->push_back(v.string_value());
      } else {
        CollectStrings(v, key, out);
      }
    }
  } else if (value.has_list_value()) {
    for (const auto& v : value.list_value().values()) CollectStrings(v, key, out);
  }
}

std::vector<std::string> DashboardExprs(const google::protobuf::Struct& dashboard) {
  google::protobuf::Value root;
  *root.mutable_struct_value() = dashboard;
  std::vector<std::string> exprs;
  CollectStrings(root, "expr", &exprs);
  // The template variables' queries (label_values(...)) use metrics too.
  CollectStrings(root, "definition", &exprs);
  return exprs;
}

// RuleExprs is the `expr` of every rule of the rules file at `path`.
std::vector<std::string> RuleExprs(const std::string& path) {
  std::vector<std::string> exprs;
  const YAML::Node rules = YAML::LoadFile(path);
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) exprs.push_back(rule["expr"].as<std::string>());
  }
  return exprs;
}

// MetricFamilies is the set of Sluice, gRPC server and process metric
// families named in `exprs`, histogram series (_bucket, _sum, _count)
// reduced to their family.
std::set<std::string> MetricFamilies(const std::vector<std::string>& exprs) {
  static const std::regex kName(R"((^|[^a-zA-Z0-9_:])((sluice|grpc_server|process)_[a-z_]+))");
  static const std::regex kHistogramSuffix("_(bucket|sum|count)$");
  std::set<std::string> families;
  for (const std::string& expr : exprs) {
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName);
         it != std::sregex_iterator(); ++it) {
      families.insert(std::regex_replace((*it)[2].str(), kHistogramSuffix, ""));
    }
  }
  return families;
}

TEST(MonitoringAssetsTest, AlertRulesPassPromtoolCheck) {
  const testing::RunResult r =
      testing::RunCommand({kPromtool, "check", "rules", Asset("prometheus/sluice-alerts.yml")});
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_THAT(r.out, HasSubstr("SUCCESS")) << Show(r);
}

TEST(MonitoringAssetsTest, AlertRuleUnitTestsPass) {
  const testing::RunResult r =
      testing::RunCommand({kPromtool, "test", "rules", Asset("prometheus/sluice-alerts.test.yml")});
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_THAT(r.out, HasSubstr("SUCCESS")) << Show(r);
}

TEST(MonitoringAssetsTest, EveryAlertIsUnitTestedAndDocumented) {
  std::set<std::string> alerts;
  const YAML::Node rules = YAML::LoadFile(Asset("prometheus/sluice-alerts.yml"));
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      const std::string name = rule["alert"].as<std::string>();
      alerts.insert(name);
      EXPECT_TRUE(rule["labels"]["severity"].IsScalar()) << name;
      EXPECT_TRUE(rule["annotations"]["summary"].IsScalar()) << name;
      EXPECT_TRUE(rule["annotations"]["description"].IsScalar()) << name;
      EXPECT_TRUE(rule["for"].IsScalar()) << name;
    }
  }
  for (const char* required :
       {"SluiceHighErrorRatio", "SluiceQueueGrowing", "SluiceDeadLetters",
        "SluiceOldestPendingTooOld", "SluiceSpansDropped", "SluiceGrpcServerErrors"}) {
    EXPECT_TRUE(alerts.contains(required)) << required;
  }
  // Each alert is expected to fire in at least one unit test.
  std::set<std::string> fired;
  const YAML::Node tests = YAML::LoadFile(Asset("prometheus/sluice-alerts.test.yml"));
  for (const YAML::Node& test : tests["tests"]) {
    for (const YAML::Node& check : test["alert_rule_test"]) {
      if (check["exp_alerts"].size() > 0) fired.insert(check["alertname"].as<std::string>());
    }
  }
  EXPECT_EQ(fired, alerts);
}

TEST(MonitoringAssetsTest, ExamplePrometheusConfigIsValidAndLoadsTheRules) {
  // The config names the rules file relative to itself: check a copy of both.
  const std::string dir = testing::MakeTempDir();
  for (const char* name : {"prometheus.example.yml", "sluice-alerts.yml"}) {
    std::filesystem::copy_file(Asset(std::string("prometheus/") + name), dir + "/" + name);
  }
  const testing::RunResult r =
      testing::RunCommand({kPromtool, "check", "config", dir + "/prometheus.example.yml"});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_THAT(r.out, HasSubstr("is valid prometheus config file syntax")) << Show(r);
  EXPECT_THAT(r.out, HasSubstr("1 rule files found")) << Show(r);

  const YAML::Node config = YAML::LoadFile(Asset("prometheus/prometheus.example.yml"));
  ASSERT_TRUE(config["scrape_configs"].IsSequence());
  EXPECT_EQ(config["scrape_configs"][0]["job_name"].as<std::string>(), "sluice");
}

TEST(MonitoringAssetsTest, DashboardHasTheTemplateVariables) {
  const google::protobuf::Struct dashboard = Dashboard();
  const auto& fields = dashboard.fields();
  ASSERT_TRUE(fields.contains("schemaVersion"));
  EXPECT_GE(fields.at("schemaVersion").number_value(), 36);
  EXPECT_LE(fields.at("schemaVersion").number_value(), 39);
  ASSERT_TRUE(fields.contains("templating"));
  std::map<std::string, google::protobuf::Struct> variables;
  for (const auto& v :
       fields.at("templating").struct_value().fields().at("list").list_value().values()) {
    variables[v.struct_value().fields().at("name").string_value()] = v.struct_value();
  }
  ASSERT_TRUE(variables.contains("DS_PROMETHEUS"));
  EXPECT_EQ(variables["DS_PROMETHEUS"].fields().at("type").string_value(), "datasource");
  EXPECT_EQ(variables["DS_PROMETHEUS"].fields().at("query").string_value(), "prometheus");
  ASSERT_TRUE(variables.contains("function"));
  EXPECT_EQ(variables["function"].fields().at("type").string_value(), "query");
  EXPECT_EQ(variables["function"].fields().at("definition").string_value(),
            "label_values(sluice_invocations_total, function)");
}

TEST(MonitoringAssetsTest, DashboardHasAPanelForEveryArea) {
  const google::protobuf::Struct dashboard = Dashboard();
  // title -> the exprs of its targets, for every panel that is not a row.
  std::map<std::string, std::string> panels;
  std::set<std::string> rows;
  for (const auto& p : dashboard.fields().at("panels").list_value().values()) {
    const auto& panel = p.struct_value().fields();
    const std::string title = panel.at("title").string_value();
    if (panel.at("type").string_value() == "row") {
      rows.insert(title);
      continue;
    }
    EXPECT_EQ(panel.at("datasource").struct_value().fields().at("uid").string_value(),
              "${DS_PROMETHEUS}")
        << title;
    ASSERT_TRUE(panel.contains("targets")) << title;
    std::vector<std::string> exprs;
    for (const auto& t : panel.at("targets").list_value().values()) {
      exprs.push_back(t.struct_value().fields().at("expr").string_value());
    }
    EXPECT_FALSE(exprs.empty()) << title;
    EXPECT_FALSE(panels.contains(title)) << "two panels titled " << title;
    panels[title] = absl::StrJoin(exprs, "\n");
  }
  EXPECT_GE(rows.size(), 8u);
  // Each area's panel and what its queries must contain.
  const std::vector<std::pair<std::string, std::vector<std::string>>> required = {
      {"Throughput by function and outcome",
       {"rate(sluice_invocations_total", "by (function, outcome)"}},
      {"Error ratio by function", {"sluice_invocations_total", "outcome!~", " / "}},
      {"Invocation duration percentiles",
       {"histogram_quantile(0.5,", "histogram_quantile(0.9,", "histogram_quantile(0.99,",
        "sluice_invocation_duration_seconds_bucket"}},
      {"Queue depth", {"sluice_queue_depth"}},
      {"Queue wait percentiles",
       {"histogram_quantile(0.5,", "histogram_quantile(0.99,", "sluice_queue_wait_seconds_bucket"}},
      {"Oldest pending age", {"sluice_oldest_pending_age_seconds"}},
      {"Cold starts", {"rate(sluice_cold_starts_total"}},
      {"Cold start duration percentiles",
       {"histogram_quantile(0.99,", "sluice_cold_start_duration_seconds_bucket"}},
      {"Workers by state", {"sluice_workers", "state"}},
      {"Worker crashes", {"sluice_worker_crashes_total"}},
      {"Retries", {"sluice_retries_total"}},
      {"Dead letters", {"sluice_dead_letters_total"}},
      {"gRPC requests by code", {"grpc_server_handled_total", "grpc_code"}},
      {"gRPC handling latency", {"histogram_quantile(", "grpc_server_handling_seconds_bucket"}},
      {"Store commit latency", {"histogram_quantile(", "sluice_store_commit_seconds_bucket"}},
      {"CPU", {"rate(process_cpu_seconds_total"}},
      {"Memory", {"process_resident_memory_bytes"}},
      {"Open file descriptors", {"process_open_fds", "process_max_fds"}},
      {"Spans exported and dropped", {"sluice_spans_exported_total", "sluice_spans_dropped_total"}},
  };
  for (const auto& [title, needles] : required) {
    ASSERT_TRUE(panels.contains(title)) << "no panel titled " << title;
    for (const std::string& needle : needles) {
      EXPECT_THAT(panels[title], HasSubstr(needle)) << "panel " << title;
    }
  }
}

TEST(MonitoringAssetsTest, DashboardQueriesAreValidPromQL) {
  // promtool parses the queries as recording rules, Grafana's variables
  // replaced by what Grafana would send.
  const std::vector<std::string> exprs = DashboardExprs(Dashboard());
  ASSERT_GE(exprs.size(), 20u);
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq << YAML::BeginMap
      << YAML::Key << "name" << YAML::Value << "dashboard" << YAML::Key << "rules" << YAML::Value
      << YAML::BeginSeq;
  int n = 0;
  for (const std::string& expr : exprs) {
    const std::string promql = absl::StrReplaceAll(
        expr,
        {{"$__rate_interval", "1m"}, {"$function", ".*"}, {"$instance", ".*"}, {"$job", ".*"}});
    // label_values() is Grafana's, not PromQL: check its metric selector.
    std::smatch m;
    const bool label_values =
        std::regex_match(promql, m, std::regex(R"(label_values\((.*), *[a-z_]+\))"));
    out << YAML::BeginMap << YAML::Key << "record" << YAML::Value
        << absl::StrCat("dashboard:query_", n++) << YAML::Key << "expr" << YAML::Value
        << (label_values ? m[1].str() : promql) << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/dashboard-queries.yml";
  std::ofstream(path) << out.c_str();
  const testing::RunResult r = testing::RunCommand({kPromtool, "check", "rules", path});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.exit_code, 0) << Show(r) << out.c_str();
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("SUCCESS: ", exprs.size(), " rules found"))) << Show(r);
}

class MonitoringAssetsServerTest : public testing::ServerTest {};

TEST_F(MonitoringAssetsServerTest, EveryMetricUsedIsExportedByARealServer) {
  std::vector<std::string> exprs = DashboardExprs(Dashboard());
  const std::vector<std::string> rule_exprs = RuleExprs(Asset("prometheus/sluice-alerts.yml"));
  exprs.insert(exprs.end(), rule_exprs.begin(), rule_exprs.end());
  const std::set<std::string> families = MetricFamilies(exprs);
  // The extraction itself works: a few names every part uses are found.
  for (const char* family :
       {"sluice_invocations_total", "sluice_invocation_duration_seconds", "sluice_queue_depth",
        "grpc_server_handled_total", "grpc_server_handling_seconds", "process_cpu_seconds_total",
        "sluice_spans_dropped_total"}) {
    EXPECT_TRUE(families.contains(family)) << family;
  }

  // Make the labelled series exist: sync and async invocations that
  // succeed, fail and are dead-lettered after a retry.
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "echo", "echo", &deployed).ok());
  v1::FunctionSpec retry_once;
  retry_once.mutable_retry()->set_max_attempts(2);
  *retry_once.mutable_retry()->mutable_initial_backoff() =
      google::protobuf::util::TimeUtil::MillisecondsToDuration(10);
  ASSERT_TRUE(testing::DeployExample(*functions_, "fail", "fail", &deployed, retry_once).ok());
  for (const char* function : {"echo", "fail"}) {
    grpc::ClientContext context;
    v1::InvokeRequest request;
    request.set_function(function);
    request.set_payload("sync");
    v1::InvokeResponse response;
    const grpc::Status s = invocations_->Invoke(&context, request, &response);
    EXPECT_EQ(s.ok(), std::string(function) == "echo") << function << ": " << s.error_message();
  }
  std::vector<std::string> ids(2);
  ASSERT_TRUE(testing::InvokeAsync(*invocations_, "echo", "async", &ids[0]).ok());
  ASSERT_TRUE(testing::InvokeAsync(*invocations_, "fail", "async", &ids[1]).ok());
  for (const std::string& id : ids) {
    v1::Invocation inv;
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          return testing::GetInvocation(*invocations_, id, &inv).ok() &&
                 (inv.state() == v1::SUCCEEDED || inv.state() == v1::FAILED);
        },
        absl::Seconds(30)))
        << id;
  }

  // Some series are refreshed periodically (the oldest pending age, once a
  // second): wait for a scrape that has every family.
  auto missing_from = [&](const std::string& metrics) {
    std::vector<std::string> missing;
    for (const std::string& family : families) {
      if (metrics.find("# TYPE " + family + " ") == std::string::npos) missing.push_back(family);
    }
    return missing;
  };
  absl::StatusOr<std::string> metrics;
  testing::WaitFor(
      [&] {
        metrics = testing::HttpGet(server_->metrics_port(), "/metrics");
        return metrics.ok() && missing_from(*metrics).empty();
      },
      absl::Seconds(10));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(missing_from(*metrics), ::testing::IsEmpty())
      << "families used by monitoring/ but not on /metrics; used: "
      << absl::StrJoin(families, ", ");
}

}  // namespace
}  // namespace sluice
