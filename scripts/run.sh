#!/usr/bin/env bash
# Runs the service. With no MONO_SECRET_KEY it starts the built-in Mono sandbox too, so it
# works end to end with no Mono account. Extra arguments go to `taxpoynt-mono serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  ensure_database taxpoynt_mono
  DATABASE_URL="$(database_url_for taxpoynt_mono)"
  export DATABASE_URL
fi
export SQLX_OFFLINE=true
args=(serve)
if [ -z "${MONO_SECRET_KEY:-}" ]; then
  echo "run: MONO_SECRET_KEY is not set; starting with the built-in Mono sandbox" >&2
  args+=(--sandbox)
fi
cargo build --release --quiet
if [[ " ${args[*]} " == *" --sandbox "* ]]; then
  # First run with no Mono keys: a demo organization (reused after) and the walk-through.
  target/release/taxpoynt-mono migrate >/dev/null
  target/release/taxpoynt-mono demo
else
  echo "run: create a tenant and its API key with: DATABASE_URL=$DATABASE_URL target/release/taxpoynt-mono tenant create --name 'My Org'" >&2
fi
exec target/release/taxpoynt-mono "${args[@]}" "$@"
