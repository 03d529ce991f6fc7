#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md: seeds a million conversations in one tenant, starts
# the release server and drives it with wrk (concurrency 32, a warm-up, 20 s per
# scenario), replays the server's own SQL directly for the raw-SQL limit, repeats L1
# and L4 at 10,000 conversations, and prints one table per backend.
#
#   bash scripts/bench.sh                    # both backends, the full run (~25 min each
#                                            # the first time, seeding included)
#   bash scripts/bench.sh sqlite             # one backend
#   bash scripts/bench.sh --smoke            # CI: small data, a few seconds, debug build
#   bash scripts/bench.sh --soak sqlite      # the soak: 10 minutes of mixed load at half
#                                            # the mix's measured capacity, per minute
#
# Environment (defaults in brackets):
#   BENCH_CONVERSATIONS [1000000]  conversations of the big tenant
#   BENCH_SCALING_CONVERSATIONS [10000]  the same tenant, small, for the scaling ratio
#   BENCH_SECONDS [20]  BENCH_WARMUP [5]  BENCH_CONCURRENCY [32]
#   BENCH_PG_URL [postgres://postgres@127.0.0.1:5432/postgres]  the server to create
#                                 the benchmark databases on
#   BENCH_RESEED [0]  1 reseeds even when a seeded database is cached in .bench/
#   BENCH_PROFILE [release]  cargo profile of the server and the bench tool
#   BENCH_BUILD [1]  0 uses the binaries already in target/<profile>
#   BENCH_IDLE_WAIT [65]  seconds of quiet after the load before the idle RSS
#   SOAK_MINUTES [10]  length of the soak
#   BENCH_ONLY [all]  the scenarios to run, e.g. "C1 I1" (raw ones included: "L1-raw");
#                     for a quick look while working, not for BENCHMARKS.md's tables
#
# Seeded databases and their reports are kept in .bench/ (gitignored) and reused until
# a run writes to them (C1, I1, the soak); then the next run seeds again.
# Results: .bench/results-<backend>.md (the table) and .bench/results-<backend>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
soak=0
backends=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --soak) soak=1 ;;
    sqlite | postgres) backends+=("$arg") ;;
    all) backends=(sqlite postgres) ;;
    *) echo "usage: $0 [--smoke|--soak] [sqlite|postgres|all]" >&2; exit 2 ;;
  esac
