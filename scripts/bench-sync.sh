#!/usr/bin/env bash
# Sync throughput and memory: 10,000 and 100,000 transactions from the sandbox over loopback
# into fresh databases (examples/sync_load.rs). Extra arguments replace the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
export SQLX_OFFLINE=true RUST_LOG="${RUST_LOG:-warn}"
cargo run --release --quiet --example sync_load -- "$@"
