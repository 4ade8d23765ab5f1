#!/usr/bin/env bash
# Throughput of Sluice relative to a minimal actix-web endpoint on the same machine, in one run.
#
#   bench/run.sh [sqlite|postgres|all]      (default all; PostgreSQL is skipped when unreachable)
#   DURATION=15s CONNECTIONS=32 THREADS=2 PG_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
#
# Data: 20 programs, 1,000 events of which 750 are visible to the VEN; pages of 50. Prints each figure as
# requests/s and as a ratio to hello, /health p99 under load, and the server's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
WHICH=${1:-all}
HELLO_PORT=18090
PORT=18091
BASE=http://127.0.0.1:$PORT
OUT=bench/results
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
echo "building release binaries…" >&2
# Two builds: an example is built with the dev-dependencies' features, which would change the server
# binary. The server measured is the one `cargo build --release` makes.
cargo build --release --quiet --bin sluice
cargo build --release --quiet --example bench-hello
# shellcheck source=bench/bodies.sh
source bench/bodies.sh
BIN=target/release/sluice
HELLO=target/release/examples/bench-hello

pids=()
# The kernel's autogroup scheduling (on by default on Debian) gives each session a CPU share that follows
# its recent load, so PostgreSQL, started in its own session and nearly idle during the read phases, waits
# up to a second for a CPU while wrk and Sluice keep both cores busy: /health p99 then measures the
# scheduler, not Sluice (pgbench's `SELECT 1` stalls alike). Servers run daemons outside login sessions, so
# the benchmark turns it off for its run where it may, and puts it back. AUTOGROUP=keep leaves it alone.
AUTOGROUP_FILE=/proc/sys/kernel/sched_autogroup_enabled
AUTOGROUP_WAS=$(cat "$AUTOGROUP_FILE" 2>/dev/null || echo absent)
if [ "${AUTOGROUP:-off}" = off ] && [ "$AUTOGROUP_WAS" = 1 ] && echo 0 2>/dev/null > "$AUTOGROUP_FILE"; then
  echo "kernel.sched_autogroup_enabled: 0 for this run (was 1; AUTOGROUP=keep to leave it)" >&2
fi
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "$AUTOGROUP_WAS" = 1 ] && echo 1 2>/dev/null > "$AUTOGROUP_FILE" || true
}
trap cleanup EXIT

