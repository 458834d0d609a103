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

out=target/schemathesis
trap stop_served EXIT
# No per-key rate limit: the fuzzer calls as fast as it can with one key. No sync queued by
# the link: the seeding below syncs the account itself (a queued one would answer 409).
serve_on_free_port schemathesis "$out" API_RATE_LIMIT=0 MONO_REFRESH_COOLDOWN_SECS=0 MONO_SYNC_ON_LINK=false
base="$SERVED_BASE"
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
