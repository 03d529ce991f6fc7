#!/usr/bin/env bash
# Schema fuzzing: runs schemathesis against the OpenAPI document of a real server.
#
#   bash scripts/fuzz.sh sqlite      # a fresh SQLite file
#   bash scripts/fuzz.sh postgres    # a fresh database on TEST_POSTGRES_URL's server
#
# Builds the debug binary if needed, starts it on a free port with a fresh database,
# makes a tenant, an owner, a token with every scope and a few rows (so id-taking
# paths sometimes hit real rows), runs schemathesis on every operation and stops the
# server. Exits non-zero on any failed check.
#
# Environment: SWITCHBOARD_BIN (default target/debug/switchboard), FUZZ_EXAMPLES
# (cases per operation, default 100), FUZZ_SEED, FUZZ_VENV (default .venv-ci),
# TEST_POSTGRES_URL (postgres backend; default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-sqlite}
shift || true
SCHEMATHESIS_VERSION=4.32.5
examples=${FUZZ_EXAMPLES:-100}
venv=$(realpath -m "${FUZZ_VENV:-.venv-ci}")
bin=$(realpath -m "${SWITCHBOARD_BIN:-target/debug/switchboard}")
work=$(mktemp -d "${TMPDIR:-/tmp}/sbfuzz.XXXXXX")
server_pid=""
pg_admin=""
pg_db=""

log() { printf '\n==> fuzz (%s): %s\n' "$backend" "$*"; }

cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_db" ]; then
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "---- last lines of the server log ----" >&2
    tail -n 40 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# ---- schemathesis, pinned, in its own virtual environment -----------------------
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ ! -x "$bin" ]; then
  log "building $bin"
  cargo build --bin switchboard
fi

# ---- a fresh database -----------------------------------------------------------
case "$backend" in
  sqlite)
    database_url="sqlite://$work/fuzz.db"
    ;;
  postgres)
    pg_admin=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    pg_db="sbfuzz_$$"
    psql "$pg_admin" -qc "CREATE DATABASE \"$pg_db\"" >/dev/null
    database_url="${pg_admin%/*}/$pg_db"
    ;;
  *)
    echo "usage: $0 sqlite|postgres" >&2
    exit 2
    ;;
esac
export SWITCHBOARD_DATABASE_URL="$database_url"
export SWITCHBOARD_FILES_DIR="$work/files"
# The fuzzer sends thousands of requests with one token.
export SWITCHBOARD_RATE_LIMIT_PER_MINUTE=0

cli() { "$bin" "$@" 2>>"$work/cli.log"; }

log "tenant, owner, token, channels and clients via the CLI"
tenant=$(cli tenant create --name "Fuzz Clinic" | jq -er .id)
user=$(cli user create --tenant "$tenant" --email fuzz@example.com --name "Fuzz Owner" \
  --password 'a long fuzzing password' --role owner | jq -er .id)
# A second member, so the member endpoints have someone to change and remove.
agent=$(cli user create --tenant "$tenant" --email agent@example.com --name "Fuzz Agent" \
  --password 'another long password' --role agent | jq -er .id)
# "read" and "write" are the umbrellas of every scope, clients:* and members:* included.
token=$(cli token create --user "$user" --scope "read write" --expires-in 86400 | jq -er .access_token)
channel=$(cli channel create --tenant "$tenant" --type whatsapp --name "Front desk" \
  --address +905320000000 | jq -er .id)
