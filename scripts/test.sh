#!/usr/bin/env bash
# Runs the whole test suite as three jobs: Redis 7.0 over RESP2 (everything: unit, integration,
# doc tests, benchmark smoke runs), then every test that talks to a server again over RESP3, then
# against Valkey 8. Tests
# start their own servers; set REDIS_URL / REDIS_CLUSTER_URLS to use external ones instead (each
# test then works under its own key namespace).
#
#   bash scripts/test.sh                   # the three jobs
#   bash scripts/test.sh --job resp3       # one job: redis, resp3 or valkey
#   bash scripts/test.sh -- <cargo args>   # extra arguments for cargo test (a test name, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="redis resp3 valkey"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --job) jobs="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) extra+=("$1"); shift ;;
  esac
done
bash scripts/setup.sh
# The binaries some tests run (rapyer-gen, the demo) are built once here, with the workspace's
# features, so that no test falls back to a `cargo run` that compiles them again.
cargo build --locked --workspace --bins
# The end-to-end tests are one binary, `suite` (plus `tls_provider`, which needs a process of its
# own). Its `offline` modules never talk to a server (generation, snapshots, reviews, the
# build.rs crate): the redis job runs them; the protocol and server jobs, whose point is the
# server, skip them.
server_tests=(--test suite --test tls_provider)
skip_offline=(-- --skip offline::)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
       END { printf "%d passed, %d failed\n", p, f }' "$1"
}
status=0
results=()
for job in $jobs; do
  job_log=$(mktemp)
  echo "=== job $job"
  set +e
  case "$job" in
    redis)
      { cargo test --locked --workspace --doc && cargo test --locked --workspace --all-targets --no-fail-fast "${extra[@]}"; } 2>&1 | tee "$job_log"
      ;;
    resp3)
      RAPYER_TEST_PROTOCOL=resp3 cargo test --locked --workspace --lib --bins "${server_tests[@]}" --no-fail-fast "${extra[@]}" "${skip_offline[@]}" 2>&1 | tee "$job_log"
      ;;
    valkey)
      RAPYER_TEST_SERVER=valkey cargo test --locked --workspace --lib --bins "${server_tests[@]}" --no-fail-fast "${extra[@]}" "${skip_offline[@]}" 2>&1 | tee "$job_log"
      ;;
    *)
      echo "unknown job $job (redis, resp3, valkey)" >&2
      exit 2
      ;;
  esac
  code=${PIPESTATUS[0]}
  set -e
  [ "$code" -eq 0 ] || status=1
  results+=("job $job: $(summary "$job_log")")
  cat "$job_log" >> "$log"
  rm -f "$job_log"
done
printf '%s\n' "${results[@]}"
# One closing line for the whole run (cargo prints one per test binary).
summary "$log"
exit $status
