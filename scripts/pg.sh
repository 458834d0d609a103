#!/usr/bin/env bash
# Sourced by the other scripts: makes a PostgreSQL server available and exports DATABASE_URL.
#   1. DATABASE_URL, when it is set, is used as it is;
#   2. else a server on 127.0.0.1:5432 (trust auth, user postgres or the current user);
#   3. else a private cluster in .pg/ (git-ignored), made with the machine's initdb and
#      started with pg_ctl on 127.0.0.1:54329.
# The private cluster keeps fsync on: it is where `scripts/run.sh` keeps a user's data. The
# test script asks for a cluster of its own with PG_PRIVATE_FSYNC=off (throwaway databases,
# faster), in .pg-test/ on port 54330, so the two never share one.

_pg_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_PRIVATE_FSYNC="${PG_PRIVATE_FSYNC:-on}"
if [ "$PG_PRIVATE_FSYNC" = off ]; then
  PG_PRIVATE_DIR="${PG_PRIVATE_DIR:-$_pg_root/.pg-test}"
  PG_PRIVATE_PORT="${PG_PRIVATE_PORT:-54330}"
else
  PG_PRIVATE_DIR="${PG_PRIVATE_DIR:-$_pg_root/.pg}"
  PG_PRIVATE_PORT="${PG_PRIVATE_PORT:-54329}"
fi

_pg_log() { printf 'pg: %s\n' "$*" >&2; }

