#include "cli/serve_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sluice::cli {
namespace {

constexpr char kConfigFlag[] = "--config";

bool IsFlagName(const std::string& name) {
  return !name.empty() && absl::ascii_islower(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_islower(static_cast<unsigned char>(c)) ||
                  absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-';
         });
}

// GivenOnCommandLine says whether `args` hold --NAME or --NAME=VALUE (or
// -f, the short form of --manifest).
bool GivenOnCommandLine(const std::vector<std::string>& args, const std::string& name) {
  const std::string flag = "--" + name;
  return std::any_of(args.begin(), args.end(), [&](const std::string& arg) {
    return arg == flag || absl::StartsWith(arg, flag + "=") ||
           (name == "manifest" && absl::StartsWith(arg, "-f"));
  });
}

// SettingsOf reads the file's flags, in file order.
absl::StatusOr<std::vector<std::string>> SettingsOf(const std::string& path,
                                                    const std::vector<std::string>& args) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": cannot read it"));
  std::ostringstream text;
  text << in.rdbuf();
  const auto invalid = [&](const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": ", problem));
  };
  std::vector<std::string> flags;
  try {
    const YAML::Node root = YAML::Load(text.str());
    if (root.IsNull()) return flags;
    if (!root.IsMap()) return invalid("must be a mapping of flag names to values");
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
      if (!IsFlagName(name)) {
        return invalid(absl::StrCat("\"", name, "\" is not a flag name (e.g. listen, data-dir)"));
      }
      if (name == "config") return invalid("config cannot name another file");
      if (GivenOnCommandLine(args, name)) continue;
      const YAML::Node value = it->second;
      // Flag and value apart: the parser reads "--name=" with an empty
      // value as "--name" followed by the next argument.
      if (value.IsScalar()) {
        flags.insert(flags.end(), {"--" + name, value.Scalar()});
      } else if (value.IsSequence()) {
        for (size_t i = 0; i < value.size(); ++i) {
          const YAML::Node item = value[i];
          if (!item.IsScalar()) return invalid(absl::StrCat(name, ": list items must be values"));
          flags.insert(flags.end(), {"--" + name, item.Scalar()});
        }
      } else {
        return invalid(absl::StrCat(name, ": must be a value or a list of values"));
      }
    }
  } catch (const YAML::Exception& e) {
    return invalid(absl::StrCat("not YAML: ", e.what()));
  }
  return flags;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandServeConfig(std::vector<std::string> args) {
  auto serve = std::find(args.begin() + std::min<size_t>(1, args.size()), args.end(), "serve");
  if (serve == args.end()) return args;
  std::string path;
  for (auto it = serve + 1; it != args.end(); ++it) {
    if (*it == kConfigFlag) {
      if (it + 1 == args.end()) {
        return absl::InvalidArgumentError("--config: expected the path of a settings file");
      }
      path = *(it + 1);
      args.erase(it, it + 2);
      break;
    }
    if (absl::StartsWith(*it, absl::StrCat(kConfigFlag, "="))) {
      path = it->substr(sizeof(kConfigFlag));
      args.erase(it);
      break;
    }
  }
  if (path.empty()) return args;
  absl::StatusOr<std::vector<std::string>> flags = SettingsOf(path, args);
  if (!flags.ok()) return flags.status();
  serve = std::find(args.begin() + 1, args.end(), "serve");
  args.insert(serve + 1, flags->begin(), flags->end());
  return args;
}

}  // namespace sluice::cli
