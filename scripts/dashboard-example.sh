#!/usr/bin/env bash
# The typed dashboard example (examples/dashboard/) against the real binary: proves the
# OpenAPI document is enough to write a dashboard with. Builds the debug binary, makes the
# Demo organization (`taxpoynt-mono demo`: a new API key) in a fresh database, serves
# `serve --sandbox` on a free port (which gives that organization the MBS sandbox's business,
# TIN and crypto keys), then in examples/dashboard: `npm ci`, the TypeScript types generated
# from the served /openapi.json (openapi-typescript), `tsc --strict` with no errors, and the
# review loop (src/review.ts, openapi-fetch) from the widget link to a signed e-invoice, its
# QR code, a resolved DLQ record and the event log. Any mismatch fails the run.
# Before all that, the sources are searched for what would let a loose document through:
# `as` (a cast; `as const` too, the example needs none), `any`, `@ts-` directives and
# non-null `!`.
# Skips (exit 0, saying why) only when node or npm is missing. Output in target/dashboard-example/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh

log() { printf 'dashboard-example: %s\n' "$*" >&2; }

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "SKIPPED: $tool is not installed (the example needs Node.js 20 or newer and npm); the typed dashboard example was not run"
    exit 0
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "SKIPPED: node $(node --version) is older than 20, which the example needs; the typed dashboard example was not run"
  exit 0
fi

dir=examples/dashboard
out=target/dashboard-example
started=$(date +%s)

# Each source line as `file:line: code`, comments left out (prose may say "as" or "any").
code_lines() {
  awk '{
    line = $0
    if (line ~ /^[ \t]*(\/\*|\*)/) line = ""
    sub(/(^|[ \t])\/\/.*$/, "", line)
    printf "%s:%d: %s\n", FILENAME, FNR, line
  }' "$@"
}
sources=("$dir"/src/*.ts)
found="$(
  grep -nH -F '@ts-' "${sources[@]}" || true
  code_lines "${sources[@]}" | grep -E ':[0-9]+: .*\b(as|any)\b' || true
  code_lines "${sources[@]}" | grep -E ':[0-9]+: .*[A-Za-z0-9_)]!([^=]|$)' || true
)"
if [ -n "$found" ]; then
  log "FAILED: the example may not cast (as), use any, silence the checker (@ts-) or assert non-null (!):"
  printf '%s\n' "$found" >&2
  exit 1
fi
log "ok: no as, any, @ts- or non-null ! in ${sources[*]}"

trap stop_served EXIT
mkdir -p "$out"
make_demo_tenant() {
  target/debug/taxpoynt-mono demo --json >"$out/demo.json"
}
SERVED_SETUP=make_demo_tenant serve_on_free_port dashboard "$out" || { log "FAILED: the service did not come up"; exit 1; }
api_key="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).apiKey)' "$out/demo.json")"
[ -n "$api_key" ] || { log "FAILED: taxpoynt-mono demo printed no apiKey ($out/demo.json)"; exit 1; }
log "serving $SERVED_BASE (log in $out/serve.log); the Demo organization's key is in $out/demo.json"

cd "$dir"
log "npm ci in $dir"
npm ci --no-audit --no-fund --loglevel=error >&2 || { log "FAILED: npm ci"; exit 1; }
rm -rf generated dist
npx --no-install openapi-typescript "$SERVED_BASE/openapi.json" --output generated/api.ts >&2 ||
  { log "FAILED: openapi-typescript could not generate the types from $SERVED_BASE/openapi.json"; exit 1; }
log "types generated from $SERVED_BASE/openapi.json: $(wc -l <generated/api.ts) lines"
npx --no-install tsc -p . --strict --noUncheckedIndexedAccess --exactOptionalPropertyTypes >&2 ||
  { log "FAILED: tsc --strict found type errors (above)"; exit 1; }
log "ok: tsc --strict --noUncheckedIndexedAccess --exactOptionalPropertyTypes compiled with no errors"

TPM_BASE_URL="$SERVED_BASE" TPM_API_KEY="$api_key" node dist/src/review.js ||
  { log "FAILED: the review loop (above; the service's log is in $out/serve.log)"; exit 1; }
log "ok: the review loop passed; $(($(date +%s) - started)) s in all (npm ci, types, tsc, the loop)"