_pg_listening() { # host port
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$1" -p "$2" -t 2
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

_pg_bin() { # name: from PATH, else the newest /usr/lib/postgresql/*/bin
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  local candidate
  candidate=$(ls -d /usr/lib/postgresql/*/bin/"$1" /usr/local/pgsql/bin/"$1" 2>/dev/null | sort -V | tail -n 1)
  [ -n "$candidate" ] && echo "$candidate"
}

_pg_try_user() { # host port user -> 0 when that user can log in
  command -v psql >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=3 psql -w -q -h "$1" -p "$2" -U "$3" -d postgres -tAc 'select 1' >/dev/null 2>&1
}

_pg_as_owner() { # run a command as the cluster owner (initdb refuses to run as root)
  if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
  local owner=postgres
  id "$owner" >/dev/null 2>&1 || owner=nobody
  chown -R "$owner" "$PG_PRIVATE_DIR"
  if command -v runuser >/dev/null 2>&1; then
    runuser -u "$owner" -- "$@"
  else
    su -s /bin/sh "$owner" -c "$(printf '%q ' "$@")"
  fi
}

_pg_start_private() {
  local initdb pg_ctl
  initdb=$(_pg_bin initdb); pg_ctl=$(_pg_bin pg_ctl)
  if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
    _pg_log "no server on 127.0.0.1:5432 and no initdb/pg_ctl found; install PostgreSQL or set DATABASE_URL"
    return 1
  fi
  mkdir -p "$PG_PRIVATE_DIR"
  chmod 755 "$PG_PRIVATE_DIR"
  if [ ! -f "$PG_PRIVATE_DIR/data/PG_VERSION" ]; then
    _pg_log "creating a private cluster in $PG_PRIVATE_DIR"
    _pg_as_owner "$initdb" -D "$PG_PRIVATE_DIR/data" -U postgres -A trust -E UTF8 >"$PG_PRIVATE_DIR/initdb.log" 2>&1 || {
      cat "$PG_PRIVATE_DIR/initdb.log" >&2; return 1; }
  fi
  if ! _pg_listening 127.0.0.1 "$PG_PRIVATE_PORT"; then
    _pg_log "starting the private cluster on 127.0.0.1:$PG_PRIVATE_PORT"
    _pg_as_owner "$pg_ctl" -D "$PG_PRIVATE_DIR/data" -l "$PG_PRIVATE_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PRIVATE_PORT -k $PG_PRIVATE_DIR -c max_connections=200 -c fsync=$PG_PRIVATE_FSYNC" start >/dev/null || {
      cat "$PG_PRIVATE_DIR/server.log" >&2; return 1; }
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PRIVATE_PORT/postgres"
}

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    return 0
  fi
  if _pg_listening 127.0.0.1 5432; then
    local user
    for user in postgres "$(id -un)"; do
      if _pg_try_user 127.0.0.1 5432 "$user"; then
        export DATABASE_URL="postgres://$user@127.0.0.1:5432/postgres"
        return 0
      fi
    done
    if ! command -v psql >/dev/null 2>&1; then
      export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
      return 0
    fi
    _pg_log "a server listens on 127.0.0.1:5432 but refuses postgres and $(id -un); using a private cluster"
  fi
  _pg_start_private
}

# DATABASE_URL with its database name replaced by $1.
database_url_for() {
  local base="${DATABASE_URL%%\?*}" query=""
  [ "$base" != "$DATABASE_URL" ] && query="?${DATABASE_URL#*\?}"
  printf '%s/%s%s\n' "${base%/*}" "$1" "$query"
}

# Creates database $1 on the server of DATABASE_URL unless it exists.
ensure_database() {
  command -v psql >/dev/null 2>&1 || { _pg_log "psql not found; assuming database $1 exists"; return 0; }
  if [ "$(psql -w "$DATABASE_URL" -tAc "select 1 from pg_database where datname = '$1'")" != "1" ]; then
    psql -w -q "$DATABASE_URL" -c "create database \"$1\"" >/dev/null
  fi
}

# Serves the debug binary (`serve --sandbox`) on a free port against a fresh database
# tpm_$1_<pid>, logging to $2/serve.log; further arguments (NAME=VALUE) are added to the
# service's environment. Waits until it answers /readyz; sets SERVED_BASE and SERVED_PID, and
# exports DATABASE_URL naming that database. SERVED_SETUP, when set, names a command run
# once the binary is built and DATABASE_URL names the fresh database, before the service
# starts (e.g. `taxpoynt-mono demo`: `serve --sandbox` gives the Demo organization the MBS
# sandbox's business at start). `stop_served` stops it and drops the database (safe to call
# before or without `serve_on_free_port`, so it can go in a trap first).
serve_on_free_port() {
  local name="$1" out="$2"; shift 2
  ensure_postgres
  SERVED_DB="tpm_${name}_$$"
  ensure_database "$SERVED_DB"
  DATABASE_URL="$(database_url_for "$SERVED_DB")"
  export DATABASE_URL SQLX_OFFLINE=true
  cargo build --quiet --bin taxpoynt-mono
  if [ -n "${SERVED_SETUP:-}" ]; then
    "$SERVED_SETUP" || { _pg_log "$SERVED_SETUP failed before the service started"; return 1; }
  fi
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  SERVED_BASE="http://127.0.0.1:$port"
  mkdir -p "$out"
  env "$@" BIND_ADDR="127.0.0.1:$port" target/debug/taxpoynt-mono serve --sandbox >"$out/serve.log" 2>&1 &
  SERVED_PID=$!
  for _ in $(seq 1 600); do
    curl -fs "$SERVED_BASE/readyz" >/dev/null 2>&1 && return 0
    if ! kill -0 "$SERVED_PID" 2>/dev/null; then
      cat "$out/serve.log" >&2
      _pg_log "the service exited before it was ready"
      return 1
    fi
    sleep 0.1
  done
  cat "$out/serve.log" >&2
  _pg_log "the service was not ready after 60 s"
  return 1
}

stop_served() {
  if [ -n "${SERVED_PID:-}" ]; then
    kill "$SERVED_PID" 2>/dev/null || true
    wait "$SERVED_PID" 2>/dev/null || true
  fi
  if [ -n "${SERVED_DB:-}" ] && command -v psql >/dev/null 2>&1; then
    psql -q "$(database_url_for postgres)" -c "drop database if exists \"$SERVED_DB\" with (force)" >/dev/null 2>&1 || true
  fi
}
