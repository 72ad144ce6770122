// OtelConfigFromEnv implementation: the OTEL_* variables Sluice supports,
// validated so that a bad value fails at startup with the variable named.
#include "monitoring/otel_config.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace sluice {
namespace {

constexpr char kDefaultEndpoint[] = "localhost:4317";
constexpr char kServiceNameKey[] = "service.name";

// Env reads one variable, whitespace-trimmed; unset reads as empty.
std::string Env(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* value = getenv(name);
  if (value == nullptr) return "";
  return std::string(absl::StripAsciiWhitespace(value));
}

absl::Status BadValue(absl::string_view variable, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(variable, "=\"", value, "\": ", why));
}

// ParseEndpoint turns an OTLP/gRPC endpoint into "host:port".
absl::StatusOr<std::string> ParseEndpoint(absl::string_view variable, absl::string_view value) {
  absl::string_view rest = value;
  if (absl::StartsWithIgnoreCase(rest, "https://")) {
    return BadValue(variable, value, "TLS is not supported; use an http:// endpoint");
  }
  if (absl::StartsWithIgnoreCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (absl::StrContains(rest, "://")) {
    return BadValue(variable, value, "the scheme must be http:// (or none)");
  }
  absl::ConsumeSuffix(&rest, "/");
  if (absl::StrContains(rest, "/")) {
    return BadValue(variable, value, "an OTLP/gRPC endpoint takes no path");
  }
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return BadValue(variable, value, "expected host:port");
  }
  const absl::string_view host = rest.substr(0, colon);
  const absl::string_view port_text = rest.substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() || !std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return BadValue(variable, value, "expected host:port with a port in 1-65535");
  }
  if (host.front() == '[' ? host.back() != ']' : absl::StrContains(host, ":")) {
    return BadValue(variable, value, "an IPv6 host must be in brackets");
  }
  return std::string(rest);
}

// PercentDecode decodes %XY escapes; nullopt when a '%' is not followed by
// two hex digits.
std::optional<std::string> PercentDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const char hi = text[i + 1];
    const char lo = text[i + 2];
    if (!absl::ascii_isxdigit(hi) || !absl::ascii_isxdigit(lo)) return std::nullopt;
    auto value = [](char c) {
      return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
    };
    out.push_back(static_cast<char>(value(hi) << 4 | value(lo)));
    i += 2;
  }
  return out;
}

// ParseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES; a later key
// replaces an earlier one. Empty entries are skipped.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseResourceAttributes(
    absl::string_view variable, absl::string_view value) {
  std::vector<std::pair<std::string, std::string>> attributes;
  for (absl::string_view entry : absl::StrSplit(value, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    const size_t equals = entry.find('=');
    if (equals == absl::string_view::npos) {
      return BadValue(variable, value, absl::StrCat("\"", entry, "\" is not key=value"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(entry.substr(0, equals));
    if (key.empty()) {
      return BadValue(variable, value, absl::StrCat("\"", entry, "\" has an empty key"));
    }
    std::optional<std::string> decoded =
        PercentDecode(absl::StripAsciiWhitespace(entry.substr(equals + 1)));
    if (!decoded.has_value()) {
      return BadValue(variable, value, absl::StrCat("\"", entry, "\" has a bad percent-encoding"));
    }
    auto same_key = [&](const auto& kv) { return kv.first == key; };
    attributes.erase(std::remove_if(attributes.begin(), attributes.end(), same_key),
                     attributes.end());
    attributes.emplace_back(std::string(key), *std::move(decoded));
  }
  return attributes;
}

}  // namespace

absl::StatusOr<OtelConfig> OtelConfigFromEnv(
    const std::function<const char*(const char*)>& getenv) {
  OtelConfig config;

  const std::string disabled = Env(getenv, "OTEL_SDK_DISABLED");
  const std::string exporter = absl::AsciiStrToLower(Env(getenv, "OTEL_TRACES_EXPORTER"));
  bool export_on = !absl::EqualsIgnoreCase(disabled, "true");
  if (export_on) {
    if (exporter == "none") {
      export_on = false;
    } else if (!exporter.empty() && exporter != "otlp") {
      return BadValue("OTEL_TRACES_EXPORTER", exporter,
                      "the supported trace exporters are otlp and none");
    }
  }
  if (export_on) {
    for (const char* variable :
         {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"}) {
      const std::string value = Env(getenv, variable);
      if (value.empty()) continue;
      absl::StatusOr<std::string> endpoint = ParseEndpoint(variable, value);
      if (!endpoint.ok()) return endpoint.status();
      config.endpoint = *std::move(endpoint);
      break;
    }
    if (config.endpoint.empty() && exporter == "otlp") config.endpoint = kDefaultEndpoint;
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> attributes =
      ParseResourceAttributes("OTEL_RESOURCE_ATTRIBUTES", Env(getenv, "OTEL_RESOURCE_ATTRIBUTES"));
  if (!attributes.ok()) return attributes.status();
  for (auto& [key, value] : *attributes) {
    if (key == kServiceNameKey) {
      if (!value.empty()) config.service_name = std::move(value);
    } else {
      config.resource_attributes.emplace_back(std::move(key), std::move(value));
    }
  }
  if (std::string service_name = Env(getenv, "OTEL_SERVICE_NAME"); !service_name.empty()) {
    config.service_name = std::move(service_name);
  }

  absl::StatusOr<SamplerConfig> sampler =
      ParseSampler(Env(getenv, "OTEL_TRACES_SAMPLER"), Env(getenv, "OTEL_TRACES_SAMPLER_ARG"));
  if (!sampler.ok()) return sampler.status();
  config.sampler = *sampler;
  return config;
}

}  // namespace sluice
