#!/usr/bin/env bash
# Installs what is missing, builds, and serves the shipped models.
#
# The HTTP daemon (rnnserve) is the next piece of work; until it exists this
# command builds everything and answers from the shipped models through
# rnntrain, so that the command stays the same when the daemon arrives.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
if [ ! -d build ]; then meson setup build --buildtype=release; fi
meson compile -C build

if [ -x build/src/serve/rnnserve ]; then
  exec build/src/serve/rnnserve --models "${RNNSERVE_MODELS:-models}" "$@"
fi

echo "rnnserve (the HTTP daemon) is not built yet; the shipped models through rnntrain:"
for m in models/*.safetensors; do
  [ -e "$m" ] || { echo "no models in models/ yet"; exit 0; }
  echo
  build/src/train/rnntrain info --model "$m" | head -4
done
if [ -e models/names-generator.safetensors ]; then
  echo; echo "Japanese surnames starting with Ak:"
  build/src/train/rnntrain sample --model models/names-generator.safetensors --category Japanese --prefix Ak -n 5 --temperature 0.8
fi