done
[ ${#backends[@]} -gt 0 ] || backends=(sqlite postgres)

if [ "$smoke" = 1 ]; then
  : "${BENCH_CONVERSATIONS:=3000}" "${BENCH_SCALING_CONVERSATIONS:=500}"
  : "${BENCH_SECONDS:=2}" "${BENCH_WARMUP:=1}" "${BENCH_PROFILE:=debug}"
  : "${BENCH_SMALL_TENANTS:=2}" "${BENCH_SMALL_CONVERSATIONS:=200}" "${BENCH_IDLE_WAIT:=1}"
fi
idle_wait=${BENCH_IDLE_WAIT:-65}
conversations=${BENCH_CONVERSATIONS:-1000000}
scaling_conversations=${BENCH_SCALING_CONVERSATIONS:-10000}
seconds=${BENCH_SECONDS:-20}
warmup=${BENCH_WARMUP:-5}
concurrency=${BENCH_CONCURRENCY:-32}
profile=${BENCH_PROFILE:-release}
small_tenants=${BENCH_SMALL_TENANTS:-4}
small_conversations=${BENCH_SMALL_CONVERSATIONS:-2000}
pg_url=${BENCH_PG_URL:-${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
out=.bench
mkdir -p "$out"
rm -f "$out"/server-*.log "$out"/server.log
lua=scripts/bench/wrk.lua
server_pid=""

log() { printf '\n==> bench: %s\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

for tool in wrk jq curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "installing $tool"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
  fi
done

bin_dir=target/$profile
if [ "${BENCH_BUILD:-1}" = 1 ]; then
  log "cargo build --profile $profile (server and bench tool)"
  cargo build --profile "$(sed 's/^debug$/dev/' <<<"$profile")" -p switchboard -p switchboard-bench
fi
server_bin=$bin_dir/switchboard
bench_bin=$bin_dir/switchboard-bench
floor_bin=$bin_dir/switchboard-floor

# stop_process PID: asks it to stop and waits for it (nothing if empty or gone).
stop_process() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
stop_server() { stop_process "$server_pid"; server_pid=""; }
floor_pid=""
stop_floor() { stop_process "$floor_pid"; floor_pid=""; }
trap 'stop_floor; stop_small_server; stop_server' EXIT

# database_url BACKEND N: where the seeded database of N conversations lives.
database_url() {
  case "$1" in
    sqlite) echo "sqlite://$out/sqlite-$2.db" ;;
    postgres) echo "${pg_url%/*}/switchboard_bench_$2" ;;
  esac
}

# seeded BACKEND N: seeds (or reuses) the database; prints the report's path.
seeded() {
  local backend=$1 n=$2 url report
  url=$(database_url "$backend" "$n")
  report="$out/$backend-$n.json"
  if [ "${BENCH_RESEED:-0}" != 1 ] && [ -s "$report" ] && [ "$smoke" = 0 ]; then
    log "$backend: reusing the seeded database of $n conversations ($report)"
    echo "$report"
    return
  fi
  case "$backend" in
    sqlite) rm -f "$out/sqlite-$n.db" "$out/sqlite-$n.db-wal" "$out/sqlite-$n.db-shm" ;;
    postgres)
      psql "$pg_url" -qc "DROP DATABASE IF EXISTS switchboard_bench_$n WITH (FORCE)" >/dev/null
      psql "$pg_url" -qc "CREATE DATABASE switchboard_bench_$n" >/dev/null
      ;;
  esac
  log "$backend: seeding $n conversations (+ $small_tenants small tenants)"
  "$bench_bin" seed --database-url "$url" --conversations "$n" \
    --small-tenants "$small_tenants" --small-conversations "$small_conversations" \
    --out "$report" >/dev/null
  log "$backend: seeded in $(jq -r '.seconds | floor' "$report") s: $(jq -c .rows "$report")"
  # The load leaves gigabytes of dirty pages in the kernel; until they are written out,
  # every commit's fsync waits behind them (ext4 commits its journal in order): the
  # first minute of writes measured the disk's writeback, not the server.
  sync
  echo "$report"
}

# Every server start has its own log (a failing scenario's answers stay readable).
server_starts=0
start_server() { # URL
  local port
  server_starts=$((server_starts + 1))
  server_log="$out/server-$server_starts.log"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  base="http://127.0.0.1:$port"
  # The rate limiter stays on (A1 measures it) with a budget the load cannot reach.
  SWITCHBOARD_DATABASE_URL="$1" SWITCHBOARD_RATE_LIMIT_PER_MINUTE=4000000000 \
    SWITCHBOARD_FILES_DIR="$out/files" \
    "$server_bin" serve --listen "127.0.0.1:$port" >"$server_log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$server_log" >&2; die "the server exited"; }
    sleep 0.1
  done
  die "the server did not become ready"
}

rss_kib() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$server_pid/status"; }
# keep_memory_map NAME: where the idle server's memory is (.bench/NAME-smaps.txt), for
# when the idle RSS is more than it should be.
keep_memory_map() { cp "/proc/$server_pid/smaps" "$out/$1-smaps.txt" 2>/dev/null || true; }
run_counter=0

# selected NAME: whether BENCH_ONLY (when set) names the scenario.
selected() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

# scenario NAME METHOD PATH [BODY] [EXTRA_HEADER]: warm-up, then the measured run;
# prints the result as one JSON object with the server's peak RSS during the run.
scenario() {
  local name=$1 method=$2 path=$3 body=${4:-} extra=${5:-} headers result
  selected "$name" || return 0
  headers="Authorization: Bearer $token"$'\n'"X-Tenant: $tenant"
  [ -n "$extra" ] && headers="$extra"
  [ "$extra" = none ] && headers=""
  run_counter=$((run_counter + 1))
  local -a env=(BENCH_METHOD="$method" BENCH_PATH="$path" BENCH_HEADERS="$headers" BENCH_RUN="$run_counter")
  [ -n "$body" ] && env+=(BENCH_BODY="$body")
  env "${env[@]}" wrk -t2 -c"$concurrency" -d"${warmup}s" -s "$lua" "$base" >/dev/null
  # Peak RSS of this run alone: writing 5 to clear_refs resets VmHWM.
  echo 5 >"/proc/$server_pid/clear_refs" 2>/dev/null || true
  run_counter=$((run_counter + 1))
  env[3]=BENCH_RUN=$run_counter
  result=$(env "${env[@]}" wrk -t2 -c"$concurrency" -d"${seconds}s" --timeout 10s -s "$lua" "$base" \
    | sed -n 's/^RESULT //p')
  [ -n "$result" ] || die "$name: wrk printed no result"
  jq -c --arg name "$name" --argjson rss "$(rss_kib VmHWM)" '{scenario: $name} + . + {peak_rss_mb: ($rss / 1024 | . * 10 | round / 10)}' <<<"$result"
  log "$name: $(jq -r '"\(.rps) req/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, errors \(.errors)"' <<<"$result")"
}

