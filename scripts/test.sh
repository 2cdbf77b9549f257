#!/usr/bin/env bash
# Runs the whole test suite. Tests start their own redis-server processes; set REDIS_URL to use an
# external server instead (each test then works under its own key namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
