#!/usr/bin/env bash
# The container images, built and run end to end: no Docker engine and no container registry,
# only Debian's podman (run as root). Idempotent; safe on a fresh Debian 12 machine.
#
#   1. installs podman & co. with apt (once) and points podman at its own engine settings
#      (CONTAINERS_CONF: runc, cgroupfs, ulimits this host allows; nothing global is changed);
#   2. builds local stand-ins for the base images the Dockerfiles name (registries are out of
#      reach): Debian by debootstrap + `podman import`, Debian's Python 3.11, torch 2.13.0 (the CPU
#      wheel pip finds on this host, else PyPI's CUDA one) and Debian's redis-server. Built once,
#      kept; tagged localhost/taskonomy-stand-in/*: never push them;
#   3. builds the four images from docker/service and docker/worker/Dockerfile as they are,
#      pointed at the stand-ins by build arguments (layer cache: unchanged images take seconds);
#   4. runs Redis, the solver, the gateway, the trainer and the transfer worker in their own
#      containers on one podman network with one shared artifact volume, submits a tiny experiment
#      over REST, polls it to SUCCEEDED, and asks for its taxonomy (the gateway calls the solver).
#
# Prints the build times and image sizes, then PASS or FAIL (exit status 1), and removes its
# containers, network and volume in every case (the images stay, for the layer cache).
#
# Environment: TASKONOMY_E2E_WORK (stand-in build state, default /var/tmp/taskonomy-images),
# TASKONOMY_E2E_PORT (the gateway's port on the host, default 18000),
# TASKONOMY_E2E_TIMEOUT (seconds for the experiment to succeed, default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WORK=${TASKONOMY_E2E_WORK:-/var/tmp/taskonomy-images}
PORT=${TASKONOMY_E2E_PORT:-18000}
TIMEOUT=${TASKONOMY_E2E_TIMEOUT:-900}
STAND_IN=localhost/taskonomy-stand-in
DEBIAN_IMAGE=$STAND_IN/debian:bookworm
PYTHON_IMAGE=$STAND_IN/python:3.11-bookworm
TORCH_IMAGE=$STAND_IN/torch:2.13.0
REDIS_IMAGE=$STAND_IN/redis:7.0
TAG=e2e
NAME=taskonomy-e2e            # prefix of the containers, the network and the volume
TOKEN=e2e-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
SUMMARY=()