# raw NAME [bench raw options]: the server's SQL for that request, without the server.
raw() {
  local name=$1 result
  selected "$name" || return 0
  shift
  result=$("$bench_bin" raw --database-url "$url" --report "$report" --concurrency "$concurrency" \
    --seconds "$seconds" --warmup-seconds "$warmup" "$@")
  jq -c --arg name "$name" '{scenario: $name} + .' <<<"$result"
  log "$name (raw SQL): $(jq -r '"\(.requests_per_sec | floor) req/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' <<<"$result")"
}

# floor NAME MODE: L1's page from the thinnest HTTP server we can write around its
# statement (switchboard-floor, crates/bench/src/floor.rs: no auth, no limiter, no
# log, rows straight to JSON), measured like a scenario; its RSS is the floor's own.
# MODE static answers a page read at start: HTTP and the body, no database.
floor() {
  local name=$1 mode=$2 server=$server_pid server_base=$base addr=""
  selected "$name" || return 0
  "$floor_bin" --database-url "$url" --report "$report" --mode "$mode" \
    >"$out/floor.addr" 2>"$out/floor.log" &
  floor_pid=$!
  for _ in $(seq 1 300); do
    addr=$(head -1 "$out/floor.addr")
    [ -n "$addr" ] && curl -fsS "http://$addr/" >/dev/null 2>&1 && break
    kill -0 "$floor_pid" 2>/dev/null || { cat "$out/floor.log" >&2; die "$name: the floor server exited"; }
    addr=""
    sleep 0.1
  done
  [ -n "$addr" ] || die "$name: the floor server did not answer"
  server_pid=$floor_pid base="http://$addr"
  scenario "$name" GET / "" none
  stop_floor
  server_pid=$server base=$server_base
}

uri() { jq -rn --arg v "$1" '$v | @uri'; }

# check_and_read_params BACKEND: checks the running server's answers on the seeded
# data and sets the scenario parameters the check chose.
check_and_read_params() {
  log "$1: checking the server's answers on the seeded data"
  params=$("$bench_bin" check --report "$report" --url "$base")
  local key
  for key in tenant token name_search phone_search missing_search messages_conversation \
    create_channel inbound_channel inbound_secret; do
    printf -v "$key" '%s' "$(jq -r ".$key" <<<"$params")"
  done
}

# start_small_server BACKEND: starts a second server on the scaling tenant's database
# (small_report), before the big one, which then stays the target of `scenario`.
small_pid="" small_base="" small_token="" small_tenant=""
start_small_server() {
  start_server "$(database_url "$1" "$scaling_conversations")"
  small_pid=$server_pid small_base=$base
}
# check_small_server: checks the small server's answers with the big one's name
# search (check_and_read_params first) and reads its caller.
check_small_server() {
  local params
  params=$("$bench_bin" check --report "$small_report" --url "$small_base" --name-search "$name_search")
  small_tenant=$(jq -r .tenant <<<"$params")
  small_token=$(jq -r .token <<<"$params")
}
stop_small_server() { stop_process "$small_pid"; small_pid=""; }

# on_small_server COMMAND...: runs COMMAND (a scenario) against the small server.
on_small_server() {
  local big_pid=$server_pid big_base=$base big_token=$token big_tenant=$tenant
  server_pid=$small_pid base=$small_base token=$small_token tenant=$small_tenant
  "$@"
  server_pid=$big_pid base=$big_base token=$big_token tenant=$big_tenant
}

