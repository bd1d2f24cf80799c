#!/usr/bin/env bash
# Validates deploy/ without a Kubernetes cluster or a systemd host:
#  - deploy/k8s: every file parses as YAML; the objects are checked against the
#    Kubernetes API models of Debian's python3-kubernetes (unknown or
#    misplaced fields, wrong types, missing required fields); and the fields
#    that must agree are checked together: probe paths and ports against the
#    container port and the image's EXPOSE, securityContext against the image's
#    USER, selectors against the pod labels, the HPA's target, the stop time
#    budget against the daemon's drain settings.  `kubectl kustomize` renders
#    the kustomization when kubectl is installed.  (`kubectl apply
#    --dry-run=client` needs an API server for discovery, so is not used.)
#  - deploy/systemd/rnnserve.service: `systemd-analyze verify` (on a copy whose
#    ExecStart points at an existing binary), the offline security score, and
#    its stop time-out against the drain settings.
#  - with --systemd-container: also runs the unit under a real systemd in a
#    podman container made from the rnnserve image (IMAGE, default
#    rnnserve:test, built by scripts/container-test.sh): start, answers,
#    hardening in effect, `systemctl reload` (SIGHUP), `systemctl stop`.
#
#   ./scripts/validate-deploy.sh [--systemd-container]
#   K8S_DIR=dir UNIT=file ./scripts/validate-deploy.sh    # check other copies
#
# Installs python3-yaml and python3-kubernetes with apt-get when missing
# (needs root then).  Prints PASS/FAIL lines and `deploy: N passed, N failed`;
# exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

run_container=0
for a in "$@"; do
  case "$a" in
    --systemd-container) run_container=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $a (see --help)" >&2; exit 2 ;;
  esac
done
IMAGE=${IMAGE:-rnnserve:test}
# other copies to check (the checks' own tests point these at broken copies)
K8S_DIR=${K8S_DIR:-deploy/k8s}
UNIT=${UNIT:-deploy/systemd/rnnserve.service}

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# counts the PASS/FAIL lines another program printed
tally() {
  local line
  while IFS= read -r line; do
    case "$line" in
      PASS\ *) ok "${line#PASS }" ;;
      FAIL\ *) bad "${line#FAIL }" ;;
      *) echo "$line" ;;
    esac
  done
}

tmp=$(mktemp -d /tmp/rnnserve-validate.XXXXXX)
container=""
cleanup() {
  [ -n "$container" ] && podman rm -f -t 0 "$container" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

# Debian's python, where python3-yaml and python3-kubernetes live (a pyenv or
# venv python3 first on PATH would not see them).
PY=/usr/bin/python3
need=()
[ -x "$PY" ] || need+=(python3)
"$PY" -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
"$PY" -c 'import kubernetes' 2>/dev/null || need+=(python3-kubernetes)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]}: run as root to install them" >&2
  fi
fi

# --- Kubernetes --------------------------------------------------------------
echo "== deploy/k8s"
if ! "$PY" - "$K8S_DIR" Dockerfile >"$tmp/k8s.out" 2>&1 <<'PYEOF'
import glob, os, re, sys

import yaml

k8s_dir, dockerfile = sys.argv[1], sys.argv[2]


def ok(msg):
    print("PASS " + msg)


def bad(msg):
    print("FAIL " + msg)


def check(cond, msg):
    (ok if cond else bad)(msg)
    return cond


# every file parses
docs = {}  # kind -> object
for path in sorted(glob.glob(os.path.join(k8s_dir, "*.yaml"))):
    try:
        with open(path) as f:
            loaded = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        bad(f"{path} parses as YAML: {e}")
        continue
    ok(f"{path} parses as YAML ({len(loaded)} document)")
    for d in loaded:
        if not check(isinstance(d, dict) and "apiVersion" in d and "kind" in d,
                     f"{path}: has apiVersion and kind"):
            continue
        if d["kind"] != "Kustomization":
            check(bool(d.get("metadata", {}).get("name")), f"{path}: {d['kind']} has a name")
        docs[d["kind"]] = (path, d)

for kind in ["Kustomization", "Deployment", "Service", "HorizontalPodAutoscaler"]:
    check(kind in docs, f"a {kind} is defined")
if not all(k in docs for k in ["Kustomization", "Deployment", "Service", "HorizontalPodAutoscaler"]):
    sys.exit(0)

# kustomization lists every manifest, and only existing ones
kust = docs["Kustomization"][1]
listed = sorted(kust.get("resources", []))
present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(k8s_dir, "*.yaml"))
                 if os.path.basename(p) != "kustomization.yaml")
