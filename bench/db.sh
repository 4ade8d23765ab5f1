# Sourced by the benchmark scripts (after `cd` to the repository and setting WHICH, PG_URL and BENCH): a fresh
# database for one run in $DB — a SQLite file in a temporary directory ($work), or a new PostgreSQL database
# on PG_URL — removed on exit, together with the server ($pid) and the simulator ($sim) when they are set.
pid= sim= pgdb=
work=$(mktemp -d)
cleanup() {
  [ -n "$sim" ] && kill "$sim" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$pgdb" ] && psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

case $WHICH in
  sqlite) DB="sqlite://$work/$BENCH.db" ;;
  postgres)
    pgdb="sluice_${BENCH}_$$"
    psql -q "$PG_URL" -c "CREATE DATABASE $pgdb" >/dev/null
    DB="${PG_URL%/*}/$pgdb" ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
