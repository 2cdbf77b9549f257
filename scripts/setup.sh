#!/usr/bin/env bash
# Installs what the tests and the demo need and a fresh machine may lack: redis-server (Debian's
# package) and the Rust components used by CI (rustfmt, clippy). Safe to run again.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: redis-server not found; installing Debian's redis-server package" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
