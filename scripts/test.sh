#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL (see scripts/pg.sh for which one).
# Each storage test gets a fresh database of its own (#[sqlx::test]). Then the /docs page is
# opened in headless Chromium (scripts/browser-test.sh), and the typed dashboard example runs
# its review loop against the binary (scripts/dashboard-example.sh). Last, a short schemathesis
# run with every check (scripts/schemathesis.sh, 10 examples an operation; ST_MAX_EXAMPLES sets
# more, and the full run is `bash scripts/schemathesis.sh`, 50).
set -euo pipefail
cd "$(dirname "$0")/.."
# A private cluster, when one is needed, is the tests' own with fsync off: its databases are
# thrown away, and the run command's cluster (fsync on) is never touched.
export PG_PRIVATE_FSYNC=off
source scripts/pg.sh
ensure_postgres
# Queries are checked against the committed .sqlx/ data, so no migrated database is needed to build.
export SQLX_OFFLINE=true
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --no-fail-fast "$@"
  cargo test --workspace --doc --quiet
  bash scripts/browser-test.sh
  bash scripts/dashboard-example.sh
  ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-10}" bash scripts/schemathesis.sh
else
  cargo test --workspace --all-targets --no-fail-fast "$@"
  bash scripts/browser-test.sh
  bash scripts/dashboard-example.sh
  ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-10}" bash scripts/schemathesis.sh
fi
