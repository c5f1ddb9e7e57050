#!/usr/bin/env bash
# test/extra/import_client.sh: scripts/import_client.py, a real client of
# sequenced_import, against a throwaway server (SPEC section 5).
#
# scripts/test.sh runs it as postgres from a copy of the tree, with
# PGHOST/PGPORT/PGUSER/PGDATABASE of a server where the extension is
# installed.  It creates a fresh database, runs the client on
# test/data/batches.ndjson (one batch per line, each in its own
# transaction), dumps the resulting tables and compares everything with
# test/data/batches.expected.  Exit status: 0 when they match.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DB=${IMPORT_CLIENT_DB:-import_client_test}
PYTHON=${PYTHON:-/usr/bin/python3}
PG_BINDIR=${PG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir)}
PATH=$PG_BINDIR:$PATH

work=$(mktemp -d)
cleanup() {
    dropdb --if-exists "$DB" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB" || exit 1
export PGDATABASE=$DB
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pg_sequenced' || exit 1

q() {   # q TITLE SQL: a titled, unaligned result
    echo "== $1"
    psql -X -A -F '|' -P footer=off -v ON_ERROR_STOP=1 -c "$2" 2>&1
}

{
    echo "== client"
    "$PYTHON" "$ROOT/scripts/import_client.py" "$ROOT/test/data/batches.ndjson" 2>&1
    echo "exit status: $?"
    q customers "SELECT id, name, has_magic, email, _sdc_sequence FROM customers ORDER BY id"
    q "customers columns" "SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
                             FROM pg_attribute WHERE attrelid = 'customers'::regclass
                              AND attnum > 0 AND NOT attisdropped ORDER BY attname COLLATE \"C\""
    q events "SELECT kind, at AT TIME ZONE 'UTC' AS at_utc, payload, _sdc_sequence
                FROM events ORDER BY _sdc_sequence, kind, payload::text"
    q registered "SELECT relid, key_columns, max_sequence FROM sequenced_tables ORDER BY relid::text"
    # the feed of customers from 0: every key once, the tombstone of 3 too
    q "customers feed" "SELECT key, deleted, seq, record->>'name' AS name
                          FROM sequenced_changes('customers') ORDER BY pos"
} >"$work/out"

if diff -u "$ROOT/test/data/batches.expected" "$work/out"; then
    echo "import_client: ok"
    exit 0
fi
echo "import_client: output differs from test/data/batches.expected (diff above)"
exit 1
