#!/usr/bin/env bash
# Builds the Debian package connectware-backup_<version>_<arch>.deb (cmake/packaging.cmake): a Release build
# of the hooks only (no tests) in build/package, then cpack. Prints the package's path. Needs what
# scripts/install-deps.sh installs (dpkg-dev for dpkg-shlibdeps). Install it with `dpkg -i` or `apt install
# ./connectware-backup_*.deb` (which also pulls restic and the libraries); docs/operations.md.
#
#   bash scripts/build-deb.sh [BUILD_DIR]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build/package}"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCWB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build"
(cd "$build" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$build/deb" >/dev/null)
ls "$build"/deb/connectware-backup_*.deb
