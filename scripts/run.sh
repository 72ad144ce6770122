#!/usr/bin/env bash
# run.sh: installs what is missing, builds Sluice (Release, in build/) and
# serves it with the example functions deployed:
#   gRPC API   127.0.0.1:50051
#   metrics    http://127.0.0.1:9464/metrics
#   data       ./sluice-data (at the repository root)
# Extra arguments are passed on to `sluice serve`, e.g.
#   scripts/run.sh --listen 127.0.0.1:50052 --executor-threads 8
# Works from any directory. Stop the server with Ctrl-C.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

bash scripts/install-deps.sh

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build

echo
echo "run: starting sluice; in another terminal try: build/sluice ls"
echo
exec build/sluice serve \
  --data-dir ./sluice-data \
  --manifest functions/examples/sluice.yaml \
  "$@"