website=$(cli channel create --tenant "$tenant" --type website --name "Site" --address site-1)
website_id=$(jq -er .id <<<"$website")
website_secret=$(jq -er .inbound_secret <<<"$website")
# One client for the token endpoint, one the client endpoints may delete.
confidential=$(cli client create --tenant "$tenant" --name "Fuzz backend" \
  --redirect-uri http://127.0.0.1:9/cb)
confidential_id=$(jq -er .client_id <<<"$confidential")
confidential_secret=$(jq -er .client_secret <<<"$confidential")
deletable_id=$(cli client create --tenant "$tenant" --name "Fuzz app" --public \
  --redirect-uri http://127.0.0.1:9/cb | jq -er .client_id)

# ---- the server on a free port --------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"
log "starting the server on $base"
"$bin" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server exited" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

api() { # METHOD PATH [JSON]
  curl -sS --fail-with-body -X "$1" "$base$2" -H "Authorization: Bearer $token" \
    -H "X-Tenant: $tenant" -H 'Content-Type: application/json' ${3:+--data "$3"}
}

log "seeding rows"
ids=("$channel" "$website_id")
message_ids=()
for i in 1 2 3 4 5; do
  conversation=$(api POST /api/v1/conversations \
    "{\"channel_id\":$channel,\"address\":\"+90532123456$i\",\"first_name\":\"Ayşe $i\"}" | jq -er .data.id)
  ids+=("$conversation" "$(api GET "/api/v1/conversations/$conversation" | jq -er .data.customer.id)")
  message_ids+=("$(api POST "/api/v1/conversations/$conversation/messages" "{\"message\":\"hello $i\"}" | jq -er .data.message_id)")
  inbound=$(curl -sS --fail-with-body -X POST "$base/api/v1/channels/$website_id/inbound" \
    -H "X-Channel-Secret: $website_secret" -H 'Content-Type: application/json' \
    --data "{\"address\":\"visitor-$i\",\"message\":\"hi $i\",\"external_id\":\"ext-$i\"}")
  message_ids+=("$(jq -er .message_id <<<"$inbound")")
  ids+=("$(jq -er .conversation_id <<<"$inbound")")
  ids+=("$(api POST /api/v1/channel-blacklists \
    "{\"channel_id\":$channel,\"customer_id\":$(api GET "/api/v1/conversations/$conversation" | jq -er .data.customer.id),\"reason\":\"manual\",\"ttl_seconds\":3600,\"metadata\":{\"n\":$i}}" \
    | jq -er .data.id)")
done
ids+=("$(api POST /api/v1/customers '{"first_name":"Mehmet","phone_number":"+905321112233"}' | jq -er .data.id)")
# OAuth access tokens of the confidential client, for revoke and introspect to find.
oauth_tokens=()
for _ in 1 2 3; do
  oauth_tokens+=("$(curl -sS --fail-with-body -X POST "$base/oauth/token" -u "$confidential_id:$confidential_secret" \
    -d grant_type=client_credentials -d scope=conversations:read | jq -er .access_token)")
done

# Generated values hit the seeded rows about half of the time (schemathesis
# dictionaries), so id-taking operations reach their handlers' logic rather than
# answering 404 to random integers.
list() { printf '%s\n' "$@" | sort -nu | paste -sd, -; }
cat >"$work/schemathesis.toml" <<TOML
[dictionaries.ids]
values = [$(list "${ids[@]}")]

[dictionaries.message_ids]
values = [$(list "${message_ids[@]}")]

[dictionaries.members]
values = [$agent, $user]

[dictionaries.deletable_client]
values = ["$deletable_id"]

[dictionaries.oauth_tokens]
values = [$(printf '"%s",' "${oauth_tokens[@]}" | sed 's/,$//')]

[dictionaries.inbound_channel]
values = [$website_id]

[dictionaries.inbound_secret]
values = ["$website_secret"]

[parameters]
"path.id" = { dictionary = "ids", probability = 0.5 }
"path.messageId" = { dictionary = "message_ids", probability = 0.5 }
"path.user_id" = { dictionary = "members", probability = 0.5 }
"path.client_id" = { dictionary = "deletable_client", probability = 0.3 }

[[operations]]
include-operation-id = "ingestInboundMessage"
parameters = { "path.id" = { dictionary = "inbound_channel", probability = 0.8 }, "header.X-Channel-Secret" = { dictionary = "inbound_secret", probability = 0.8 } }

[[operations]]
include-operation-id-regex = "^(revokeToken|introspectToken)$"
parameters = { "body.token" = { dictionary = "oauth_tokens", probability = 0.5 } }

# The owner's token where the document asks for a bearer token; the confidential
# client's credentials (HTTP Basic) at the OAuth endpoints.
[auth.openapi.bearer]
bearer = "$token"

[auth.openapi.client_basic]
username = "$confidential_id"
password = "$confidential_secret"
TOML

# ---- schemathesis ---------------------------------------------------------------
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
st_run() { # REPORT_FILE [st run options...]: one schemathesis run over the document
  local report=$1
  shift
  # From the scratch directory: schemathesis keeps a cache in the working directory.
  (cd "$work" && "$venv/bin/st" --config-file "$work/schemathesis.toml" run "$base/api/openapi.json" \
    --url "$base" \
    --header "X-Tenant: $tenant" \
    --checks "$checks" \
    --max-examples "$examples" \
    ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
    --workers "${FUZZ_WORKERS:-1}" \
    --request-timeout 30 \
    --no-color \
    --report ndjson --report-ndjson-path "$report" \
    "$@")
}
count_cases() { # REPORT_FILE...: cases per operation, "COUNT<TAB>METHOD PATH<TAB>INPUTS", fewest first
  "$venv/bin/python" - "$base/api/openapi.json" "$@" <<'PY'
import collections, json, sys, urllib.request
spec = json.load(urllib.request.urlopen(sys.argv[1]))
inputs = {}
for path, item in spec["paths"].items():
    for method, op in item.items():
        inputs[f"{method.upper()} {path}"] = len(op.get("parameters", [])) + ("requestBody" in op)
cases = collections.Counter({label: 0 for label in inputs})
for report in sys.argv[2:]:
    for line in open(report):
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished and finished.get("phase") != "stateful":
            recorder = finished.get("recorder") or {}
            if recorder.get("label") in inputs:
                cases[recorder["label"]] += len(recorder.get("cases") or {})
for label, n in sorted(cases.items(), key=lambda kv: (kv[1], kv[0])):
    print(f"{n}\t{label}\t{inputs[label]}")
PY
}

log "schemathesis $SCHEMATHESIS_VERSION: every operation, at least $examples cases each"
started=$(date +%s)
st_run "$work/run1.ndjson" "$@"
# In a run over every operation, hypothesis stops early on some operations (ids
# drawn from the rows other operations created leave it few inputs it can tell
# apart). Each operation left under the target gets a fuzzing pass of its own; one
# without any input has nothing more to generate.
short=()
while IFS=$'\t' read -r n label inputs; do
  if [ "$n" -lt "$examples" ] && [ "$inputs" -gt 0 ]; then short+=("$label"); fi
done < <(count_cases "$work/run1.ndjson")
reports=("$work/run1.ndjson")
for label in "${short[@]}"; do
  log "a fuzzing pass of its own for $label"
  report="$work/run$(( ${#reports[@]} + 1 )).ndjson"
  st_run "$report" --phases fuzzing --include-name "$label" >"$work/pass.log" 2>&1 \
    || { cat "$work/pass.log"; exit 1; }
  grep -E '^ *[0-9]+ generated' "$work/pass.log" || true
  reports+=("$report")
done
log "cases per operation (examples, coverage and fuzzing phases; stateful sequences come on top)"
count_cases "${reports[@]}" | tee "$work/counts.tsv" | awk -F'\t' '{printf "  %5d  %s\n", $1, $2}'
fewest=$(awk -F'\t' '$3 > 0 {print $1; exit}' "$work/counts.tsv")
total=$(awk -F'\t' '{s += $1} END {print s}' "$work/counts.tsv")
if [ "$fewest" -lt "$examples" ]; then
  echo "fuzz: an operation with inputs got only $fewest cases (target $examples)" >&2
  exit 1
fi
log "schemathesis passed: $total cases, at least $fewest for every operation with inputs, in $(( $(date +%s) - started ))s"
