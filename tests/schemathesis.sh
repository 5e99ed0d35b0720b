#!/usr/bin/env bash
# Schemathesis against the real server, once on SQLite and once on PostgreSQL: builds
# `switchyard`, starts it on a fresh database with a known admin token, seeds a few
# objects (a group, connectors, a routing application, a gateway plugin, enabled
# senders, a third-party system, a queue entry, an inbound message), then lets
# Schemathesis generate requests from the server's own OpenAPI document
# (/api/v1/openapi.json) and fails if any answer is a 5xx or does not match the document
# (tests/schemathesis.toml lists the checks). Needs the plugins built (plugins/build.sh)
# and the tools venv (.ci/install-toolchains.sh); SCHEMATHESIS names another executable,
# SCHEMATHESIS_MAX_EXAMPLES and SCHEMATHESIS_SEED change how much and what is generated,
# SCHEMATHESIS_BACKENDS (`sqlite postgres`) where, and SCHEMATHESIS_ARGS adds options
# (`--include-operation-id ... --report har --report-dir DIR`, say).
#
# Each run happens in a network namespace of its own that has nothing but loopback:
# the generated settings point the server's senders at arbitrary hosts (SMTP servers,
# gateway URLs), and no such request may leave the machine. PostgreSQL, outside the
# namespace, is reached through a Unix socket that socat bridges to 127.0.0.1:5432.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
self="$root/tests/schemathesis.sh"
bin="$root/target/debug/switchyard"
python="$root/.venv-tools/bin/python"
schemathesis="${SCHEMATHESIS:-$root/.venv-tools/bin/schemathesis}"
# Bounded so one backend takes at most about three minutes on CI's two cores.
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-150}"
# Fixed, so that CI generates the same requests each time and a failure reproduces.
seed="${SCHEMATHESIS_SEED:-20261130}"

# Reads a field of the JSON on standard input: `json '["token"]'`.
json() {
  "$python" -c "import json, sys; print(json.load(sys.stdin)$1)"
}

# The part that runs inside the namespace: the server, the seed and Schemathesis.
# Arguments: backend, database URL, work directory.
inside() {
  local backend="$1" url="$2" work="$3"
  ip link set lo up
  if [ "$backend" = postgres ]; then
    socat TCP-LISTEN:5432,bind=127.0.0.1,fork,reuseaddr "UNIX-CONNECT:$work/pg.sock" &
  fi
  local admin
  admin="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  : >"$work/server.log"
  SWITCHYARD_ADMIN_TOKEN="$admin" SWITCHYARD_DATABASE_URL="$url" \
    SWITCHYARD_LISTEN=127.0.0.1:0 SWITCHYARD_CACHE_DIR="$work/cache" \
    "$bin" serve >"$work/server.log" 2>&1 &
  local server=$!
  local base=""
  for _ in $(seq 600); do
    base="$(sed -n 's/^switchyard: listening on //p' "$work/server.log")"
    [ -n "$base" ] && break
    if ! kill -0 "$server" 2>/dev/null; then
      cat "$work/server.log" >&2
      echo "the server did not start" >&2
      return 1
    fi
    sleep 0.1
  done
  [ -n "$base" ] || { echo "the server did not say where it listens" >&2; return 1; }

  local status=0
  seed_objects "$base" "$admin" "$work" || status=$?
  if [ "$status" = 0 ]; then
    # Hypothesis, under Schemathesis, keeps files in the working directory.
    cd "$work"
    SY_ADMIN_TOKEN="$admin" \
      SY_CONNECTOR_TOKEN="$(cat "$work/connector-token")" \
      SY_RECEIPT_TOKEN="$(cat "$work/receipt-token")" \
      SY_SYSTEM_TOKEN="$(cat "$work/system-token")" \
      SY_AGENT_TOKEN="$(cat "$work/agent-token")" \
      "$schemathesis" --config-file "$root/tests/schemathesis.toml" run \
      "$base/api/v1/openapi.json" \
      --phases "${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing,stateful}" \
      --max-examples "$max_examples" --seed "$seed" \
      --request-timeout 30 --no-color \
      ${SCHEMATHESIS_ARGS:-} || status=$?
  fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "--- the server's log (last 50 lines) ---" >&2
    tail -n 50 "$work/server.log" >&2
  fi
  return "$status"
}