check(listed == present, f"kustomization resources {listed} are the manifests {present}")

# schema: each object through the API models of the kubernetes client
try:
    import kubernetes.client as kc

    api = kc.ApiClient()
    have_v2 = hasattr(kc, "V2HorizontalPodAutoscaler")
    models = {
        ("apps/v1", "Deployment"): "V1Deployment",
        ("v1", "Service"): "V1Service",
        ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
        # autoscaling/v2 is v2beta2 made GA with the same schema; a client
        # older than Kubernetes 1.23 (Debian 12's is 1.22) has only v2beta2
        ("autoscaling/v2", "HorizontalPodAutoscaler"):
            "V2HorizontalPodAutoscaler" if have_v2 else "V2beta2HorizontalPodAutoscaler",
    }

    def diff(orig, back, where):
        """Fields of orig that the model dropped or changed."""
        out = []
        if isinstance(orig, dict):
            if not isinstance(back, dict):
                return [f"{where}: not an object"]
            for k, v in orig.items():
                if k not in back:
                    out.append(f"{where}.{k}: unknown field")
                else:
                    out += diff(v, back[k], f"{where}.{k}")
        elif isinstance(orig, list):
            if not isinstance(back, list) or len(back) != len(orig):
                return [f"{where}: not a list of {len(orig)}"]
            for i, (a, b) in enumerate(zip(orig, back)):
                out += diff(a, b, f"{where}[{i}]")
        elif orig != back or type(orig) is not type(back):
            out.append(f"{where}: {orig!r} read as {back!r}")
        return out

    for kind, (path, d) in sorted(docs.items()):
        if kind == "Kustomization":
            continue
        model = models.get((d["apiVersion"], kind))
        if not check(model is not None, f"{path}: {d['apiVersion']} {kind} is a known API"):
            continue
        try:
            obj = api._ApiClient__deserialize(d, model)
            problems = diff(d, api.sanitize_for_serialization(obj), kind)
        except (ValueError, TypeError) as e:
            problems = [str(e)]
        check(not problems, f"{path}: matches the {model} schema of kubernetes-client "
              f"{kc.__version__ if hasattr(kc, '__version__') else ''}".rstrip()
              + ("" if not problems else ": " + "; ".join(problems)))
except ImportError:
    print("SKIP schema check: python3-kubernetes is not installed")

# the image the manifests run
with open(dockerfile) as f:
    df = f.read()
m = re.search(r"^USER\s+(\d+)(?::(\d+))?", df, re.M)
image_uid = int(m.group(1)) if m else None
image_gid = int(m.group(2)) if m and m.group(2) else None
image_ports = [int(p) for p in re.findall(r"^EXPOSE\s+(\d+)", df, re.M)]
image_env = dict(re.findall(r"(RNNSERVE_[A-Z_]+)=(\S+)", df))

dep = docs["Deployment"][1]
spec = dep["spec"]
tmpl = spec["template"]
pod = tmpl["spec"]
labels = tmpl["metadata"].get("labels", {})
check(spec.get("replicas") == 2, "Deployment: 2 replicas")


def subset(sel):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


check(subset(spec["selector"].get("matchLabels")),
      "Deployment: selector.matchLabels match the pod template labels")
check(len(pod["containers"]) == 1, "Deployment: one container")
c = pod["containers"][0]
env = {e["name"]: e.get("value") for e in c.get("env", [])}
ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
check(list(ports.values()) == [8080], f"container port is 8080 (got {list(ports.values())})")
listen = int(env.get("RNNSERVE_PORT", image_env.get("RNNSERVE_PORT", 8080)))
check(listen in ports.values(), f"the daemon's port (RNNSERVE_PORT={listen}) is the container port")
check(listen in image_ports, f"the container port {listen} is the image's EXPOSE {image_ports}")


def port_of(ref):
    return ports.get(ref) if isinstance(ref, str) else ref


for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                    ("startupProbe", "/healthz")]:
    p = c.get(probe)
    if not check(p is not None and "httpGet" in p, f"{probe}: an httpGet probe"):
        continue
    g = p["httpGet"]
    check(g.get("path") == path, f"{probe}: path {g.get('path')} is {path}")
    check(port_of(g.get("port")) == listen,
          f"{probe}: port {g.get('port')!r} resolves to the listening port {listen}")

psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})


def eff(key):  # the container's setting wins over the pod's
    return csc.get(key, psc.get(key))


