#!/usr/bin/env bash
# Measures what uploading a plugin costs the server in memory: starts `switchyard
# serve` (the binary given, default target/debug/switchyard) on a fresh SQLite database
# and cache, uploads a component (default the Python keyword router, the largest
# plugin in plugins/dist) to a new connector, and prints the server's peak resident
# memory (VmHWM) and what stays resident 5 s later (VmRSS). The README's sandbox
# section quotes its figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/debug/switchyard}"
component="${2:-$root/plugins/dist/keyword-router-py.wasm}"
token="measure-admin-token-0123456789"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

SWITCHYARD_DATABASE_URL="sqlite://$work/db.sqlite?mode=rwc" SWITCHYARD_ADMIN_TOKEN="$token" \
  RUST_LOG=warn "$bin" serve --listen 127.0.0.1:0 2>"$work/stderr" &
pid=$!
for _ in $(seq 200); do
  address="$(sed -n 's/^switchyard: listening on //p' "$work/stderr")"
  [ -n "$address" ] && break
  sleep 0.1
done
[ -n "$address" ] || { cat "$work/stderr" >&2; exit 1; }
status() { awk -v k="$1:" '$1 == k { print $2 / 1024 " MiB" }' "/proc/$pid/status"; }
echo "before upload: resident $(status VmRSS)"
connector="$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"m","recipient":"+4930123456","routing_type":"routing_application"}' \
  "$address/api/v1/connectors/sms" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
start=$(date +%s.%N)
code="$(curl -s -o "$work/answer" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -H 'content-type: application/wasm' --data-binary "@$component" \
  "$address/api/v1/connectors/sms/$connector/plugins")"
echo "upload of $(basename "$component"): HTTP $code in $(echo "$(date +%s.%N) - $start" | bc) s"
echo "peak resident: $(status VmHWM)"
sleep 5
echo "resident 5 s later: $(status VmRSS)"
