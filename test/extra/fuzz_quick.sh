#!/usr/bin/env bash
# test/extra/fuzz_quick.sh: the quick profile of the pg_sequenced fuzzer
# (test/fuzz/README.md): ~3,000 seeded hostile inputs against
# sequenced_upsert (both forms), sequenced_delete, sequenced_import and the
# staging trigger, in a database of its own on the server named by
# PGHOST/PGPORT/PGUSER (scripts/test.sh runs it as "postgres").
# Fails on any crash, XX error, error without record position, state left
# behind by a failed call, or output that contradicts the table.
#
# Knobs: FUZZ_SEED (default 1), FUZZ_ARGS (extra arguments to fuzz.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
out=${TMPDIR:-/tmp}/pg_sequenced-fuzz-quick.$$
# shellcheck disable=SC2086
exec "$PY" test/fuzz/fuzz.py --profile quick --seed "${FUZZ_SEED:-1}" \
    --db "pg_sequenced_fuzz_quick_$$" --out "$out" ${FUZZ_ARGS:-}
