#!/usr/bin/env bash
# Dispatch under telemetry load: SITES simulated sites (real VENs over HTTP, `sluice simulate`) poll and
# report DEMAND every REPORT_SECS while the operator dispatches and watches the dispatch. Prints whether
# report ingestion keeps up (accepted reports/s against what the fleet sends, failures, how fresh the
# latency figures are) and GET /ops/dispatches/{id} latency under that load.
#
#   bench/dispatch.sh [sqlite|postgres]      (default sqlite)
#   SITES=1000 REPORT_SECS=4 DURATION=30s PG_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "$0")/.."

SITES=${SITES:-1000}
REPORT_SECS=${REPORT_SECS:-4}
DURATION=${DURATION:-30s}
WHICH=${1:-sqlite}
PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PORT=18093
BASE=http://127.0.0.1:$PORT
OUT=bench/results
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
echo "building release binaries…" >&2
cargo build --release --quiet --bin sluice
BIN=target/release/sluice

BENCH=dispatch
# shellcheck source=bench/db.sh
source bench/db.sh

OP=$("$BIN" client add --role operator --name bench-ops --database "$DB")
SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_CLIENT=100000000 SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_ADDRESS=100000000 SLUICE_LOG__LEVEL=warn "$BIN" serve --bind 127.0.0.1:$PORT --database "$DB" 2>"$OUT/dispatch-server.log" &
pid=$!
for _ in $(seq 1 100); do curl -fs $BASE/health >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=$(curl -fs $BASE/auth/token -d grant_type=client_credentials -d client_id="$(jq -r .client_id <<<"$OP")" \
  -d client_secret="$(jq -r .client_secret <<<"$OP")" | jq -r .access_token)

echo "== $SITES sites on $WHICH, reporting every ${REPORT_SECS}s" >&2
t0=$(date +%s.%N)
"$BIN" simulate --vtn $BASE --sites "$SITES" --operator-credentials "$OP" --prefix bench --program bench-program \
  --report-secs "$REPORT_SECS" --poll-secs "$REPORT_SECS" --response-secs 5 --jitter-secs 3 --ramp-secs 30 \
  --failure-rate 0.02 --summary-secs 1 2>"$work/sim.err" &
sim=$!
until grep -q "sites running" "$work/sim.err" 2>/dev/null; do
  kill -0 "$sim" 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
  sleep 0.5
done
enrolled=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
echo "enrolled in ${enrolled}s; letting every site report a baseline" >&2
sleep $((REPORT_SECS * 3))

program=$(curl -fs "$BASE/programs" -H "Authorization: Bearer $TOKEN" | jq -r '.[] | select(.programName == "bench-program") | .id')
# A third of the fleet's committed MW.
target=$(( SITES * 32 / 3 ))
t1=$(date +%s%N)
D=$(curl -fs $BASE/ops/dispatches -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"programID\":\"$program\",\"targetMW\":\"$target\",\"duration\":\"PT1H\"}")
post_ms=$(( ($(date +%s%N) - t1) / 1000000 ))
id=$(jq -r .id <<<"$D")
echo "dispatched $target MW over $(jq '.sites | length' <<<"$D") sites in ${post_ms} ms" >&2

r0=$(grep -o 'reports [0-9]* ok' "$work/sim.err" | tail -1 | awk '{print $2}'); s0=$(date +%s.%N)
TOKEN=$TOKEN wrk -t1 -c4 -d"$DURATION" --latency -s bench/get.lua "$BASE/ops/dispatches/$id" > "$OUT/$WHICH-dispatch-get.txt"
sleep 6
r1=$(grep -o 'reports [0-9]* ok' "$work/sim.err" | tail -1 | awk '{print $2}'); s1=$(date +%s.%N)
failed=$(grep -o 'ok [0-9]* failed' "$work/sim.err" | tail -1 | awk '{print $2}')
V=$(curl -fs "$BASE/ops/dispatches/$id" -H "Authorization: Bearer $TOKEN")
now=$(date -u +%s)
stale=$(jq -r --argjson now "$now" '[.sites[] | select(.measuredDateTime) | ($now - (.measuredDateTime | sub("\\.[0-9]+Z$"; "Z") | fromdate))] | max // "n/a"' <<<"$V")
rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$pid/status)

lat() { awk -v q="$1" '$1 == q {print $2}' "$OUT/$WHICH-dispatch-get.txt"; }
printf '\ndispatch on %s: %s sites reporting every %ss\n' "$WHICH" "$SITES" "$REPORT_SECS"
printf '  %-48s %s\n' \
  "reports accepted while watching" "$(awk -v a="$r0" -v b="$r1" -v x="$s0" -v y="$s1" 'BEGIN {printf "%.0f/s", (b - a) / (y - x)}') (fleet sends $(awk -v n="$SITES" -v r="$REPORT_SECS" 'BEGIN {printf "%.0f/s", n / r}'))" \
  "reports failed (whole run)" "$failed" \
  "oldest latency figure after the run" "${stale} s (pass every 5 s)" \
  "POST /ops/dispatches" "$post_ms ms" \
  "GET /ops/dispatches/{id} p50 / p99 under load" "$(lat 50%) / $(lat 99%) (target p99 <= 50 ms)" \
  "GET /ops/dispatches/{id} throughput" "$(awk '/Requests\/sec/ {printf "%.0f req/s", $2}' "$OUT/$WHICH-dispatch-get.txt")" \
  "delivered / planned" "$(jq -r '"\(.deliveredMW | tonumber | floor) / \(.plannedMW) MW"' <<<"$V")" \
  "server peak RSS" "$rss MB"
tail -1 "$work/sim.err" | sed 's/^/  simulator: /'
