#!/usr/bin/env bash
# Seeds one environment with N ledger transactions (default 10,000,000) over 500 accounts,
# with the invoices, DLQ records, events, buyers and jobs they produce (examples/seed.rs),
# into the database `taxpoynt_seed` (made afresh) on the server scripts/pg.sh finds.
#   bash scripts/seed.sh                       # 10,000,000 transactions, a fresh database
#   bash scripts/seed.sh --rows 100000         # fewer
#   bash scripts/seed.sh --rows 1000000 --append   # add to the seeded environment
# Ten million transactions take about 20 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
export SQLX_OFFLINE=true RUST_LOG="${RUST_LOG:-warn}"
cargo run --release --quiet --example seed -- "$@"
