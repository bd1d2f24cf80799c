#!/usr/bin/env bash
# Installs the Debian 12 packages rnnserve needs, skipping those already
# present.  `--test` adds what the test suites use (libcurl, clang for the
# sanitizer builds, headless Chromium and selenium for the browser suite).
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(meson ninja-build pkg-config gcc libc6-dev libopenblas-dev libcjson-dev libmicrohttpd-dev libutf8proc-dev)
if [ "${1:-}" = "--test" ]; then
  packages+=(libcurl4-openssl-dev clang clang-format curl python3 strace wrk
             chromium chromium-driver python3-selenium)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
