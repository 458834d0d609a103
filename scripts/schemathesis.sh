#!/usr/bin/env bash
# Schemathesis (PyPI) against /openapi.json of the real binary (serve --sandbox, a fresh
# database, a free port, a tenant key): every documented operation is called with generated
# valid and invalid input; the run fails on any 5xx or any answer that breaks the document.
#   bash scripts/schemathesis.sh                 50 examples per operation
#   ST_MAX_EXAMPLES=500 bash scripts/schemathesis.sh
# One worker: schemathesis 4.32 on Python 3.11 can trip over its own AST cache with several.
# Installs schemathesis with pip when missing. The report lands in target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

log() { printf 'schemathesis: %s\n' "$*" >&2; }
if ! command -v st >/dev/null 2>&1; then
  log "installing schemathesis with pip"
  python3 -m pip install --quiet schemathesis >&2
fi

ensure_postgres
db="tpm_schemathesis_$$"
ensure_database "$db"
export DATABASE_URL="$(database_url_for "$db")"
export SQLX_OFFLINE=true
cargo build --quiet --bin taxpoynt-mono

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
out=target/schemathesis
mkdir -p "$out"
# No per-key rate limit: the fuzzer calls as fast as it can with one key.
API_RATE_LIMIT=0 MONO_REFRESH_COOLDOWN_SECS=0 BIND_ADDR="127.0.0.1:$port" \
  target/debug/taxpoynt-mono serve --sandbox >"$out/serve.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql -q "$(database_url_for postgres)" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
key="$(target/debug/taxpoynt-mono tenant create --name 'Schemathesis' --tin 12345678-0001 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')"

# Data to read: one account linked through the sandbox and synced, so lists, events, invoices
# and DLQ records are not empty.
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
auth=(-H "Authorization: Bearer $key" -H 'content-type: application/json')
mono_url="$(curl -fs "${auth[@]}" -X POST "$base/si/mono/widget-link" \
  -d "{\"customer\":{\"name\":\"Ada Fuzz\",\"email\":\"ada@example.com\"},\"redirectUrl\":\"$base/demo/callback\"}" | json_get '["data"]["monoUrl"]')"
code="$(curl -fsL "$mono_url" | sed -n 's:.*<pre id="code">\(.*\)</pre>.*:\1:p')"
account="$(curl -fs "${auth[@]}" -X POST "$base/si/mono/exchange" -d "{\"code\":\"$code\"}" | json_get '["data"]["id"]')"
curl -fs "${auth[@]}" -X POST "$base/si/mono/sync" -d "{\"accountId\":\"$account\"}" >/dev/null
log "seeded account $account"

# not_a_server_error: never a 5xx; response_schema_conformance, status_code_conformance,
# content_type_conformance: every answer is one the document describes.
st run "$base/openapi.json" \
  --header "Authorization: Bearer $key" \
  --header "mono-webhook-secret: test_whsec_sandbox" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-50}" \
  --seed "${ST_SEED:-1}" \
  --workers 1 \
  --request-timeout 30 \
  --report junit --report-dir "$out" \
  "$@"
