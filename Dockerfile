# rnnserve: the HTTP daemon and the training tool, with the shipped models.
#
#   podman build --format docker -t rnnserve .      # or: docker build -t rnnserve .
#   podman run --rm -p 8080:8080 rnnserve            # serves models/ on 0.0.0.0:8080
#   podman run --rm -p 8080:8080 -v "$PWD/mymodels:/opt/rnnserve/models:ro" rnnserve  # your models
#   podman run --rm -p 9090:9090 -e RNNSERVE_PORT=9090 -e RNNSERVE_THREADS=4 rnnserve # any setting
#   podman run --rm --entrypoint rnntrain rnnserve info --model /opt/rnnserve/models/names-classifier.safetensors
#
# (`--format docker` keeps the HEALTHCHECK: podman's default OCI format has no
# field for it and drops it with a warning.)  Deployment notes: deploy/README.md.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---- build stage: compilers and -dev packages, never shipped ----
FROM ${DEBIAN_IMAGE} AS build
# The package list of scripts/install-deps.sh, without the test extras.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev meson ninja-build pkg-config \
      libopenblas-dev libcjson-dev libmicrohttpd-dev libutf8proc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads, so editing tests, docs or models does not
# invalidate the compile layer.
COPY meson.build meson_options.txt ./
COPY include include
COPY src src
# -Dtests=false: no test suites and no libcurl in the image.  `meson install
# --strip` puts stripped rnnserve and rnntrain in /out/usr/local/bin.
RUN meson setup /build --buildtype=release -Dtests=false \
 && meson compile -C /build \
 && meson install -C /build --strip --destdir /out

# ---- runtime stage ----
FROM ${DEBIAN_IMAGE}
# The runtime halves of the -dev packages above (dpkg -S on the libraries the
# binaries link): libopenblas-dev defaults to the pthread variant, whose
# library is in libopenblas0-pthread (it brings libgfortran5); libcjson-dev ->
# libcjson1; libmicrohttpd-dev -> libmicrohttpd12 (brings gnutls);
# libutf8proc-dev -> libutf8proc2.
# `apt-get clean` and the *.bin caches: the official -slim image drops them
# with an apt hook, a debootstrapped base does not (85 MB more here).
# uid/gid 10001: the ids deploy/ refers to.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas0-pthread libcjson1 libmicrohttpd12 libutf8proc2 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 rnnserve \
 && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init --home-dir /nonexistent \
      --shell /usr/sbin/nologin rnnserve

COPY --from=build /out/usr/local/bin/ /usr/local/bin/
# Health probe without curl or wget: a 30-line bash script that speaks HTTP
# over bash's /dev/tcp.  bash is in every Debian image, so it adds no package
# (curl brings libcurl4 and its OpenSSL, SSH, LDAP, Kerberos, HTTP/2 and RTMP
# libraries; Debian's wget is 3.5 MB with PCRE2; busybox is the lightest at
# 0.8 MB, but is a second userland to keep patched, for one GET).
COPY deploy/container/rnnserve-healthcheck /usr/local/bin/rnnserve-healthcheck
# Owned by root and read-only for the daemon's user; mount a folder over
# /opt/rnnserve/models to serve other models (SIGHUP reloads it).
COPY models/README.md models/*.safetensors /opt/rnnserve/models/

# Settings as environment rather than flags in CMD: a flag would win over the
# variable, so `-e RNNSERVE_PORT=...` could not override it.  The daemon's own
# defaults already are host 0.0.0.0 and port 8080; they are repeated here so
# that the image documents them and the health probe reads the same values.
# OPENBLAS_NUM_THREADS=1: requests are the parallelism (the daemon sets one
# BLAS thread too, but only after OpenBLAS has started its pool).
# RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS=8 (daemon default 10): the drain then ends
# inside the 10 s that `docker stop`/`podman stop` wait before SIGKILL.
ENV OPENBLAS_NUM_THREADS=1 \
    RNNSERVE_MODELS=/opt/rnnserve/models \
    RNNSERVE_HOST=0.0.0.0 \
    RNNSERVE_PORT=8080 \
    RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS=8

USER 10001:10001
WORKDIR /opt/rnnserve
EXPOSE 8080
# /healthz answers as soon as the daemon listens (before the models load);
# /readyz is for load balancers and Kubernetes' readiness probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/rnnserve-healthcheck", "/healthz"]
# SIGTERM drains (readiness off, in-flight requests finish, exit 0) within
# RNNSERVE_SHUTDOWN_GRACE_SECONDS + RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS (0 + 8
# here): keep the engine's stop timeout above that if you raise them
# (`podman stop -t N`, `docker run --stop-timeout N`, or
# terminationGracePeriodSeconds in Kubernetes).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rnnserve"]
CMD []
