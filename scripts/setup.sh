#!/usr/bin/env bash
# Installs what the tests and the demo need and a fresh machine may lack: redis-server (Debian's
# package, 7.0 on bookworm), valkey-server (8.0, from bookworm-backports), and the Rust components
# used by CI (rustfmt, clippy). Safe to run again; does nothing when everything is there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_install() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
updated=""
apt_update() {
  if [ -z "$updated" ]; then
    $SUDO apt-get update -qq
    updated=1
  fi
}

if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: redis-server not found; installing Debian's redis-server package" >&2
  apt_update
  apt_install redis-server
fi

if ! command -v valkey-server >/dev/null 2>&1; then
  echo "setup: valkey-server not found; installing it (Debian backports)" >&2
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  list=/etc/apt/sources.list.d/rapyer-backports.sources
  if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$codename" | $SUDO tee "$list" >/dev/null
    updated=""
  fi
  apt_update
  # Newer releases have it in main; bookworm has it in backports only.
  apt_install -t "${codename}-backports" valkey-server || apt_install valkey-server
  # The tests start their own servers; a packaged service must not hold port 6379.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now valkey-server >/dev/null 2>&1 || true
  fi
fi
redis-server --version
valkey-server --version

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
