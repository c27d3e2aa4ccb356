#!/usr/bin/env bash
# `npm run image:smoke`: builds the repository's Dockerfile with a real Docker engine and runs the
# image against three local redis-servers (scripts/image-smoke.ts holds the checks). This part
# provides the engine and the base image:
#
# - an engine: the one `docker info` reaches (DOCKER_HOST or the default socket), else a dockerd
#   started here (root; Debian's docker.io installed when missing) with host networking only
#   (--bridge=none --iptables=false --ip6tables=false), its data-root, exec-root, socket and pidfile
#   under $RBUDDY_SMOKE_DIR, and stopped again, by its PID, on the way out;
# - `node:20-slim`: the engine's copy, else a pull, else (no registry answers) a stand-in built once
#   with debootstrap and kept in the engine under that tag: Debian bookworm minbase, this machine's
#   Node 20, an npm 10 from the npm registry, user `node` (uid/gid 1000), this machine's CA
#   certificates so that `npm ci` in the build verifies the registry it reaches.
#
# Takes minutes the first time (the stand-in), about one to two more each run after.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${RBUDDY_SMOKE_DIR:-/var/tmp/rbuddy-image-smoke}
say() { echo "image-smoke: $*" >&2; }
# can_apt, apt_install
source scripts/apt.sh
# Which tool is missing, and the package that has it.
need() {
  local tool=$1 package=$2 why=$3
  command -v "$tool" >/dev/null 2>&1 && return 0
  if can_apt; then
    say "installing $package (apt-get): $why"
    apt_install "$package"
  else
    say "missing: $tool ($why); install it, e.g. 'sudo apt-get install $package'"
    exit 1
  fi
}

# --- the engine ------------------------------------------------------------------------------
# The legacy builder: it needs no buildx plugin (Debian's docker.io has none), and the Dockerfile
# uses nothing BuildKit-only.
export DOCKER_BUILDKIT=0
started_pid=""
# Whether the engine is this script's own (its data-root under $work): only there are the dangling
# images of the smoke's builds pruned, never in an engine someone else runs.
own_engine=""
stop_engine() {
  if [ -n "$own_engine" ]; then
    docker image prune --force >/dev/null 2>&1 && say "pruned dangling images in $work/docker" || true
  fi
  [ -n "$started_pid" ] || return 0
  say "stopping the dockerd started here (pid $started_pid)"
  kill -TERM "$started_pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$started_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "dockerd (pid $started_pid) still running after 30 s: killing it"
  kill -KILL "$started_pid" 2>/dev/null || true
}
trap stop_engine EXIT

