#!/usr/bin/env bash
# Fails when a C++ file of ours differs from .clang-format's layout. `--fix` rewrites them instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null; git ls-files --others --exclude-standard '*.cpp' '*.hpp' 2>/dev/null)
[ "${#files[@]}" -gt 0 ] || exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/cwb-format.log; then
  echo "format check failed: run 'bash scripts/check-format.sh --fix'" >&2
  grep -m 20 'warning:' /tmp/cwb-format.log >&2 || true
  exit 1
fi
