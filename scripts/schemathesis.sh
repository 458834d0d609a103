#!/usr/bin/env bash
# Schemathesis (PyPI) against /openapi.json of the real binary (serve --sandbox, a fresh
# database, a free port, the Demo organization's key): every documented operation is called with
# generated valid and invalid input, every check on; config/schemathesis.toml seeds ids and says
# where a valid-looking request may still be refused (what the schema cannot express).
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
# The Demo organization (`taxpoynt-mono demo`): `serve --sandbox` gives it the MBS sandbox's
# business, so invoices can be validated and signed. No per-key rate limit: the fuzzer calls
# as fast as it can with one key. No sync queued by a link: the seeding syncs itself.
make_demo_tenant() {
  mkdir -p "$out"
  target/debug/taxpoynt-mono demo --json >"$out/demo.json"
}
SERVED_SETUP=make_demo_tenant serve_on_free_port schemathesis "$out" API_RATE_LIMIT=0 MONO_REFRESH_COOLDOWN_SECS=0 MONO_SYNC_ON_LINK=false
base="$SERVED_BASE"
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
key="$(json_get '["apiKey"]' <"$out/demo.json")"

# Data to read, and one id of each resource an operation acts on (config/schemathesis.toml
# passes them): two linked accounts (one to unlink), synced, so lists, events, invoices and
# DLQ records are not empty; a buyer, a rule and a job.
auth=(-H "Authorization: Bearer $key" -H 'content-type: application/json')
link_account() {
  local mono_url code
  mono_url="$(curl -fs "${auth[@]}" -X POST "$base/si/mono/widget-link" \
    -d "{\"customer\":{\"name\":\"Ada Fuzz\",\"email\":\"ada@example.com\"},\"redirectUrl\":\"$base/demo/callback\"}" | json_get '["data"]["monoUrl"]')"
  code="$(curl -fsL "$mono_url" | sed -n 's:.*<pre id="code">\(.*\)</pre>.*:\1:p')"
  curl -fs "${auth[@]}" -X POST "$base/si/mono/exchange" -d "{\"code\":\"$code\"}" | json_get '["data"]["id"]'
}
ST_ACCOUNT_ID="$(link_account)"
ST_UNLINK_ACCOUNT_ID="$(link_account)"
curl -fs "${auth[@]}" -X POST "$base/si/mono/sync" -d "{\"accountId\":\"$ST_ACCOUNT_ID\"}" >/dev/null
ST_INVOICE_ID="$(curl -fs "${auth[@]}" "$base/si/invoices?status=DRAFT&limit=1" | json_get '["data"][0]["id"]')"
ST_DLQ_ID="$(curl -fs "${auth[@]}" "$base/si/mono/dlq?limit=1" | json_get '["data"][0]["id"]')"
ST_BUYER_ID="$(curl -fs "${auth[@]}" -X POST "$base/si/buyers" -d '{"name":"Fuzz Buyer Ltd","match":{"names":["Fuzz Buyer"]}}' | json_get '["data"]["id"]')"
ST_RULE_ID="$(curl -fs "${auth[@]}" -X POST "$base/si/mono/allow-deny" -d '{"list":"deny","pattern":"FUZZ-SEED"}' | json_get '["data"]["id"]')"
ST_JOB_ID="$(curl -fs "${auth[@]}" -X POST "$base/si/mono/dlq/replay" -d '{"reason":"zero_amount"}' | json_get '["data"]["jobId"]')"
export ST_ACCOUNT_ID ST_UNLINK_ACCOUNT_ID ST_INVOICE_ID ST_DLQ_ID ST_BUYER_ID ST_RULE_ID ST_JOB_ID
log "seeded account $ST_ACCOUNT_ID, invoice $ST_INVOICE_ID, DLQ record $ST_DLQ_ID, buyer $ST_BUYER_ID"

# Every check (`--checks all`): no 5xx, every answer one the document describes (status,
# schema, content type, headers), a request the schema allows accepted and one it forbids
# refused, as config/schemathesis.toml qualifies per operation.
st --config-file config/schemathesis.toml run "$base/openapi.json" \
  --header "Authorization: Bearer $key" \
  --header "mono-webhook-secret: test_whsec_sandbox" \
  --checks "${ST_CHECKS:-all}" \
  --max-examples "${ST_MAX_EXAMPLES:-50}" \
  --seed "${ST_SEED:-1}" \
  --workers 1 \
  --request-timeout 30 \
  --report junit --report-dir "$out" \
  "$@"
