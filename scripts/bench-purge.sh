#!/usr/bin/env bash
# The retention purge under load (examples/purge_load.rs): a fresh database seeded with
# 4,200,000 transactions over three years (over 10,000,000 rows expire at 30 days), the
# service in-process with steady webhook deliveries and syncs, their p99 while the purge runs
# (in 10 s windows) against the pauses between them (`--window 0`: one continuous purge
# against the 30 s before it), the purge's rows/s and the tables' sizes before, after and
# after VACUUM. The database (`taxpoynt_purge`, about 8 GB at full size) is dropped at the end.
#   bash scripts/bench-purge.sh                # the full run (about an hour on 2 cores)
#   bash scripts/bench-purge.sh --small        # 20,000 transactions, a minute
#   bash scripts/bench-purge.sh --rows 200000 --rest 0   # other sizes, an unpaced purge
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
export SQLX_OFFLINE=true RUST_LOG="${RUST_LOG:-warn}"
cargo build --release --quiet --example purge_load
target/release/examples/purge_load "$@"
