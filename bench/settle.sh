#!/usr/bin/env bash
# Settlement at scale: SITES sites × DAYS days × 96 quarter hours of meter data, loaded by the
# importer (`sluice import meter`, rows/s), then the program settled with a meter-before baseline and with
# PJM high 4 of 5, timed with peak memory (GNU time). The fleet (vens, sites, enrollments, two event days of
# dispatches) is made over the HTTP API by bench/settle.rs; the period starts on the 1st of the month after
# next, so its dispatches are in the future.
#
#   bench/settle.sh [sqlite|postgres]        (default sqlite)
#   SITES=10000 DAYS=30 PG_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "$0")/.."

SITES=${SITES:-10000}
DAYS=${DAYS:-30}
WHICH=${1:-sqlite}
PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PORT=18094
BASE=http://127.0.0.1:$PORT
OUT=bench/results
mkdir -p "$OUT"

command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
echo "building release binaries…" >&2
# Two builds: an example is built with the dev-dependencies' features, which would change the server
# binary. The server measured is the one `cargo build --release` makes.
cargo build --release --quiet --bin sluice
cargo build --release --quiet --example bench-settle
BIN=target/release/sluice

BENCH=settle
# shellcheck source=bench/db.sh
source bench/db.sh
FROM=$(date -u -d "$(date -u +%Y-%m-01) +2 month" +%Y-%m-%d)
TO=$(date -u -d "$FROM +$((DAYS - 1)) day" +%Y-%m-%d)

OP=$("$BIN" client add --role operator --name bench-ops --database "$DB")
SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_CLIENT=100000000 SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_ADDRESS=100000000 SLUICE_LOG__LEVEL=warn "$BIN" serve --bind 127.0.0.1:$PORT --database "$DB" 2>"$OUT/settle-server.log" &
pid=$!
for _ in $(seq 1 100); do curl -fs $BASE/health >/dev/null 2>&1 && break; sleep 0.1; done

echo "== $SITES sites × $DAYS days on $WHICH, period $FROM – $TO" >&2
PROGRAM=$(target/release/examples/bench-settle --vtn $BASE --operator "$(jq -r '"\(.client_id):\(.client_secret)"' <<<"$OP")" \
  --sites "$SITES" --from "$FROM" --days "$DAYS" --csv "$work/meter.csv")
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=

timed() { # label, command…: runs it under GNU time; prints "<seconds> <peak MB>"
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/$label.out" 2>"$work/$label.err" || { cat "$work/$label.err" >&2; exit 1; }
  awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$work/time"
}

csv_mb=$(du -m "$work/meter.csv" | cut -f1)
read -r import_s import_mb < <(timed import "$BIN" import meter "$work/meter.csv" --database "$DB")
rows=$(jq .readings "$work/import.out")
rm -f "$work/meter.csv"

cat >"$work/mbma.json" <<'JSON'
{"baseline": {"method": "METER_BEFORE", "anchor": "START", "windowMinutes": 60},
 "energyPrice": {"fixedPerMWh": "250"}, "capacityRatePerMWMonth": "5000", "shortfall": {"rule": "PRO_RATA"}}
JSON
cat >"$work/pjm.json" <<'JSON'
{"baseline": {"method": "PJM_HIGH_4_OF_5"},
 "energyPrice": {"fixedPerMWh": "250"}, "capacityRatePerMWMonth": "5000", "shortfall": {"rule": "PER_MWH", "ratePerMWh": "1150"}}
JSON
settle() { # rules file → "<seconds> <peak MB> <statements issued> <total>"
  "$BIN" rules set --program "$PROGRAM" "$1" --database "$DB" >/dev/null
  read -r s mb < <(timed settle "$BIN" settle --program "$PROGRAM" --from "$FROM" --to "$TO" --database "$DB")
  echo "$s $mb $(jq -r '"\(.issued) \(.total)"' "$work/settle.out")"
}
read -r mbma_s mbma_mb mbma_n mbma_total < <(settle "$work/mbma.json")
read -r pjm_s pjm_mb pjm_n pjm_total < <(settle "$work/pjm.json")

intervals=$((SITES * DAYS * 96))
{
printf '\nsettlement on %s: %s sites × %s days × 96 intervals = %s intervals\n' "$WHICH" "$SITES" "$DAYS" "$intervals"
printf '  %-40s %s\n' \
  "import ($csv_mb MB CSV, $rows rows)" "${import_s} s = $(awk -v r="$rows" -v s="$import_s" 'BEGIN {printf "%.0f", r / s}') rows/s, peak ${import_mb} MB" \
  "settle, meter before (MBMA)" "${mbma_s} s, peak ${mbma_mb} MB, ${mbma_n} statements, total ${mbma_total}" \
  "settle, PJM high 4 of 5 (true-ups)" "${pjm_s} s, peak ${pjm_mb} MB, ${pjm_n} statements, total ${pjm_total}" \
  "target" "settle <= 10 s and <= 1024 MB"
} | tee "$OUT/$WHICH-settle.txt"
