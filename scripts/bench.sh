#!/usr/bin/env bash
# Every benchmark of the project, each against its own private redis-server, then BENCHMARKS.md
# and BENCHMARKS.json (with redis-benchmark ceilings and the machine's description).
# Takes several minutes: the index and query benchmarks grow to a million instances.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
rm -f target/bench/*.json
for bench in field_ops indexes locks codegen cluster queries workloads; do
  cargo bench -p rapyer-tests --bench "$bench"
done
cargo run --release -q -p rapyer-tests --bin bench-report
