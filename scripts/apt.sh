# Sourced by scripts/ensure-env.sh and scripts/image-smoke.sh: installing a Debian package when we
# are root and have apt (one `apt-get update` per run, the first time one is needed).
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then
    apt-get update -qq >&2
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
