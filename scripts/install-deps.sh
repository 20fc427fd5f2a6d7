#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian 12 machine (as root).
# Idempotent: packages already present are skipped, so a second run takes seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

apt_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libcurl4-openssl-dev nlohmann-json3-dev libarchive-dev libcli11-dev libspdlog-dev libcpp-httplib-dev
  libssl-dev libpq-dev libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev
  restic postgresql openssl docker.io busybox-static rclone
  nodejs npm clang-format procps psmisc util-linux curl time jq
  systemd lintian dpkg-dev fakeroot file
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # Node and npm may come from outside apt on some images; only install them through apt when absent.
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in
      nodejs) command -v node >/dev/null || filtered+=("$p") ;;
      npm) command -v npm >/dev/null || filtered+=("$p") ;;
      *) filtered+=("$p") ;;
    esac
  done
  if [ "${#filtered[@]}" -gt 0 ]; then
    echo "install-deps: apt-get install ${filtered[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
  fi
fi

# The Debian postgresql package starts a system cluster; our tests start their own throwaway clusters
# and never need it, so leave it as it is.

# npm test tools, pinned by tests/tools/package-lock.json.
if [ ! -x "$root/tests/tools/node_modules/.bin/s3rver" ]; then
  echo "install-deps: npm ci (s3rver)"
  (cd "$root/tests/tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: done"
