#!/usr/bin/env bash
# Fleet sync: one round over 2,000 accounts with the sandbox at 200 ms per call, by one and
# then two replicas on one PostgreSQL (examples/fleet_sync.rs). The round is one sweep, or
# with `--via sync-stored` one POST /si/mono/sync-stored per organization (ten, all at once).
# Extra arguments go to the example (--accounts N, --replicas 1|2|both, --latency-ms,
# --concurrency, --via sweep|sync-stored, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
export SQLX_OFFLINE=true RUST_LOG="${RUST_LOG:-warn}"
cargo run --release --quiet --example fleet_sync -- "$@"
