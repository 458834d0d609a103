#!/usr/bin/env bash
# Opens /docs in headless Chromium against the real binary (serve --sandbox, fresh database,
# free port), checks that Redoc rendered the endpoint list from /openapi.json with no
# internet, and saves a screenshot to target/browser/docs.png. Then runs the browser tests
# of the API suite (marked ignored there, as they need Chromium): a signed invoice's printable
# page rendered in Chromium, its screenshot in target/browser/invoice-document.png, and the QR
# code read back from the screenshot decrypted to the invoice's IRN.
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

out=target/browser
profile="$(mktemp -d)"
cleanup() {
  stop_served
  rm -rf "$profile"
}
trap cleanup EXIT
serve_on_free_port browser "$out" || { log "FAILED: the service did not come up"; exit 1; }
base="$SERVED_BASE"

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

log "running the API suite's browser tests (the printable invoice and its QR code)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --run-ignored only -E 'test(in_a_browser)' >&2 || { log "FAILED: the invoice page's browser test"; exit 1; }
else
  cargo test --test api -- --ignored in_a_browser >&2 || { log "FAILED: the invoice page's browser test"; exit 1; }
fi
log "ok: the printable invoice rendered and its QR code decrypts to the IRN; screenshot in $out/invoice-document.png"