CONTAINERS=(gateway trainer transfer solver redis)
dump_logs() {
  command -v podman >/dev/null 2>&1 || return 0
  for c in "${CONTAINERS[@]}"; do
    podman container exists "$NAME-$c" 2>/dev/null || continue
    echo "----- podman logs $NAME-$c (last 40 lines) -----"
    podman logs --tail 40 "$NAME-$c" 2>&1 || true
  done
}
log() { printf '[images-e2e %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
note() { SUMMARY+=("$*"); log "$*"; }
fail() {
  log "FAIL: $*"
  dump_logs
  echo "images-e2e: FAIL ($*)"
  exit 1
}
[ "$(id -u)" = "0" ] || { echo "images-e2e: run as root (podman builds and runs rootful here)" >&2; exit 2; }
mkdir -p "$WORK"

# --- 1. packages and engine settings ------------------------------------------------------------
packages=(podman buildah runc netavark aardvark-dns iptables debootstrap containernetworking-plugins)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# crun 1.8 refuses these hybrid cgroups (runc, cgroupfs); root cannot raise RLIMIT_NOFILE past the
# hard limit here, and podman's default (1048576) would fail every container start.
nofile=$(ulimit -Hn)
[ "$nofile" = "unlimited" ] && nofile=1048576
export CONTAINERS_CONF=$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
podman info >/dev/null || fail "podman does not work here"

# --- 2. stand-in base images (once) -----------------------------------------------------------------
have_image() { podman image exists "$1"; }

if ! have_image "$DEBIAN_IMAGE"; then
  t0=$SECONDS
  # the mirror apt already uses (deb822 sources first, then the one-line format)
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  log "debootstrap bookworm from $mirror"
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  # apt's package lists and caches are refetched by every image that installs anything (as in Docker's)
  rm -rf "$WORK"/rootfs/var/lib/apt/lists/* "$WORK"/rootfs/var/cache/apt/*.bin "$WORK"/rootfs/var/cache/apt/archives/*.deb
  tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs"
  note "stand-in $DEBIAN_IMAGE: $((SECONDS - t0)) s (debootstrap + import)"
fi

build_stand_in() {  # IMAGE CONTAINERFILE [podman build args...]
  local image=$1 file=$2 t0=$SECONDS
  shift 2
  have_image "$image" && return 0
  log "building stand-in $image"
  nice -n 10 podman build --pull=never --format docker -f "$ROOT/docker/stand-ins/$file" -t "$image" "$@" \
    "$WORK/context" || fail "building $image"
  note "stand-in $image: $((SECONDS - t0)) s"
}
# The stand-ins' build context: the host's extra CA certificates (a TLS-intercepting proxy signs
# PyPI's certificates here) and the local CPU torch wheel, if pip has one.
rm -rf "$WORK/context" && mkdir -p "$WORK/context/certs" "$WORK/context/wheels"
cp /usr/local/share/ca-certificates/*.crt "$WORK/context/certs/" 2>/dev/null || true
pip_cmd=(python3 -m pip)
[ -x .venv/bin/pip ] && pip_cmd=(.venv/bin/pip)
find_links=$( ("${pip_cmd[@]}" config list 2>/dev/null || true) | sed -n "s/.*find-links='\(.*\)'/\1/p" | tr '\n' ' ')
for dir in ${PIP_FIND_LINKS:-} $find_links; do
  wheel=$(ls "${dir#file://}"/torch-2.13.0+cpu-cp311-*.whl 2>/dev/null | head -n1 || true)
  if [ -n "$wheel" ]; then cp "$wheel" "$WORK/context/wheels/"; break; fi
done
if ls "$WORK/context/wheels"/torch-*.whl >/dev/null 2>&1; then
  torch_kind="CPU wheel $(basename "$WORK"/context/wheels/torch-*.whl)"
else
  torch_kind="PyPI's torch==2.13.0 (CUDA build: no local CPU wheel found)"
fi
build_stand_in "$PYTHON_IMAGE" python.Containerfile --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE"
build_stand_in "$REDIS_IMAGE" redis.Containerfile --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE"
if ! have_image "$TORCH_IMAGE"; then log "torch stand-in from $torch_kind"; fi
build_stand_in "$TORCH_IMAGE" torch.Containerfile --build-arg PYTHON_IMAGE="$PYTHON_IMAGE"

# --- 3. the four images, from the project's Dockerfiles (as they are; bases by build argument) ------
image_size() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.2f GB", $1 / 1e9}'; }
build_image() {  # NAME DOCKERFILE [build args...]
  local name=$1 dockerfile=$2 t0=$SECONDS
  shift 2
  log "building localhost/taskonomy/$name:$TAG"
  nice -n 10 podman build --pull=never --format docker -f "docker/$dockerfile/Dockerfile" \
    -t "localhost/taskonomy/$name:$TAG" "$@" . >"$WORK/build-$name.log" 2>&1 \
    || { tail -n 40 "$WORK/build-$name.log"; fail "building the $name image (log: $WORK/build-$name.log)"; }
  note "image taskonomy/$name: built in $((SECONDS - t0)) s, $(image_size "localhost/taskonomy/$name:$TAG")"
}
build_image gateway service --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg SERVICE=gateway --build-arg PORT=8000
build_image solver service --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg SERVICE=solver --build-arg PORT=50051
build_image trainer worker --build-arg TORCH_IMAGE="$TORCH_IMAGE" --build-arg WORKER=trainer
build_image transfer worker --build-arg TORCH_IMAGE="$TORCH_IMAGE" --build-arg WORKER=transfer
note "stand-in bases: python $(image_size "$PYTHON_IMAGE"), torch $(image_size "$TORCH_IMAGE") ($torch_kind)"

# Each image runs what it was built for (a stale layer cache once gave the transfer image the
# trainer's command), and holds what it should: no torch in the service images, no numba in the
# solver's, torch in the workers'.
default_args() { podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "localhost/taskonomy/$1:$TAG" \
  | sed -n 's/^TASKONOMY_DEFAULT_ARGS=//p'; }
for expected in "gateway:serve gateway --host 0.0.0.0 --port 8000" "solver:serve solver --host 0.0.0.0 --port 50051" \
                "trainer:worker trainer" "transfer:worker transfer"; do
  image=${expected%%:*}
  [ "$(default_args "$image")" = "${expected#*:}" ] \
    || fail "the $image image runs '$(default_args "$image")', not '${expected#*:}'"
done
has_module() { podman run --rm --pull=never --entrypoint python "localhost/taskonomy/$1:$TAG" -c \
  "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$2') else 1)"; }
for image in gateway solver; do ! has_module "$image" torch || fail "the $image image has torch"; done
for module in numba kubernetes; do ! has_module solver "$module" || fail "the solver image has $module"; done
for image in trainer transfer; do has_module "$image" torch || fail "the $image image lacks torch"; done

# --- 4. end to end: five containers, one network, one artifact volume --------------------------------
cleanup() {
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 10 "$NAME-$c" >/dev/null 2>&1 || true; done
  podman network rm -f "$NAME" >/dev/null 2>&1 || true
  podman volume rm -f "$NAME-artifacts" >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM
podman network create "$NAME" >/dev/null
podman volume create "$NAME-artifacts" >/dev/null
t_up=$SECONDS
run() {  # CONTAINER [podman run options...] IMAGE [args...]
  local c=$1
  shift
  # (stderr to a log: without systemd, podman complains on every start that it cannot time health checks)
  podman run -d --pull=never --name "$NAME-$c" --network "$NAME" --network-alias "$c" "$@" >/dev/null \
    2>>"$WORK/podman-run.log" || { tail -n 5 "$WORK/podman-run.log"; fail "starting the $c container"; }
}
run redis "$REDIS_IMAGE"
run solver --read-only --tmpfs /tmp "localhost/taskonomy/solver:$TAG"
worker_env=(-e TASKONOMY_BROKER_URL=redis://redis:6379/0 -e TASKONOMY_STORE_URL=file:///data/artifacts)
run gateway --read-only --tmpfs /tmp -v "$NAME-artifacts:/data" -p "127.0.0.1:$PORT:8000" "${worker_env[@]}" \
  -e TASKONOMY_SOLVER_ADDRESS=solver:50051 -e TASKONOMY_API_TOKENS="$TOKEN" "localhost/taskonomy/gateway:$TAG"
for w in trainer transfer; do
  run "$w" --read-only --tmpfs /tmp -v "$NAME-artifacts:/data" "${worker_env[@]}" "localhost/taskonomy/$w:$TAG"
done

# No systemd here: health checks run only when asked (podman healthcheck run; the images' own).
wait_healthy() {  # CONTAINER SECONDS
  local deadline=$((SECONDS + $2))
  until podman healthcheck run "$NAME-$1" >/dev/null 2>&1; do
    [ "$(podman inspect --format '{{.State.Running}}' "$NAME-$1")" = "true" ] || fail "the $1 container exited"
    [ $SECONDS -lt $deadline ] || fail "the $1 container not healthy after $2 s"
    sleep 2
  done
}
wait_healthy solver 120
wait_healthy gateway 120
note "containers up, solver and gateway healthy: $((SECONDS - t_up)) s"

t_run=$SECONDS
if ! python3 scripts/images_e2e_rest.py "http://127.0.0.1:$PORT" --token "$TOKEN" --timeout "$TIMEOUT" \
     | tee "$WORK/rest.log"; then
  fail "the experiment through the containers"
fi
for c in "${CONTAINERS[@]}"; do
  [ "$(podman inspect --format '{{.State.Running}}' "$NAME-$c")" = "true" ] || fail "the $c container stopped"
done
note "end to end (submit, run to SUCCEEDED, taxonomy): $((SECONDS - t_run)) s"
# The taxonomy came from the solver container: without it, a new query fails.
podman stop -t 5 "$NAME-solver" >/dev/null
experiment=$(sed -n 's/^EXPERIMENT=//p' "$WORK/rest.log")
python3 scripts/images_e2e_rest.py "http://127.0.0.1:$PORT" --solver-down "$experiment" \
  || fail "taxonomy queries without the solver container"

echo
echo "images-e2e summary:"
printf '  %s\n' "${SUMMARY[@]}"
echo "images-e2e: PASS"
