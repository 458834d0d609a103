#!/usr/bin/env bash
# Every list endpoint under 16 concurrent connections (examples/list_load.rs): first at
# 100,000 transactions (a fresh database, seeded then walked at once), then on the database
# scripts/seed.sh left (`taxpoynt_seed`, ten million transactions by default) with 200,000
# more written first, each p99 beside the 100,000-row run's, and EXPLAIN (ANALYZE, BUFFERS)
# of every list's query written to docs/perf/.
#   bash scripts/bench-lists.sh            # both runs (seed taxpoynt_seed first)
#   bash scripts/bench-lists.sh small      # the 100,000-row run alone
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
export SQLX_OFFLINE=true RUST_LOG="${RUST_LOG:-warn}"
mkdir -p target
cargo build --release --quiet --example list_load
echo "== 100,000 transactions"
target/release/examples/list_load --fresh 100000 --save target/lists-100k.json
if [ "${1:-}" = small ]; then exit 0; fi
echo "== the seeded database (taxpoynt_seed)"
target/release/examples/list_load --database taxpoynt_seed --anchor target/lists-100k.json --explain docs/perf