bench_backend() {
  local backend=$1 results="$out/results-$backend.jsonl"
  : >"$results"
  # The small tenant's server runs beside the big one's (idle until its turn), so that
  # each scaling pair is measured back to back.
  small_report=$(seeded "$backend" "$scaling_conversations")
  report=$(seeded "$backend" "$conversations")
  url=$(database_url "$backend" "$conversations")
  start_small_server "$backend"
  start_server "$url"
  check_and_read_params "$backend"
  check_small_server
  local list=/api/v1/conversations
  # Each ratio's two sides run one right after the other: the machine's speed drifts
  # by up to 2x within minutes (BENCHMARKS.md, "Noise"), and a ratio of two runs
  # minutes apart measures the drift as much as the server. The raw SQL runs with the
  # server idle.
  {
    scenario L1 GET "$list"
    raw L1-raw
    # How close any HTTP server can come to the raw SQL of L1 on this machine: the
    # floor with the statement, the floor with a page and no statement, and (SQLite)
    # the floor with the server's hand-over of the statement to a blocking thread.
    floor L1-floor inline
    floor L1-floor-static static
    if [ "$backend" = sqlite ]; then floor L1-floor-blocking blocking; fi
    # PostgreSQL: the same floor through sqlx, the driver the list left (BENCHMARKS.md).
    if [ "$backend" = postgres ]; then floor L1-floor-sqlx sqlx; fi
    on_small_server scenario L1-small GET "$list"
    scenario L2 GET "$list?page=1000"
    # L2's raw SQL is there for its latency: mostly the database's own reading of the
    # rows before the page.
    raw L2-raw --page 1000
    scenario L3 GET "$list?channel_type=instagram"
    raw L3-raw --channel-type instagram
    scenario L4 GET "$list?search=$(uri "$name_search")"
    raw L4-raw --search "$name_search"
    on_small_server scenario L4-small GET "$list?search=$(uri "$name_search")"
    scenario L5 GET "$list?search=$(uri "$phone_search")"
    scenario L6 GET "$list?search=$(uri "$missing_search")"
    scenario L7 GET "$list/$messages_conversation/messages"
    # A1: the per-request cost of the token check and the rate limiter: a route with
    # both and one small query, against a route with neither.
    scenario A1-auth GET /api/v1/account/tenants
    scenario A1-none GET /healthz "" none
  } >>"$results"
  stop_small_server
  {
    scenario C1 POST "$list" "{\"channel_id\":$create_channel,\"address\":\"+90 555 {n}\",\"first_name\":\"Bench\",\"last_name\":\"Create\"}"
    scenario I1 POST "/api/v1/channels/$inbound_channel/inbound" \
      "{\"address\":\"+90 544 000 {k}\",\"first_name\":\"Bench\",\"message\":\"Merhaba, randevu almak istiyorum. Yarın öğleden sonra uygun musunuz?\",\"external_id\":\"bench-{n}\"}" \
      "X-Channel-Secret: $inbound_secret"
  } >>"$results"
  # Idle: past the pools' idle timeout (30 s by default; the pool looks every 30 s),
  # when the reader connections the load opened are closed again.
  sleep "$idle_wait"
  idle_rss=$(rss_kib VmRSS)
  keep_memory_map "$backend"
  stop_server
  # C1 and I1 wrote to the seeded database, so the checker's model no longer matches
  # it: the next run seeds again. A run of read scenarios only (BENCH_ONLY) keeps it.
  if selected C1 || selected I1; then rm -f "$report"; fi

  summarize "$backend" "$results" "$idle_rss" | tee "$out/results-$backend.md"
  jq -s --arg backend "$backend" --argjson idle "$idle_rss" --argjson n "$conversations" \
    '{backend: $backend, conversations: $n, idle_rss_mb: ($idle / 1024), scenarios: .}' "$results" \
    >"$out/results-$backend.json"
  # Every scenario must have run without an error; a benchmark of failures means nothing.
  local failed
  failed=$(jq -r 'select((.errors // 0) > 0) | .scenario' "$results")
  if [ -n "$failed" ]; then
    log "$backend: answers by status, per server log"
    for f in "$out"/server-*.log; do
      echo "$f: $(sed 's/\x1b\[[0-9;]*m//g' "$f" | grep -o 'status=[0-9]*' | sort | uniq -c | tr -s ' \n' ' ')" >&2
    done
    die "$backend: scenarios with errors: $failed"
  fi
}

