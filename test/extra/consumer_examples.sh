#!/usr/bin/env bash
# test/extra/consumer_examples.sh: the consumer workers of the README,
# examples/consumer.py (psycopg 3) and examples/consumer.js (node-postgres),
# against a throwaway server (SPEC section 8).
#
# scripts/test.sh runs it as postgres from a copy of the tree, with
# PGHOST/PGPORT/PGUSER/PGDATABASE of a server where the extension is
# installed.  In a fresh database, a table is written by a loader -- inserts,
# updates (often of keys in flight), hard deletes, late stale records -- while
# two Python workers share one consumer and two Node workers another, each
# keeping its own mirror table; node-postgres is Debian's node-pg, or
# installed with npm into a temporary directory.  When the loader is done
# and the workers have gone idle, each mirror must equal the table exactly,
# and each consumer must have nothing pending or in flight.  Exit status: 0 when all of this holds.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DB=${CONSUMER_EXAMPLES_DB:-consumer_examples_test}
PYTHON=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
NPM=${NPM:-npm}
PG_BINDIR=${PG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir)}
PATH=$PG_BINDIR:$PATH

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    dropdb --if-exists "$DB" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "consumer_examples: $*"; exit 1; }

# node-postgres: Debian's node-pg (scripts/setup.sh installs it with
# Debian's nodejs), else from the npm registry into the temporary directory
command -v "$NODE" >/dev/null || fail "node is not installed (scripts/setup.sh installs nodejs)"
if NODE_PATH=/usr/share/nodejs "$NODE" -e "require('pg')" >/dev/null 2>&1; then
    node_modules=/usr/share/nodejs
else
    command -v "$NPM" >/dev/null || fail "neither Debian's node-pg nor npm is installed (scripts/setup.sh installs one)"
    (cd "$work" && HOME=$work npm_config_cache=$work/npm-cache "$NPM" install --no-audit --no-fund pg \
        >"$work/npm.log" 2>&1) || { cat "$work/npm.log"; fail "npm install pg failed"; }
    node_modules=$work/node_modules
fi
"$PYTHON" -c 'import psycopg' || fail "psycopg 3 is missing for $PYTHON (Debian: python3-psycopg)"

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB" || exit 1
export PGDATABASE=$DB
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'EOF' || fail "setup failed"
CREATE EXTENSION pg_sequenced;
CREATE TABLE customers (id int PRIMARY KEY, name text, visits int, tags text[], doc jsonb);
INSERT INTO customers SELECT g, 'backfill ' || g, 0, NULL, NULL FROM generate_series(1, 200) g;
SELECT sequenced_register('customers');
-- the mirrors: the table's columns, the same key
CREATE TABLE py_mirror (LIKE customers INCLUDING ALL);
CREATE TABLE js_mirror (LIKE customers INCLUDING ALL);
SELECT sequenced_consumer_create('py', 'customers', visibility_timeout => '30 seconds');
SELECT sequenced_consumer_create('js', 'customers', visibility_timeout => '30 seconds');
EOF

# the workers: they wait up to a second for a change, and stop after five
# seconds without one (the loader is done by then)
for i in 1 2; do
    CONSUMER=py MIRROR=py_mirror BATCH=37 WAIT=1 IDLE_EXIT=5 \
        "$PYTHON" "$ROOT/examples/consumer.py" 2>"$work/py$i.err" &
    pids+=($!)
    CONSUMER=js MIRROR=js_mirror BATCH=41 WAIT=1 IDLE_EXIT=5 NODE_PATH=$node_modules \
        "$NODE" "$ROOT/examples/consumer.js" 2>"$work/js$i.err" &
    pids+=($!)
done

# the loader: 60 rounds of 50 messages over keys 1..400, sequence growing;
# some deletes, some late (stale) records, types the mirror must keep
psql -X -q -v ON_ERROR_STOP=1 >"$work/loader.out" <<'EOF' || fail "the loader failed"
DO $$
DECLARE
    r int;
BEGIN
    FOR r IN 1..60 LOOP
        PERFORM count(*) FROM sequenced_upsert('customers', (
            SELECT jsonb_agg(jsonb_build_object(
                     'action', CASE WHEN (g * 7 + r) % 11 = 0 THEN 'delete' ELSE 'upsert' END,
                     'sequence', CASE WHEN (g + r) % 13 = 0 THEN r * 100 - 5000 ELSE r * 100 + g END,
                     'data', jsonb_build_object('id', (g * 37 + r * 11) % 400 + 1,
                                                'name', 'round ' || r, 'visits', r * g,
                                                'tags', jsonb_build_array('r' || r, 'g' || g),
                                                'doc', jsonb_build_object('r', r, 'nested', jsonb_build_array(g)))))
              FROM generate_series(1, 50) g));
        COMMIT;
        PERFORM pg_sleep(0.02);
    END LOOP;
END $$;
EOF

status=0
for p in "${pids[@]}"; do
    wait "$p" || status=1
done
pids=()
for f in "$work"/py*.err "$work"/js*.err; do
    echo "== $(basename "$f")"
    cat "$f"
done
[ $status = 0 ] || fail "a worker failed"

# each mirror equals the table; nothing pending, nothing in flight
out=$(psql -X -A -t -v ON_ERROR_STOP=1 <<'EOF'
SELECT 'py differs: ' || count(*) FROM (
  (SELECT * FROM customers EXCEPT SELECT * FROM py_mirror)
  UNION ALL (SELECT * FROM py_mirror EXCEPT SELECT * FROM customers)) d;
SELECT 'js differs: ' || count(*) FROM (
  (SELECT * FROM customers EXCEPT SELECT * FROM js_mirror)
  UNION ALL (SELECT * FROM js_mirror EXCEPT SELECT * FROM customers)) d;
SELECT 'rows: ' || (SELECT count(*) FROM customers) || ' ' || (SELECT count(*) FROM py_mirror)
       || ' ' || (SELECT count(*) FROM js_mirror);
SELECT consumer || ': pending ' || pending || ', in flight ' || in_flight
  FROM sequenced_consumers ORDER BY consumer;
EOF
) || fail "the check failed"
echo "$out"
rows=$(sed -n 's/^rows: \([0-9]*\) .*/\1/p' <<<"$out")
[ "${rows:-0}" -gt 100 ] || fail "the table has too few rows ($rows) for the test to mean much"
expected="py differs: 0
js differs: 0
rows: $rows $rows $rows
js: pending 0, in flight 0
py: pending 0, in flight 0"
[ "$out" = "$expected" ] || fail "the mirrors are not the table (expected above: differs 0, pending 0)"
echo "consumer_examples: ok"
exit 0
