#!/usr/bin/env bash
# Read-cache memory: resident memory through 100,000 lists with distinct queries, and through an hour (on
# the injected clock) of active=true polling by 1,000 site VENs, each with its own grants. Flat is the
# target (within 5 MB after warm-up). In-process: the server's state and services, not HTTP.
#
#   bench/cache.sh [sqlite|postgres]      (default sqlite)
#   REQUESTS=100000 VENS=1000 MINUTES=60 PG_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH=${1:-sqlite}
PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
echo "building the benchmark (release)…" >&2
cargo build --release --quiet --example bench-cache
HELPER=target/release/examples/bench-cache
mkdir -p bench/results

BENCH=cache
# shellcheck source=bench/db.sh
source bench/db.sh
"$HELPER" --database "$DB" --requests "${REQUESTS:-100000}" --vens "${VENS:-1000}" --minutes "${MINUTES:-60}" \
  | tee "bench/results/cache-$WHICH.txt"
