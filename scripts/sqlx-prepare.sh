#!/usr/bin/env bash
# Regenerates the compile-time query data in .sqlx/ from a scratch database migrated to the
# current schema. With --check, fails when the committed data is stale instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
ensure_postgres
if ! cargo sqlx --version >/dev/null 2>&1; then
  echo "sqlx-prepare: installing sqlx-cli" >&2
  cargo install sqlx-cli --version 0.8.6 --locked --no-default-features --features postgres,rustls >&2
fi
db="taxpoynt_sqlx_$$"
master="$DATABASE_URL"
scratch="$(database_url_for "$db")"
cleanup() { psql -w -q "$master" -c "drop database if exists \"$db\"" >/dev/null 2>&1 || true; }
trap cleanup EXIT
psql -w -q "$master" -c "create database \"$db\"" >/dev/null
DATABASE_URL="$scratch" cargo sqlx migrate run >/dev/null
unset SQLX_OFFLINE
DATABASE_URL="$scratch" cargo sqlx prepare "$@" -- --all-targets
