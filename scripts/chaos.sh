#!/usr/bin/env bash
# The chaos run, long (tests/api/chaos.rs; the default test command runs it with 25 s of load):
# two replicas of the binary on a PostgreSQL server of the run's own, under webhooks (with
# copies), syncs of 50 accounts against a Mono sandbox failing one call in ten, rule changes,
# DLQ replays and e-invoice submissions with dropped answers, while a random replica is killed
# (SIGKILL) every 2 to 5 s and the database server is crash-restarted once. After the queues
# drain it checks that nothing was lost or doubled and that the request budgets held, and
# prints what it did and what it checked.
#   bash scripts/chaos.sh                      5 minutes of load
#   TPM_CHAOS_SECS=1800 bash scripts/chaos.sh  half an hour
#   TPM_CHAOS_SEED=<n> bash scripts/chaos.sh   the random choices of a run that printed <n>
# It needs the PostgreSQL server binaries (initdb, pg_ctl), not a running server.
set -euo pipefail
cd "$(dirname "$0")/.."
export TPM_CHAOS_SECS="${TPM_CHAOS_SECS:-300}" SQLX_OFFLINE=true
cargo nextest run --workspace --all-targets --no-capture -E 'test(/^chaos::/)'