# Creates something for each kind of path parameter to find (an inbound email too), and writes the tokens
# Schemathesis authenticates with to the work directory. The senders point at a closed
# port on loopback, so what the queue processes fails fast without leaving the machine.
seed_objects() {
  local base="$1" admin="$2" work="$3"
  call() {
    local method="$1" path="$2"
    shift 2
    curl -sS --fail-with-body -X "$method" "$base$path" -H "Authorization: Bearer $admin" "$@"
  }
  local body='-HContent-Type:application/json'
  call POST /api/v1/acd-groups "$body" -d '{"name":"general","description":"seeded"}' >/dev/null
  call POST /api/v1/connectors/sms "$body" \
    -d '{"name":"direct","recipient":"+4930123456","routing_type":"direct_acd_group","acd_group":1}' |
    json '["token"]' >"$work/connector-token"
  call POST /api/v1/connectors/sms "$body" \
    -d '{"name":"routed","recipient":"+4930654321","routing_type":"routing_application","fallback_acd_group":1,"plugin_settings":{"default_group":"general"}}' \
    >/dev/null
  call POST /api/v1/connectors/sms/2/plugins -HContent-Type:application/wasm \
    --data-binary "@$root/plugins/dist/keyword-router.wasm" >/dev/null
  local gateway
  gateway="$(call POST /api/v1/plugins -HContent-Type:application/wasm \
    --data-binary "@$root/plugins/dist/json-gateway.wasm" | json '["sha256"]')"
  call PUT /api/v1/settings/sms "$body" \
    -d "{\"enabled\":true,\"gateway_plugin\":\"$gateway\",\"settings\":{\"url\":\"http://127.0.0.1:9/\"},\"default_sender\":\"+4930111111\"}" |
    json '["receipt_token"]' >"$work/receipt-token"
  call PUT /api/v1/settings/email "$body" \
    -d '{"enabled":true,"host":"127.0.0.1","port":9,"tls":"none","default_sender":"desk@example.com","timeout_seconds":2,"max_attempts":1}' \
    >/dev/null
  call POST /api/v1/external-systems "$body" -d '{"name":"billing","kind":"third_party"}' |
    json '["token"]' >"$work/system-token"
  call POST /api/v1/communications "$body" \
    -d '{"media":"device","recipient":"box-1","body":"reset","external_system":"billing"}' >/dev/null
  # An agent of the group, logged in and ready on SMS: the seeded SMS below is offered
  # to them, so the agent's operations meet a real interaction (id 1).
  call POST /api/v1/agents "$body" \
    -d '{"login":"agent","name":"Agent","password":"correct horse battery","groups":[1]}' >/dev/null
  curl -sS --fail-with-body -X POST "$base/api/v1/agent-sessions" "$body" \
    -d '{"login":"agent","password":"correct horse battery"}' | json '["token"]' >"$work/agent-token"
  curl -sS --fail-with-body -X PUT "$base/api/v1/me/channels/sms" "$body" \
    -H "Authorization: Bearer $(cat "$work/agent-token")" -d '{"state":"ready"}' >/dev/null
  curl -sS --fail-with-body -X POST "$base/api/v1/sms/inbound" "$body" \
    -H "Authorization: Bearer $(cat "$work/connector-token")" \
    -d '{"from":"+4917612345678","to":"+4930123456","text":"hello","message_id":"seed-1"}' >/dev/null
  # An email connector open to posts without a token, so generated emails reach the
  # readers of every dialect, and an email stored through it.
  call POST /api/v1/connectors/email "$body" \
    -d '{"name":"mail","addresses":["desk@shop.example"],"require_token":false,"routing_type":"direct_acd_group","acd_group":1}' \
    >/dev/null
  curl -sS --fail-with-body -X POST "$base/api/v1/email/inbound" -HContent-Type:message/rfc822 \
    --data-binary $'From: a@example.com\r\nTo: desk@shop.example\r\nSubject: seeded\r\nMessage-ID: <seed-1@example.com>\r\n\r\nhello\r\n' \
    >/dev/null
}

# One backend: a fresh database, the namespace, and the time it took.
run() {
  local backend="$1" work url database="" bridge=""
  work="$(mktemp -d)"
  if [ "$backend" = postgres ]; then
    database="sy_schemathesis_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -qc "CREATE DATABASE $database" >/dev/null
    url="postgres://postgres@127.0.0.1:5432/$database"
    socat "UNIX-LISTEN:$work/pg.sock,fork" TCP:127.0.0.1:5432 &
    bridge=$!
  else
    url="sqlite://$work/switchyard.db"
  fi
  local start status=0
  start="$(date +%s)"
  echo "== Schemathesis on $backend"
  unshare --net -- "$self" --inside "$backend" "$url" "$work" || status=$?
  echo "== Schemathesis on $backend: $(($(date +%s) - start)) s"
  if [ -n "$bridge" ]; then
    kill "$bridge" 2>/dev/null || true
    wait "$bridge" 2>/dev/null || true
  fi
  if [ -n "$database" ]; then
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -qc \
      "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
  fi
  rm -rf "$work"
  return "$status"
}

if [ "${1:-}" = --inside ]; then
  # Whatever is started in here dies with the namespace's shell.
  trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
  inside "$2" "$3" "$4"
  exit
fi

cd "$root"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
if ! unshare --net true 2>/dev/null; then
  echo "cannot make a network namespace (unshare --net): run this as root" >&2
  exit 1
fi
for tool in "$schemathesis" "$python"; do
  [ -x "$tool" ] || { echo "$tool is missing: run .ci/install-toolchains.sh" >&2; exit 1; }
done
for plugin in keyword-router json-gateway; do
  [ -f "plugins/dist/$plugin.wasm" ] || { echo "plugins/dist/$plugin.wasm is missing: run plugins/build.sh" >&2; exit 1; }
done
cargo build --quiet -p switchyard --bin switchyard
failed=()
for backend in ${SCHEMATHESIS_BACKENDS:-sqlite postgres}; do
  run "$backend" || failed+=("$backend")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "Schemathesis found failures on: ${failed[*]}" >&2
  exit 1
fi