# Ctrl-C (SIGINT to the whole process group) or SIGTERM to this script: the checks are stopped
# (they remove their container, volume and redis-servers themselves), the container and volume
# are removed here too in case they could not, the engine started here is stopped (EXIT), and
# the exit status says which signal.
run_id=$$
export RBUDDY_SMOKE_RUN=$run_id
checks_pid=""
on_signal() {
  local signal=$1 number=$2
  trap '' INT TERM
  say "$signal: stopping the checks, removing the test container and volume"
  if [ -n "$checks_pid" ]; then
    kill -"$signal" "$checks_pid" 2>/dev/null || true
    wait "$checks_pid" 2>/dev/null || true
  fi
  docker rm --force "rbuddy-smoke-$run_id" >/dev/null 2>&1 || true
  docker volume rm --force "rbuddy-smoke-state-$run_id" >/dev/null 2>&1 || true
  exit $((128 + number))
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM

if docker info >/dev/null 2>&1; then
  say "using the running Docker engine ($(docker version --format '{{.Server.Version}}'))"
else
  if [ "$(id -u)" != 0 ]; then
    say "no Docker engine answers, and starting one needs root: start dockerd (or set DOCKER_HOST) and run again"
    exit 1
  fi
  need dockerd docker.io "no Docker engine answers, so one is started here"
  mkdir -p "$work/docker" "$work/exec"
  export DOCKER_HOST="unix://$work/docker.sock"
  if ! docker info >/dev/null 2>&1; then
    rm -f "$work/docker.sock"
    # Its own session: a Ctrl-C to this script's process group must not stop the engine before
    # the test container is removed (stop_engine stops it after).
    setsid dockerd --bridge=none --iptables=false --ip6tables=false \
      --data-root "$work/docker" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
      -H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
    started_pid=$!
    for _ in $(seq 1 600); do
      docker info >/dev/null 2>&1 && break
      if ! kill -0 "$started_pid" 2>/dev/null; then
        started_pid=""
        say "dockerd exited at start; the end of $work/dockerd.log:"
        tail -20 "$work/dockerd.log" >&2
        exit 1
      fi
      sleep 0.1
    done
    docker info >/dev/null 2>&1 || {
      say "dockerd did not answer within 60 s ($work/dockerd.log)"
      exit 1
    }
    say "started dockerd (pid $started_pid, data-root $work/docker, host networking only)"
  else
    say "using the dockerd already listening on $DOCKER_HOST"
  fi
  own_engine=1
fi
command -v docker >/dev/null 2>&1 || need docker docker.io "the Docker client"

# --- the base image --------------------------------------------------------------------------
base=node:20-slim
build_stand_in() {
  need debootstrap debootstrap "no registry answers, so a stand-in for $base is built"
  command -v node >/dev/null 2>&1 && node --version | grep -q '^v20\.' || {
    say "the stand-in for $base needs this machine's Node 20 (found: $(node --version 2>/dev/null || echo none))"
    exit 1
  }
  local rootfs="$work/rootfs" npm_dir
  if [ ! -d "$rootfs" ]; then
    say "debootstrap --variant=minbase bookworm (a few minutes, once)"
    rm -rf "$rootfs.partial"
    debootstrap --variant=minbase bookworm "$rootfs.partial" http://deb.debian.org/debian \
      >"$work/debootstrap.log" 2>&1 || {
      say "debootstrap failed; the end of $work/debootstrap.log:"
      tail -20 "$work/debootstrap.log" >&2
      exit 1
    }
    mv "$rootfs.partial" "$rootfs"
  fi
  # The image's layout of the official one: node and npm in /usr/local, user node 1000:1000.
  install -m 0755 "$(command -v node)" "$rootfs/usr/local/bin/node"
  npm_dir=$(mktemp -d)
  (cd "$npm_dir" && npm pack npm@10 --silent >/dev/null)
  rm -rf "$rootfs/usr/local/lib/node_modules/npm"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_dir"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  rm -rf "$npm_dir"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  grep -q '^node:' "$rootfs/etc/group" || chroot "$rootfs" groupadd --gid 1000 node
  grep -q '^node:' "$rootfs/etc/passwd" ||
    chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  mkdir -p "$rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$(node --version | cut -c2-)" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'LABEL rbuddy.stand-in="debootstrap bookworm minbase, the host node, npm 10"' \
    --change 'CMD ["node"]' - "$base" >/dev/null
}

if docker image inspect "$base" >/dev/null 2>&1; then
  :
elif timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
  say "pulled $base"
else
  say "no registry answers for $base: building the stand-in"
  build_stand_in
fi
if [ -n "$(docker image inspect "$base" --format '{{index .Config.Labels "rbuddy.stand-in"}}')" ]; then
  say "base $base: the local stand-in ($(docker run --rm --network none "$base" sh -c 'echo node $(node --version), npm $(npm --version)'))"
else
  say "base $base: $(docker image inspect "$base" --format '{{.Id}}')"
fi

# --- the checks ------------------------------------------------------------------------------
need redis-server redis-server "the three redis-servers the container runs against"
# In the background and waited for, so that a signal reaches on_signal at once; node with tsx's
# loader (not npx, not the tsx wrapper) so that the signal reaches the checks themselves.
node --import tsx scripts/image-smoke.ts "$@" &
checks_pid=$!
status=0
wait "$checks_pid" || status=$?
checks_pid=""
exit "$status"
