#!/usr/bin/env bash
# Installs what `npm test`, `npm run bench` and `npm run demo` need on a fresh machine:
# node_modules (npm ci, when missing or older than package-lock.json) and redis-server
# (Debian's package, when missing and we are root), promtool (Debian's prometheus package,
# optional) and etcd (Debian's etcd-server, for the HA tests). Otherwise says exactly what is missing.
# With --bench (npm run bench), also HAProxy, the benchmark's native reference relay.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "rbuddy: installing node dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# can_apt, apt_install
source scripts/apt.sh

if ! command -v redis-server >/dev/null 2>&1; then
  if can_apt; then
    echo "rbuddy: installing redis-server (apt-get)" >&2
    apt_install redis-server
  else
    echo "rbuddy: redis-server (Redis >= 7.0) is required: install it, e.g. 'sudo apt-get install redis-server'" >&2
    exit 1
  fi
fi
# The TLS tests and the bench's TLS rows make a throwaway CA and certificates with openssl.
if ! command -v openssl >/dev/null 2>&1; then
  if can_apt; then
    echo "rbuddy: installing openssl (apt-get)" >&2
    apt_install openssl
  else
    echo "rbuddy: openssl is required (the TLS tests make their certificates with it): install it, e.g. 'sudo apt-get install openssl'" >&2
    exit 1
  fi
fi
# promtool checks deploy/prometheus-rules.yml (test/unit/operator-kit.test.ts). Debian ships it in
# `prometheus` (a 19 MB download, once): installed as root with apt; otherwise the promtool tests fail
# and name the package.
if [ "${1:-}" != --bench ] && ! command -v promtool >/dev/null 2>&1; then
  if can_apt && apt_install prometheus; then
    echo "rbuddy: installed prometheus (apt-get) for promtool, which checks the alerting rules" >&2
  else
    echo "rbuddy: promtool not found: the check of deploy/prometheus-rules.yml will fail ('sudo apt-get install prometheus')" >&2
  fi
fi
# The Sentinel-compatibility tests compare rbuddy's RESP port with a real redis-sentinel, and run
# redis-py (Debian's python3-redis, imported by Debian's /usr/bin/python3) as a discovery client.
# Without them those tests fail and name the package; nothing else needs them.
if ! command -v redis-sentinel >/dev/null 2>&1; then
  if can_apt; then
    echo "rbuddy: installing redis-sentinel (apt-get)" >&2
    apt_install redis-sentinel
  else
    echo "rbuddy: redis-sentinel not found: the Sentinel comparison test will fail ('sudo apt-get install redis-sentinel')" >&2
  fi
fi
if ! /usr/bin/python3 -c 'import redis' >/dev/null 2>&1; then
  if can_apt; then
    echo "rbuddy: installing python3-redis (apt-get)" >&2
    apt_install python3 python3-redis
  else
    echo "rbuddy: Debian's python3-redis not found: the redis-py discovery test will fail ('sudo apt-get install python3-redis')" >&2
  fi
fi
# The HA tests run a 3-member etcd cluster (harness/etcd-cluster.ts) from Debian's etcd-server (3.4);
# Debian's package only registers a service (on fixed ports, not started in a container), which the
# tests never touch. Without it those tests fail and name the package.
if ! command -v etcd >/dev/null 2>&1; then
  if can_apt; then
    echo "rbuddy: installing etcd-server (apt-get)" >&2
    apt_install etcd-server
  else
    echo "rbuddy: etcd not found: the HA tests (test/functional/ha-*.test.ts) will fail ('sudo apt-get install etcd-server')" >&2
  fi
fi
# The Debian package may start a system service on a fixed port; the tests use their own
# servers on ephemeral ports and never touch it.

# `npm run bench` measures HAProxy beside rbuddy as the native reference relay. Optional: without
# it the bench leaves those rows out and says why.
if [ "${1:-}" = --bench ] && ! command -v haproxy >/dev/null 2>&1; then
  if can_apt && apt_install haproxy; then
    echo "rbuddy: installed haproxy (apt-get), the bench's native reference relay" >&2
  else
    echo "rbuddy: haproxy not found: the bench skips its HAProxy rows ('sudo apt-get install haproxy' adds them)" >&2
  fi
fi
