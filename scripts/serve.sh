#!/usr/bin/env bash
# Installs what is missing, builds the daemon and the training tool, and
# serves the shipped models (RNNSERVE_MODELS, default models/) with rnnserve
# on port 8080; extra arguments go to rnnserve (`--port 9090 --host
# 127.0.0.1`, `build/src/serve/rnnserve --help` lists them).
#
# Needs only scripts/install-deps.sh's packages without --test: a new `build`
# is configured with -Dtests=false (the test suites need libcurl) and only
# rnnserve and rnntrain are compiled, so a `build` that scripts/test.sh
# configured (tests on, warnings as errors) is used as it is.  A `build` left
# unconfigured by a failed `meson setup` is set up again.  On a fresh
# Debian 12 machine 35-55 s here until the daemon is ready (apt-get 30-45 s,
# meson and the compile 5-10 s; measured by scripts/newcomer-test.sh); a
# second or two once built.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# coredata.dat: meson's record of a configured build directory
if [ ! -f build/meson-private/coredata.dat ]; then
  meson setup build --buildtype=release -Dtests=false
fi
# by path: the library is also named rnnserve
meson compile -C build src/serve/rnnserve src/train/rnntrain
exec build/src/serve/rnnserve --models "${RNNSERVE_MODELS:-models}" "$@"
