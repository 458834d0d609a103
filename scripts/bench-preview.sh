#!/usr/bin/env bash
# Rule preview over N stored transactions (default 100,000) against a bare scan of the same
# rows, in one run (examples/preview_load.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
export SQLX_OFFLINE=true RUST_LOG="${RUST_LOG:-warn}"
cargo run --release --quiet --example preview_load -- "$@"
