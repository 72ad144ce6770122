// Tests of OtelConfigFromEnv, reading a fake environment.
#include "monitoring/otel_config.h"

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

using Env = std::map<std::string, std::string>;

// FromEnv runs OtelConfigFromEnv on `env` alone.
absl::StatusOr<OtelConfig> FromEnv(const Env& env) {
  return OtelConfigFromEnv([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// ExpectInvalid checks that `env` is rejected with a message containing each
// of `parts`.
void ExpectInvalid(const Env& env, const std::vector<std::string>& parts) {
  absl::StatusOr<OtelConfig> config = FromEnv(env);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& part : parts) EXPECT_THAT(config.status().message(), HasSubstr(part));
}

TEST(OtelConfigTest, EmptyEnvironmentExportsNothing) {
  absl::StatusOr<OtelConfig> config = FromEnv({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->endpoint, "");
  EXPECT_EQ(config->service_name, "sluice");
  EXPECT_THAT(config->resource_attributes, IsEmpty());
  EXPECT_TRUE(config->sampler.parent_based);
  EXPECT_EQ(config->sampler.ratio, 1.0);
}

TEST(OtelConfigTest, ReadsEndpointsInTheirAcceptedForms) {
  for (const auto& [value, endpoint] :
       std::map<std::string, std::string>{{"collector:4317", "collector:4317"},
                                          {"http://collector:4317", "collector:4317"},
                                          {"http://collector:4317/", "collector:4317"},
                                          {"HTTP://10.0.0.7:4317", "10.0.0.7:4317"},
                                          {"[::1]:4317", "[::1]:4317"},
                                          {"http://[::1]:4317/", "[::1]:4317"}}) {
    absl::StatusOr<OtelConfig> config = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", value}});
    ASSERT_TRUE(config.ok()) << value << ": " << config.status();
    EXPECT_EQ(config->endpoint, endpoint) << value;
  }
}

TEST(OtelConfigTest, TracesEndpointWinsOverTheGeneralOne) {
  absl::StatusOr<OtelConfig> config =
      FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "general:4317"},
               {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->endpoint, "traces:4317");
}

TEST(OtelConfigTest, RejectsEndpointsItCannotUse) {
  ExpectInvalid({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"}},
                {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317", "TLS"});
  ExpectInvalid({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"}},
                {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces", "path"});
  ExpectInvalid({{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector"}},
                {"OTEL_EXPORTER_OTLP_ENDPOINT", "\"collector\""});
  ExpectInvalid({{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:port"}}, {"collector:port"});
  ExpectInvalid({{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:70000"}}, {"collector:70000"});
  ExpectInvalid({{"OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317"}},
                {"grpc://collector:4317"});
}

TEST(OtelConfigTest, ExporterNoneOrDisabledSdkTurnsExportOff) {
  for (const Env& env : std::vector<Env>{
           {{"OTEL_TRACES_EXPORTER", "none"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"}},
           {{"OTEL_SDK_DISABLED", "true"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"}},
           {{"OTEL_SDK_DISABLED", "TRUE"}, {"OTEL_TRACES_EXPORTER", "otlp"}},
           // The endpoint is not read when export is off.
           {{"OTEL_TRACES_EXPORTER", "none"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://x:1"}}}) {
    absl::StatusOr<OtelConfig> config = FromEnv(env);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->endpoint, "");
  }
  absl::StatusOr<OtelConfig> enabled =
      FromEnv({{"OTEL_SDK_DISABLED", "false"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"}});
  ASSERT_TRUE(enabled.ok()) << enabled.status();
  EXPECT_EQ(enabled->endpoint, "collector:4317");
}

TEST(OtelConfigTest, ExplicitOtlpExporterDefaultsToLocalhost) {
  absl::StatusOr<OtelConfig> config = FromEnv({{"OTEL_TRACES_EXPORTER", "otlp"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->endpoint, "localhost:4317");
}

TEST(OtelConfigTest, RejectsUnknownExporters) {
  ExpectInvalid({{"OTEL_TRACES_EXPORTER", "zipkin"}}, {"OTEL_TRACES_EXPORTER", "zipkin"});
}

TEST(OtelConfigTest, ReadsPercentDecodedResourceAttributes) {
  absl::StatusOr<OtelConfig> config =
      FromEnv({{"OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, team = a%2Cb%20c ,,host.name=node-1%3d,empty="}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->resource_attributes,
              ElementsAre(Pair("deployment.environment", "prod"), Pair("team", "a,b c"),
                          Pair("host.name", "node-1="), Pair("empty", "")));
  EXPECT_EQ(config->service_name, "sluice");
}

TEST(OtelConfigTest, ServiceNameComesFromOtelServiceNameFirstThenResource) {
  absl::StatusOr<OtelConfig> from_resource =
      FromEnv({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-resource,team=a"}});
  ASSERT_TRUE(from_resource.ok()) << from_resource.status();
  EXPECT_EQ(from_resource->service_name, "from-resource");
  EXPECT_THAT(from_resource->resource_attributes, ElementsAre(Pair("team", "a")));

  absl::StatusOr<OtelConfig> both =
      FromEnv({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-resource"},
               {"OTEL_SERVICE_NAME", "from-variable"}});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->service_name, "from-variable");
  EXPECT_THAT(both->resource_attributes, IsEmpty());
}

TEST(OtelConfigTest, RejectsMalformedResourceAttributes) {
  for (const char* value : {"novalue", "=x", "k=%zz", "k=%2", "a=1,b"}) {
    ExpectInvalid({{"OTEL_RESOURCE_ATTRIBUTES", value}}, {"OTEL_RESOURCE_ATTRIBUTES", value});
  }
}

TEST(OtelConfigTest, ReadsTheSampler) {
  absl::StatusOr<OtelConfig> config =
      FromEnv({{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "0.125"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->sampler.parent_based);
  EXPECT_EQ(config->sampler.ratio, 0.125);

  ExpectInvalid({{"OTEL_TRACES_SAMPLER", "sometimes"}}, {"OTEL_TRACES_SAMPLER", "sometimes"});
  ExpectInvalid(
      {{"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "2"}},
      {"OTEL_TRACES_SAMPLER_ARG", "\"2\""});
}

}  // namespace
}  // namespace sluice
