#!/usr/bin/env bash
# Makes `podman build` and `podman run` work on a Debian 12 machine where no
# Docker engine runs and no image registry is reachable (this project's CI
# machines): installs podman, runc and debootstrap from Debian's packages,
# sets runc and host networking, and builds a local Debian 12 base image
# with debootstrap, tagged debian:bookworm-slim and debian:bookworm, which
# the Dockerfile starts from.  Idempotent: seconds once done, about three
# minutes the first time.  Needs root.
#
#   ./scripts/container-engine.sh
set -euo pipefail

need=()
for p in podman runc debootstrap; do command -v "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# runc (crun is not in bookworm's podman defaults everywhere) and the host's
# network: no CNI bridge is needed, a server in a container listens on the
# host's loopback directly.
if [ ! -f /etc/containers/containers.conf ] || ! grep -q 'netns = "host"' /etc/containers/containers.conf; then
  mkdir -p /etc/containers
  cat >/etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = []
netns = "host"

[engine]
runtime = "runc"
CONF
fi

if ! podman image exists docker.io/library/debian:bookworm-slim; then
  # the machine's own Debian mirror, as apt uses it
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  root=$(mktemp -d /tmp/rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" ${mirror:+"$mirror"} >/dev/null
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | podman import -q - docker.io/library/debian:bookworm-slim >/dev/null
  podman tag docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm
fi
echo "container engine ready: $(podman --version)"
