#!/usr/bin/env bash
# The main job: regenerate the example from schemas/, then run the quickstart and the leaderboard
# demo (seed, play, top, rank, transfer, race) against a private redis-server (or against
# REDIS_URL when it is set), then the same demo on a private 3-master cluster (scripts/cluster-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo run -q -p rapyer-gen -- schemas -o generated-example/src/generated

url="${REDIS_URL:-}"
if [ -z "$url" ]; then
  dir=$(mktemp -d)
  redis-server --port 0 --unixsocket "$dir/redis.sock" --save "" --appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do [ -S "$dir/redis.sock" ] && break; sleep 0.05; done
  url="redis+unix://$dir/redis.sock"
fi
cargo run -q -p rapyer-example --bin quickstart -- "$url"

cargo build -q -p rapyer-example --bin leaderboard
bin="${CARGO_TARGET_DIR:-target}/debug/leaderboard"
demo() { echo "\$ leaderboard $*"; "$bin" --redis "$url" --namespace demo "$@"; }
demo seed 200
demo play --games 2000 --tasks 16
demo top --n 5
demo rank player7
demo transfer player1 player2 3
demo race --tasks 32 --increments 100

echo
echo "The same demo on a Redis Cluster:"
bash scripts/cluster-demo.sh