rps() { awk '/Requests\/sec/ {printf "%.0f", $2}'; }
p99() { awk '$1 == "99%" {print $2}'; }
wait_up() { for _ in $(seq 1 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server did not start" >&2; exit 1; }
load_get() { TOKEN=$2 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s bench/get.lua "$1"; }
load_post() { TOKEN=$2 CTYPE=${4:-application/json} BODY=$3 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s bench/post.lua "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v } else { sub(/s$/, "", v); printf "%.2f", v * 1000 } }'; }

echo "== hello (actix-web minimal endpoint)" >&2
"$HELLO" 127.0.0.1:$HELLO_PORT & pids+=($!)
wait_up http://127.0.0.1:$HELLO_PORT/hello
HELLO_RPS=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" http://127.0.0.1:$HELLO_PORT/hello | rps)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
echo "hello: $HELLO_RPS req/s" >&2

run_db() {
  local name=$1 url=$2
  echo "== sluice on $name" >&2
  # Let the previous phase's writes reach the disk first: their writeback otherwise stalls this phase
  # (seen as /health p99 of 1.5 s on PostgreSQL right after the SQLite phase).
  sync
  local op ven opt vent venid
  op=$("$BIN" client add --role operator --name bench-op --database "$url")
  ven=$("$BIN" client add --role ven --name bench-ven --database "$url")
  SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_CLIENT=100000000 SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_ADDRESS=100000000 SLUICE_LOG__LEVEL=warn "$BIN" serve --bind 127.0.0.1:$PORT --database "$url" & local pid=$!
  pids+=("$pid")
  wait_up $BASE/health
  token() { curl -fs $BASE/auth/token -d grant_type=client_credentials -d client_id="$(jq -r .client_id <<<"$1")" -d client_secret="$(jq -r .client_secret <<<"$1")" | jq -r .access_token; }
  opt=$(token "$op"); vent=$(token "$ven"); venid=$(jq -r .client_id <<<"$ven")
  local seed visible
  seed=$(python3 bench/seed.py $BASE "$opt" "$venid" 20 1000)
  visible=$(jq -r .visible_event <<<"$seed")
  local seen
  seen=$(curl -fs "$BASE/events?skip=700&limit=50" -H "Authorization: Bearer $vent" | jq length)
  [ "$seen" = 50 ] && [ "$(curl -fs "$BASE/events?skip=750" -H "Authorization: Bearer $vent" | jq length)" = 0 ] \
    || { echo "the VEN should see exactly 750 events" >&2; exit 1; }

  local b health health10k a c d e b10k
  # /health is probed during both (b) phases, so that (b) and (b) with 10,000 events share the same load.
  TOKEN= wrk -t1 -c1 -d"$DURATION" --latency $BASE/health > "$OUT/$name-health.txt" & local hp=$!
  b=$(load_get "$BASE/events?limit=50" "$vent" | tee "$OUT/$name-b.txt" | rps)
  wait $hp; health=$(p99 < "$OUT/$name-health.txt")
  python3 bench/seed.py $BASE "$opt" "$venid" 20 9000 --existing-programs >/dev/null
  TOKEN= wrk -t1 -c1 -d"$DURATION" --latency $BASE/health > "$OUT/$name-health10k.txt" & hp=$!
  b10k=$(load_get "$BASE/events?limit=50" "$vent" | tee "$OUT/$name-b10k.txt" | rps)
  wait $hp; health10k=$(p99 < "$OUT/$name-health10k.txt")
  a=$(load_get "$BASE/programs?limit=50" "$opt" | tee "$OUT/$name-a.txt" | rps)
  c=$(load_post $BASE/reports "$vent" "$(report_body "$visible")" | tee "$OUT/$name-c.txt" | rps)
  local prog
  prog=$(jq -r '.programs[0]' <<<"$seed")
  d=$(load_post $BASE/events "$opt" "$(event_body "$prog")" | tee "$OUT/$name-d.txt" | rps)
  e=$(load_post $BASE/auth/token "" "grant_type=client_credentials&client_id=$venid&client_secret=$(jq -r .client_secret <<<"$ven")" application/x-www-form-urlencoded | tee "$OUT/$name-e.txt" | rps)
  local rss
  rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/"$pid"/status)
  # Where the resident memory is, by mapping (KiB), for whoever works on the RSS figure.
  awk '/^[0-9a-f]+-/ {name = ($6 == "" ? "[anonymous]" : $6)} /^Rss:/ {rss[name] += $2} END {for (n in rss) print rss[n], n}' \
    /proc/"$pid"/smaps | sort -rn | head -8 > "$OUT/$name-rss.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true

  printf '\n%s (hello = %s req/s, %s connections, %s threads, %s each, sched_autogroup_enabled=%s)\n' "$name" "$HELLO_RPS" "$CONNECTIONS" "$THREADS" "$DURATION" "$(cat "$AUTOGROUP_FILE" 2>/dev/null || echo absent)"
  printf '  %-44s %8s req/s  ratio %s  (target %s)\n' \
    "(a) GET /programs as operator" "$a" "$(ratio "$a" "$HELLO_RPS")" ">= 0.2" \
    "(b) GET /events as VEN, 1,000 events" "$b" "$(ratio "$b" "$HELLO_RPS")" ">= 0.15" \
    "(b) GET /events as VEN, 10,000 events" "$b10k" "$(ratio "$b10k" "$HELLO_RPS")" "within 20% of (b): $(ratio "$b10k" "$b")" \
    "(c) POST /reports as VEN" "$c" "$(ratio "$c" "$HELLO_RPS")" ">= 0.08" \
    "(d) POST /events as operator" "$d" "$(ratio "$d" "$HELLO_RPS")" ">= 0.07" \
    "(e) POST /auth/token" "$e" "$(ratio "$e" "$HELLO_RPS")" ">= 0.02"
  printf '  %-44s %8s ms   (target < 10 ms)\n' "/health p99 during (b)" "$(to_ms "$health")" \
    "/health p99 during (b), 10,000 events" "$(to_ms "$health10k")"
  printf '  %-44s %8s MB   (target <= 40 MB)\n' "server peak RSS (VmHWM)" "$rss"
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = all ]; then
  dir=$(mktemp -d)
  run_db sqlite "sqlite://$dir/bench.db"
  rm -rf "$dir"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    db="sluice_bench_$$"
    psql -q "$PG_URL" -c "CREATE DATABASE $db" >/dev/null
    run_db postgres "${PG_URL%/*}/$db"
    psql -q "$PG_URL" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
  else
    echo "PostgreSQL is not reachable on 127.0.0.1:5432: skipped" >&2
  fi
fi
