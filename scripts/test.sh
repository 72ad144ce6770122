#!/usr/bin/env bash
# test.sh: installs what is missing, builds everything (Release, in build/,
# the same build that scripts/run.sh uses) and runs every test with CTest.
# Exits with CTest's exit code. Extra arguments are passed on to ctest, e.g.
#   scripts/test.sh -R store      # only the tests whose name matches "store"
# Works from any directory.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

bash scripts/install-deps.sh

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build

# Tests are safe to run in parallel: each uses its own temporary directory
# and binds its servers to port 0.
status=0
ctest --test-dir build --output-on-failure --no-tests=error -j2 "$@" || status=$?
exit "${status}"
