#!/usr/bin/env bash
# Regenerates bench/symbol-order.txt: the functions `sluice serve` runs at start and on its hot paths, which
# the linker places together at the front of the code (build.rs passes the file to lld).
#
#   bench/order.sh          (SQLite, and PostgreSQL when PG_URL is reachable; needs valgrind, wrk, jq)
#
# Why: the kernel maps a program's code 64 KB at a time around each page it first executes ("fault-around").
# Hot functions scattered over 20 MB of code made almost all of it resident: 20 MB of the server's RSS under
# load. Packed together they fit in a few MB. A function missing from the list (renamed, new) still works;
# it only costs its 64 KB neighbourhood of memory. Run this again after large changes or a new Rust version
# (symbol names carry hashes that change with them); `bench/run.sh` shows the RSS it gives.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PORT=18092
BASE=http://127.0.0.1:$PORT
OUT=${OUT:-bench/symbol-order.txt}
BIN=target/release/sluice

# One profile per database, each on a fresh one (bench/db.sh), then one list from both.
if [ -z "${WHICH:-}" ]; then
  command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
  cargo build --release --quiet --bin sluice
  profiles=$(mktemp -d)
  trap 'rm -rf "$profiles"' EXIT
  WHICH=sqlite PROFILES=$profiles "$0"
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    WHICH=postgres PROFILES=$profiles "$0"
  else
    echo "PostgreSQL is not reachable on 127.0.0.1:5432: its paths are left out" >&2
  fi
  # Every function of the sluice binary that ran, hottest (own instructions, both runs summed) first.
  awk '
    /^ob=/ { ours = ($0 ~ /\/sluice$/) }
    /^fn=/ { fn = (ours ? substr($0, 4) : "") ; incall = 0; next }
    /^calls=/ { incall = 1; next }
    /^[0-9+-]/ { if (incall) { incall = 0; next } if (fn != "") cost[fn] += $2 }
    END { for (f in cost) print cost[f], f }
  ' "$profiles"/*.out | sort -k1,1nr -k2 | awk '{print $2}' > "$OUT"
  echo "$(wc -l < "$OUT") functions written to $OUT" >&2
  exit
fi
BENCH=order
# shellcheck source=bench/db.sh
source bench/db.sh
# shellcheck source=bench/bodies.sh
source bench/bodies.sh

wait_up() { for _ in $(seq 1 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "server did not start" >&2; exit 1; }
# A short, light load: under callgrind the server runs some 50 times slower, and only which functions
# run matters here, not how often.
load() { TOKEN=$2 CTYPE=${4:-application/json} BODY=${3:-} wrk -t1 -c4 -d3s -s "bench/$5.lua" "$1" >/dev/null; }

profile() {
  local name=$1 url=$2
  echo "== $name: profiling start-up and the request paths that bench/run.sh measures" >&2
  local op ven
  op=$("$BIN" client add --role operator --name order-op --database "$url")
  ven=$("$BIN" client add --role ven --name order-ven --database "$url")
  SLUICE_LOG__LEVEL=warn valgrind -q --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$PROFILES/$name.out" "$BIN" serve --bind 127.0.0.1:$PORT --database "$url" & pid=$!
  wait_up $BASE/health
  token() { curl -fs $BASE/auth/token -d grant_type=client_credentials -d client_id="$(jq -r .client_id <<<"$1")" -d client_secret="$(jq -r .client_secret <<<"$1")" | jq -r .access_token; }
  local opt vent venid seed visible prog
  opt=$(token "$op"); vent=$(token "$ven"); venid=$(jq -r .client_id <<<"$ven")
  seed=$(python3 bench/seed.py $BASE "$opt" "$venid" 20 200)
  visible=$(jq -r .visible_event <<<"$seed"); prog=$(jq -r '.programs[0]' <<<"$seed")
  load "$BASE/events?limit=50" "$vent" "" "" get
  load "$BASE/programs?limit=50" "$opt" "" "" get
  load $BASE/health "" "" "" get
  load $BASE/reports "$vent" "$(report_body "$visible")" "" post
  load $BASE/events "$opt" "$(event_body "$prog")" "" post
  load $BASE/auth/token "" "grant_type=client_credentials&client_id=$venid&client_secret=$(jq -r .client_secret <<<"$ven")" application/x-www-form-urlencoded post
  # Problem answers (401, 404, 400) are part of normal traffic too.
  curl -s $BASE/events >/dev/null
  curl -s $BASE/events/nope -H "Authorization: Bearer $vent" >/dev/null
  curl -s $BASE/reports -H "Authorization: Bearer $vent" -H 'Content-Type: application/json' -d '{' >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

profile "$WHICH" "$DB"
