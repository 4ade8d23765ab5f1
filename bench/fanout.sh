#!/usr/bin/env bash
# Fan-out: N VENs, each with a webhook subscription (receivers on loopback in the helper process) and an
# MQTT connection to the embedded broker; one event targeted at all of them. Prints the operator's POST
# latency (with and without the subscribers) and, from the POST's return, when each VEN heard of the event.
#
#   bench/fanout.sh [sqlite|postgres]      (default sqlite)
#   VENS=10000 PG_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "$0")/.."

VENS=${VENS:-10000}
WHICH=${1:-sqlite}
PG_URL=${PG_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PORT=18092
MQTT_PORT=18883

# 10,000 webhook connections and 10,000 MQTT sessions need more than the usual 1,024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "building release binaries…" >&2
# Two builds: an example is built with the dev-dependencies' features, which would change the server
# binary. The server measured is the one `cargo build --release` makes.
cargo build --release --quiet --bin sluice
cargo build --release --quiet --example bench-fanout
BIN=target/release/sluice
HELPER=target/release/examples/bench-fanout

BENCH=fanout
# shellcheck source=bench/db.sh
source bench/db.sh

"$BIN" cert dev --out "$work/certs" 2>/dev/null
echo "seeding $VENS VEN clients…" >&2
OP=$("$HELPER" seed --database "$DB" --vens "$VENS" --vens-file "$work/vens.txt")

SLUICE_LOG__LEVEL=${SLUICE_LOG__LEVEL:-warn} \
SLUICE_MQTT__ENABLED=true SLUICE_MQTT__BIND=127.0.0.1:$MQTT_PORT \
SLUICE_NOTIFICATIONS__ALLOW_LOOPBACK=true SLUICE_NOTIFICATIONS__EXTRA_CA_FILE="$work/certs/dev-cert.pem" \
SLUICE_DATABASE__POOL_SIZE=16 \
SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_CLIENT=100000000 SLUICE_AUTH__TOKEN_REQUESTS_PER_MINUTE_PER_ADDRESS=100000000 \
  "$BIN" serve --bind 127.0.0.1:$PORT --database "$DB" 2>bench/results/fanout-server.log &
pid=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$PORT/health >/dev/null 2>&1 && break; sleep 0.1; done

echo "== fan-out on $WHICH" >&2
"$HELPER" --vtn http://127.0.0.1:$PORT --mqtt mqtt://127.0.0.1:$MQTT_PORT --operator "$OP" \
  --vens-file "$work/vens.txt" --cert-dir "$work/certs"
echo "  server peak RSS $(awk '/VmHWM/ {printf "%.1f MB", $2 / 1024}' /proc/$pid/status)"