check(eff("runAsNonRoot") is True, "securityContext: runAsNonRoot")
check(eff("runAsUser") == 10001 and eff("runAsUser") == image_uid,
      f"securityContext: runAsUser {eff('runAsUser')} is the image's USER {image_uid}")
if image_gid is not None and eff("runAsGroup") is not None:
    check(eff("runAsGroup") == image_gid,
          f"securityContext: runAsGroup {eff('runAsGroup')} is the image's group {image_gid}")
check(csc.get("readOnlyRootFilesystem") is True, "securityContext: readOnlyRootFilesystem")
check(csc.get("allowPrivilegeEscalation") is False, "securityContext: allowPrivilegeEscalation false")
check("ALL" in csc.get("capabilities", {}).get("drop", []), "securityContext: drops ALL capabilities")
check(eff("privileged") in (None, False), "securityContext: not privileged")
check((eff("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost"),
      "securityContext: a seccomp profile")

res = c.get("resources", {})


def qty(v):
    s = str(v)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    for u in sorted(units, key=len, reverse=True):
        if s.endswith(u):
            return float(s[: -len(u)]) * units[u]
    return float(s)


for r in ["cpu", "memory"]:
    req, lim = res.get("requests", {}).get(r), res.get("limits", {}).get(r)
    if check(req is not None and lim is not None, f"resources: {r} request and limit set"):
        check(qty(req) <= qty(lim), f"resources: {r} request {req} <= limit {lim}")
mem_lim = qty(res.get("limits", {}).get("memory", "0"))
mem_req = qty(res.get("requests", {}).get("memory", "0"))
check(mem_req >= 160 * 2**20,
      "resources: memory request >= 160Mi (the shipped models loaded: 142 MiB, deploy/README.md)")
check(mem_lim >= 2 * mem_req and mem_lim >= 384 * 2**20,
      "resources: memory limit >= 2 x the request and >= 384Mi (a reload holds two model sets: "
      "347 MiB measured at its peak under load)")
threads = env.get("RNNSERVE_THREADS")
cpu_lim = res.get("limits", {}).get("cpu")
if threads is not None and cpu_lim is not None:
    check(int(threads) <= max(1, int(qty(cpu_lim) + 0.999)),
          f"RNNSERVE_THREADS={threads} fits the CPU limit {cpu_lim}")

# stop budget: preStop sleep + drain grace + drain timeout < terminationGracePeriodSeconds
pre = c.get("lifecycle", {}).get("preStop", {})
pre_s = 0
cmd = pre.get("exec", {}).get("command", [])
if cmd and os.path.basename(cmd[0]) == "sleep":
    pre_s = float(cmd[1])
elif "sleep" in pre:
    pre_s = float(pre["sleep"]["seconds"])
check(pre_s > 0, f"preStop waits for the endpoint removal ({pre_s:g} s)")


def setting(name, default):
    return int(env.get(name, image_env.get(name, default)))


grace = setting("RNNSERVE_SHUTDOWN_GRACE_SECONDS", 0)
timeout = setting("RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS", 10)
tgps = pod.get("terminationGracePeriodSeconds", 30)
check(pre_s + grace + timeout < tgps,
      f"preStop {pre_s:g} s + drain grace {grace} s + drain timeout {timeout} s "
      f"< terminationGracePeriodSeconds {tgps}")
check(env.get("OPENBLAS_NUM_THREADS", "1") == "1", "OPENBLAS_NUM_THREADS=1")

svc = docs["Service"][1]
check(svc["spec"].get("type", "ClusterIP") == "ClusterIP", "Service: ClusterIP")
check(subset(svc["spec"].get("selector")), "Service: selector matches the pod template labels")
sp = svc["spec"]["ports"]
check(len(sp) == 1 and sp[0]["port"] == 80, "Service: port 80")
check(len(sp) == 1 and port_of(sp[0].get("targetPort")) == listen,
      f"Service: targetPort {sp[0].get('targetPort')!r} resolves to the container port {listen}")

hpa = docs["HorizontalPodAutoscaler"][1]
check(hpa["apiVersion"] == "autoscaling/v2", "HPA: autoscaling/v2")
ref = hpa["spec"]["scaleTargetRef"]
check(ref.get("kind") == "Deployment" and ref.get("name") == dep["metadata"]["name"]
      and ref.get("apiVersion") == "apps/v1",
      f"HPA: targets apps/v1 Deployment {dep['metadata']['name']}")
lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
check(1 <= lo <= hi, f"HPA: 1 <= minReplicas {lo} <= maxReplicas {hi}")
check(lo <= spec.get("replicas", 1) <= hi, "HPA: the Deployment's replicas lie within min..max")
cpu = [m for m in hpa["spec"].get("metrics", [])
       if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
       and m["resource"]["target"]["type"] == "Utilization"]
check(len(cpu) == 1, "HPA: scales on CPU utilisation")
check("cpu" in res.get("requests", {}), "HPA: the container requests CPU (utilisation is relative to it)")

if "PodDisruptionBudget" in docs:
    pdb = docs["PodDisruptionBudget"][1]
    check(subset(pdb["spec"]["selector"].get("matchLabels")),
          "PodDisruptionBudget: selector matches the pod template labels")
    check(pdb["spec"].get("minAvailable", 0) < lo,
          "PodDisruptionBudget: minAvailable below the minimum replicas (drains can proceed)")
PYEOF
then
  echo "FAIL the Kubernetes checks stopped with an error" >>"$tmp/k8s.out"
fi
tally <"$tmp/k8s.out"

if command -v kubectl >/dev/null; then
  if kubectl kustomize "$K8S_DIR" >"$tmp/rendered.yaml" 2>"$tmp/kustomize.err"; then
    n=$(grep -c '^kind:' "$tmp/rendered.yaml" || true)
    ok "kubectl kustomize $K8S_DIR renders $n objects ($(kubectl version --client 2>/dev/null | head -1))"
  else
    bad "kubectl kustomize $K8S_DIR: $(head -3 "$tmp/kustomize.err")"
  fi
else
  echo "SKIP kubectl kustomize: kubectl is not installed"
fi

# --- systemd -----------------------------------------------------------------
echo "== deploy/systemd"
unit=$UNIT
if command -v systemd-analyze >/dev/null; then
  # verify insists that ExecStart exists: a copy (same unit name) pointing at
  # the built daemon, or at /bin/true when it is not built
  bin="$repo/build/src/serve/rnnserve"
  [ -x "$bin" ] || bin=/bin/true
  mkdir -p "$tmp/unit"
  sed "s#^ExecStart=[^ ]*#ExecStart=$bin#" "$unit" >"$tmp/unit/rnnserve.service"
  if out=$(systemd-analyze verify "$tmp/unit/rnnserve.service" 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify $unit (ExecStart=$bin): no complaint"
  else
    bad "systemd-analyze verify $unit: ${out:-non-zero exit}"
  fi
  score=$(systemd-analyze security --offline=yes "$tmp/unit/rnnserve.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    ok "systemd-analyze security --offline: exposure $score (<= 2.0, 'OK')"
  else
    bad "systemd-analyze security --offline: exposure ${score:-unknown} (want <= 2.0)"
  fi
else
  echo "SKIP systemd-analyze: not installed"
fi
if ! "$PY" - "$unit" >"$tmp/unit.out" 2>&1 <<'PYEOF'
import re, sys

path = sys.argv[1]
keys = {}
for line in open(path):
    line = line.strip()
    if line and not line.startswith(("#", ";", "[")) and "=" in line:
        k, v = line.split("=", 1)
        keys.setdefault(k, []).append(v)
one = lambda k: keys.get(k, [None])[-1]
env = dict(e.split("=", 1) for v in keys.get("Environment", []) for e in v.split())


def check(cond, msg):
    print(("PASS " if cond else "FAIL ") + msg)


def seconds(v):
    m = re.fullmatch(r"(\d+)(s|min)?", v or "")
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1) if m else None


grace = int(env.get("RNNSERVE_SHUTDOWN_GRACE_SECONDS", 0))
timeout = int(env.get("RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS", 10))
stop = seconds(one("TimeoutStopSec"))
check(stop is not None and stop > grace + timeout,
      f"TimeoutStopSec {one('TimeoutStopSec')} > drain {grace} + {timeout} s")
check(one("KillSignal") == "SIGTERM", "KillSignal=SIGTERM")
check("HUP" in (one("ExecReload") or "") and "$MAINPID" in (one("ExecReload") or ""),
      "ExecReload sends SIGHUP to the main process")
check(env.get("OPENBLAS_NUM_THREADS") == "1", "Environment=OPENBLAS_NUM_THREADS=1")
check(any(v.startswith("-") for v in keys.get("EnvironmentFile", [])), "an optional EnvironmentFile")
check(one("DynamicUser") == "yes" or (one("User") not in (None, "root")), "not root (DynamicUser)")
for k, v in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
             ("PrivateTmp", "yes"), ("CapabilityBoundingSet", "")]:
    check(one(k) == v, f"{k}={v}")
PYEOF
then
  echo "FAIL the unit checks stopped with an error" >>"$tmp/unit.out"
fi
tally <"$tmp/unit.out"

# --- systemd for real, in a container ----------------------------------------
if [ "$run_container" -eq 1 ]; then
  echo "== $unit under systemd in a container (image $IMAGE)"
  if ! podman image exists "$IMAGE"; then
    podman build --format docker -t "$IMAGE" . >"$tmp/build.log" 2>&1 || {
      tail -20 "$tmp/build.log"
      bad "build $IMAGE"
    }
  fi
  mkdir -p "$tmp/ctx" "$tmp/etc"
  cp "$unit" "$tmp/ctx/rnnserve.service"
  cat >"$tmp/ctx/Containerfile" <<EOF
FROM $IMAGE
USER root
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY rnnserve.service /etc/systemd/system/rnnserve.service
# without the image's static user, DynamicUser= allocates one, as on a host
RUN userdel rnnserve && systemctl enable rnnserve.service
HEALTHCHECK NONE
ENTRYPOINT ["/lib/systemd/systemd"]
EOF
  if podman build -t rnnserve-systemd:test "$tmp/ctx" >"$tmp/build-systemd.log" 2>&1; then
    ok "an image with systemd and the unit builds"
    port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # the optional EnvironmentFile, used to move the port
    printf 'RNNSERVE_PORT=%s\nRNNSERVE_THREADS=2\n' "$port" >"$tmp/etc/rnnserve.env"
    container="rnnserve-systemd-$$"
    podman run -d --name "$container" --network host --systemd=always \
      -v "$tmp/etc:/etc/rnnserve:ro" rnnserve-systemd:test >/dev/null
    code=000
    for _ in $(seq 150); do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" || true)
      [ "$code" = 200 ] && break
      sleep 0.2
    done
    sx() { podman exec "$container" "$@"; }
    if [ "$code" = 200 ]; then
      ok "started by systemd, /readyz 200 on the EnvironmentFile's port $port"
    else
      bad "started by systemd, /readyz 200 (got $code)"
      sx systemctl status rnnserve --no-pager || true
    fi
    body=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$port/classify" -d '{"name":"Nakamura","top_k":1}' || true)
    case "$body" in *'"label":"Japanese"'*) ok "POST /classify answers under the hardening" ;;
      *) bad "POST /classify under the hardening: $body" ;; esac
    # shellcheck disable=SC2016 # expanded by the container's shell
    st=$(sx sh -c 'grep -E "^(Uid|NoNewPrivs|Seccomp|CapEff):" /proc/$(systemctl show -p MainPID --value rnnserve)/status' || true)
    uid=$(awk '/^Uid:/ {print $2}' <<<"$st")
    if [ -n "$uid" ] && [ "$uid" != 0 ]; then
      ok "runs as a non-root dynamic user (uid $uid)"
    else
      bad "runs as a non-root user ($st)"
    fi
    if grep -q 'NoNewPrivs:[[:space:]]*1' <<<"$st" && grep -q 'Seccomp:[[:space:]]*2' <<<"$st" &&
      grep -q 'CapEff:[[:space:]]*0000000000000000' <<<"$st"; then
      ok "no new privileges, seccomp filter, no capabilities in effect"
    else
      bad "hardening in effect: $st"
    fi
    if sx systemctl reload rnnserve && sleep 1 &&
      sx journalctl -u rnnserve --no-pager | grep -q '"event":"reloaded"'; then
      ok "systemctl reload: SIGHUP reloads the models"
    else
      bad "systemctl reload: no \"reloaded\" event"
    fi
    t0=$(date +%s%N)
    sx systemctl stop rnnserve || true
    ms=$((($(date +%s%N) - t0) / 1000000))
    props=$(sx systemctl show -p Result -p ExecMainStatus rnnserve | tr '\n' ' ')
    case "$props" in *Result=success*ExecMainStatus=0* | *ExecMainStatus=0*Result=success*)
        ok "systemctl stop: drained and exited 0 in $ms ms ($props)" ;;
      *) bad "systemctl stop: $props" ;; esac
  else
    tail -20 "$tmp/build-systemd.log"
    bad "an image with systemd and the unit builds"
  fi
fi

echo "deploy: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
