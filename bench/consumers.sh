#!/usr/bin/env bash
# bench/consumers.sh: consumers (SPEC section 8) against a plain SQL queue
# with FOR UPDATE SKIP LOCKED and against paging sequenced_changes (issue 21).
#
#   bench/consumers.sh                    # ~5 min on 2 cores; writes bench/RESULTS-consumers.md
#   BENCH_CONSUMER_CHANGES=50000 BENCH_CONSUMER_REPS=1 BENCH_CONSUMER_OUT=/tmp/c.md bench/consumers.sh   # smoke test
#
# Starts a throwaway server (scripts/pgtmp.sh: fsync off, private socket)
# with the installed pg_sequenced (make install first) and runs
# bench/consumers.py there: what it measures and checks is at its top.
# Exit status 1 when a drain's check failed.
#
# Knobs (environment): BENCH_CONSUMER_CHANGES (1000000), BENCH_CONSUMER_WORKERS
# (4), BENCH_CONSUMER_BATCH (1000), BENCH_CONSUMER_REPS (2),
# BENCH_CONSUMER_OUT (bench/RESULTS-consumers.md), PG_CONFIG.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
OUT=${BENCH_CONSUMER_OUT:-$BENCH_DIR/RESULTS-consumers.md}
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# shellcheck source=../scripts/pgtmp.sh
. "$REPO/scripts/pgtmp.sh"
PGTMP_CONF="shared_buffers = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min" pgtmp_start

pgtmp_as_pg psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pg_sequenced'
cp "$BENCH_DIR/consumers.py" "$PGTMP_DIR/consumers.py"
pgtmp_chown "$PGTMP_DIR/consumers.py"
touch "$PGTMP_DIR/out.md"; pgtmp_chown "$PGTMP_DIR/out.md"
status=0
(cd "$PGTMP_DIR" && pgtmp_as_pg env BENCH_CONSUMER_CHANGES="${BENCH_CONSUMER_CHANGES:-1000000}" \
    BENCH_CONSUMER_WORKERS="${BENCH_CONSUMER_WORKERS:-4}" BENCH_CONSUMER_BATCH="${BENCH_CONSUMER_BATCH:-1000}" \
    BENCH_CONSUMER_REPS="${BENCH_CONSUMER_REPS:-2}" \
    /usr/bin/python3 "$PGTMP_DIR/consumers.py" "$PGTMP_DIR/out.md") || status=$?
cp "$PGTMP_DIR/out.md" "$OUT"
echo "report: $OUT"
exit $status
