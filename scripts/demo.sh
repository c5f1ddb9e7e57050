#!/usr/bin/env bash
# scripts/demo.sh: build and install pg_sequenced, start a throwaway server,
# run scripts/demo.sql in a fresh database, stop the server.
#
#   bash scripts/demo.sh            # extra arguments go to psql
#
# SETUP_SKIP=1 skips scripts/setup.sh (when it was just run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}

if [ ! -f scripts/demo.sql ]; then
    echo "demo: scripts/demo.sql not found" >&2
    exit 1
fi
if [ "${SETUP_SKIP:-0}" != 1 ]; then
    bash scripts/setup.sh
fi

. scripts/pgtmp.sh
pgtmp_start

# the postgres user may not be able to read the checkout: give it a copy of
# scripts/ (so demo.sql may \ir files next to it)
cp -r scripts "$PGTMP_DIR/scripts"
pgtmp_chown "$PGTMP_DIR/scripts"

cd "$PGTMP_DIR"
pgtmp_as_pg createdb demo
PGDATABASE=demo pgtmp_as_pg psql -X -v ON_ERROR_STOP=1 -f scripts/demo.sql "$@"
# pgtmp's EXIT trap stops the server and removes its directory