summarize() { # BACKEND RESULTS IDLE_KIB: the markdown table
  jq -rs --arg backend "$1" --argjson idle "$3" --argjson n "$conversations" --argjson small "$scaling_conversations" \
    --argjson c "$concurrency" --argjson s "$seconds" '
    def r(x): if x == null then "" else (x * 100 | round / 100 | tostring) end;
    (map({key: .scenario, value: .}) | from_entries) as $by
    | def ratio(a; b): if $by[a] and $by[b] then r($by[a].rps / $by[b].requests_per_sec) else "" end;
      def per(a; b): if $by[a] and $by[b] then r($by[a].rps / $by[b].rps) else "" end;
      def scale(a; b): if $by[a] and $by[b] then r($by[a].p50_ms / $by[b].p50_ms) else "" end;
    "### \($backend): \($n) conversations in one tenant, concurrency \($c), \($s) s per scenario\n",
    "| scenario | requests/s | p50 ms | p99 ms | errors | server peak RSS MB |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    (.[] | "| \(.scenario) | \(r(.rps // .requests_per_sec)) | \(r(.p50_ms)) | \(r(.p99_ms)) | \(.errors // "") | \(.peak_rss_mb // "") |"),
    "",
    "- server / raw SQL throughput: L1 \(ratio("L1"; "L1-raw")), L2 \(ratio("L2"; "L2-raw")), L3 \(ratio("L3"; "L3-raw")), L4 \(ratio("L4"; "L4-raw"))",
    "- the floor (the thinnest HTTP server around the statement of L1) / raw SQL: \(ratio("L1-floor"; "L1-raw")); server / floor: L1 \(per("L1"; "L1-floor"))",
    "- scaling, p50 at \($n) / p50 at \($small): L1 \(scale("L1"; "L1-small")), L4 \(scale("L4"; "L4-small"))",
    "- server RSS idle after the load: \(r($idle / 1024)) MB",
    ""' "$2"
}

# soak BACKEND: the mixed load of scripts/bench/mix.lua at half its measured
# capacity for SOAK_MINUTES, one row per minute (throughput, latency, errors, RSS).
soak_backend() {
  local backend=$1 minutes=${SOAK_MINUTES:-10} rows="$out/soak-$backend.jsonl" capacity rate result minute
  report=$(seeded "$backend" "$conversations")
  url=$(database_url "$backend" "$conversations")
  start_server "$url"
  check_and_read_params "$backend"
  "$bench_bin" names --count 10000 >"$out/soak-names.tsv"
  export SOAK_NAMES=$out/soak-names.tsv SOAK_TOKEN=$token SOAK_TENANT=$tenant SOAK_SEARCH=$(uri "$name_search") \
    SOAK_CONVERSATION=$messages_conversation SOAK_CREATE_CHANNEL=$create_channel \
    SOAK_INBOUND_CHANNEL=$inbound_channel SOAK_INBOUND_SECRET=$inbound_secret \
    SOAK_CONNECTIONS=$concurrency
  SOAK_RUN=1 wrk -t2 -c"$concurrency" -d"${warmup}s" -s scripts/bench/mix.lua "$base" >/dev/null
  capacity=$(SOAK_RUN=2 wrk -t2 -c"$concurrency" -d"${seconds}s" -s scripts/bench/mix.lua "$base" \
    | sed -n 's/^RESULT //p' | jq .rps)
  rate=$(jq -n --argjson c "$capacity" '$c / 2 | floor')
  log "$backend: mix capacity $capacity req/s; soaking at $rate req/s for $minutes minutes"
  : >"$rows"
  local start_rss
  start_rss=$(rss_kib VmRSS)
  for minute in $(seq 1 "$minutes"); do
    result=$(SOAK_RUN=$((minute + 2)) SOAK_RATE=$rate wrk -t2 -c"$concurrency" -d60s --timeout 10s \
      -s scripts/bench/mix.lua "$base" | sed -n 's/^RESULT //p')
    jq -c --argjson m "$minute" --argjson rss "$(rss_kib VmRSS)" '{minute: $m} + . + {rss_mb: ($rss / 1024 | . * 10 | round / 10)}' <<<"$result" | tee -a "$rows" >&2
  done
  # As after the benchmark: past the pools' idle timeout.
  sleep "$idle_wait"
  local idle_rss
  idle_rss=$(rss_kib VmRSS)
  keep_memory_map "soak-$backend"
  stop_server
  rm -f "$report" # the soak wrote to it (see bench_backend)
  jq -rs --arg backend "$backend" --argjson capacity "$capacity" --argjson rate "$rate" \
    --argjson start "$start_rss" --argjson idle "$idle_rss" --argjson n "$conversations" '
    def r(x): x * 100 | round / 100 | tostring;
    "### soak, \($backend): \($n) conversations, mix capacity \(r($capacity)) req/s, offered \($rate) req/s\n",
    "| minute | requests/s | p50 ms | p99 ms | errors (non-2xx) | server RSS MB |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    (.[] | "| \(.minute) | \(r(.rps)) | \(r(.p50_ms)) | \(r(.p99_ms)) | \(.errors) (\(.non_2xx_3xx)) | \(.rss_mb) |"),
    "",
    "- RSS after the capacity run \(r($start / 1024)) MB, after the soak \(r(.[-1].rss_mb)) MB: growth \(r((.[-1].rss_mb * 1024 / $start - 1) * 100)) %",
    "- p99 per minute: min \(r(map(.p99_ms) | min)) ms, max \(r(map(.p99_ms) | max)) ms; errors in all: \(map(.errors) | add)",
    "- RSS idle after the soak (past the pools idle timeout): \(r($idle / 1024)) MB",
    ""' "$rows" | tee "$out/soak-$backend.md"
}

for backend in "${backends[@]}"; do
  if [ "$soak" = 1 ]; then
    soak_backend "$backend"
  else
    bench_backend "$backend"
  fi
done
