#!/usr/bin/env bash
# The leaderboard demo on a Redis Cluster: starts a private cluster of 3 masters and 3 replicas
# (redis-server on free ports, joined with redis-cli --cluster create), runs seed, play, top,
# rank, transfer and race against it with --cluster, and stops every node (by pid) at the end.
# REDIS_CLUSTER_URLS (comma-separated) runs it against an existing cluster instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null

urls="${REDIS_CLUSTER_URLS:-}"
if [ -z "$urls" ]; then
  dir=$(mktemp -d)
  pids=()
  cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
  }
  trap cleanup EXIT
  # Six free ports below 55535 (a node also listens on its port + 10000).
  ports=()
  port=$((20000 + RANDOM % 30000))
  while [ "${#ports[@]}" -lt 6 ]; do
    port=$((port + 1))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
      && ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; then
      ports+=("$port")
    fi
  done
  for p in "${ports[@]}"; do
    mkdir -p "$dir/$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 1000 \
      --cluster-require-full-coverage no --appendonly no --save "" \
      --repl-diskless-sync-delay 0 --dir "$dir/$p" --logfile "$dir/$p/log" \
      --daemonize yes --pidfile "$dir/$p/pid"
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 200); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.02; done
    pids+=("$(cat "$dir/$p/pid")")
  done
  redis-cli --cluster create $(for p in "${ports[@]}"; do echo "127.0.0.1:$p"; done) \
    --cluster-replicas 1 --cluster-yes >/dev/null
  for p in "${ports[@]}"; do
    for _ in $(seq 500); do
      redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break
      sleep 0.02
    done
  done
  urls=$(for p in "${ports[@]:0:3}"; do printf 'redis://127.0.0.1:%s,' "$p"; done)
  urls=${urls%,}
  echo "a cluster of 3 masters and 3 replicas on ports ${ports[*]}"
fi

cargo build -q -p rapyer-example --bin leaderboard
bin="${CARGO_TARGET_DIR:-target}/debug/leaderboard"
demo() { echo "\$ leaderboard --cluster ... $*"; "$bin" --cluster "$urls" --namespace demo "$@"; }
demo seed 200
demo play --games 2000 --tasks 16
demo top --n 5
demo rank player7
demo transfer player1 player2 3
demo race --tasks 32 --increments 100
