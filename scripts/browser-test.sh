#!/usr/bin/env bash
# Opens /docs in headless Chromium against the real binary (serve --sandbox, fresh database,
# free port), checks that Redoc rendered the endpoint list from /openapi.json with no
# internet, and saves a screenshot to target/browser/docs.png.
# Installs Debian's `chromium` when missing; skips (exit 0, saying why) only where it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

log() { printf 'browser-test: %s\n' "$*" >&2; }

find_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
CHROMIUM="$(find_chromium)"
if [ -z "$CHROMIUM" ]; then
  log "chromium not found; installing it with apt-get"
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || true
  elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
    (sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || true
  fi
  CHROMIUM="$(find_chromium)"
fi
if [ -z "$CHROMIUM" ]; then
  log "SKIPPED: chromium is not installed and could not be installed here (needs apt-get as root); the /docs page was not checked in a browser"
  exit 0
fi

ensure_postgres
db="tpm_browser_$$"
ensure_database "$db"
export DATABASE_URL="$(database_url_for "$db")"
export SQLX_OFFLINE=true
cargo build --quiet --bin taxpoynt-mono

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
out=target/browser
mkdir -p "$out"
BIND_ADDR="127.0.0.1:$port" target/debug/taxpoynt-mono serve --sandbox >"$out/serve.log" 2>&1 &
server=$!
profile="$(mktemp -d)"
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$profile"
  if command -v psql >/dev/null 2>&1; then
    psql -q "$(database_url_for postgres)" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$out/serve.log" >&2; log "FAILED: the service exited"; exit 1; }
  sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null || { cat "$out/serve.log" >&2; log "FAILED: the service did not come up"; exit 1; }

chrome=("$CHROMIUM" --headless --disable-gpu --no-sandbox --disable-dev-shm-usage --no-first-run
  --user-data-dir="$profile" --virtual-time-budget=20000)
log "rendering $base/docs with $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
"${chrome[@]}" --dump-dom "$base/docs" >"$out/docs.html" 2>"$out/chromium.log" || true

missing=()
for expect in "Sync one account" "Exchange the widget" "List DLQ records" "Receive a Mono webhook event" \
              "/si/mono/widget-link" "taxpoynt-mono"; do
  grep -qF "$expect" "$out/docs.html" || missing+=("$expect")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "FAILED: the rendered /docs page lacks: ${missing[*]} (DOM in $out/docs.html, browser log in $out/chromium.log)"
  exit 1
fi
"${chrome[@]}" --window-size=1280,2000 --screenshot="$out/docs.png" "$base/docs" >>"$out/chromium.log" 2>&1 || true
[ -s "$out/docs.png" ] || { log "FAILED: no screenshot was written"; exit 1; }
log "ok: /docs rendered the endpoint list offline; screenshot in $out/docs.png"
