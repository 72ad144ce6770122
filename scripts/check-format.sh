#!/usr/bin/env bash
# check-format.sh: fails when a C or C++ source file differs from what
# clang-format makes of it under .clang-format. Run with --fix to reformat.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

mapfile -t files < <(git ls-files '*.cc' '*.h' '*.hpp')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (scripts/check-format.sh --fix)"
    bad=1
  fi
done
if [[ ${bad} -eq 0 ]]; then
  echo "all ${#files[@]} source files follow .clang-format"
fi
exit "${bad}"
