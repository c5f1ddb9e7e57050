#!/usr/bin/env bash
# test/extra/import_client.sh: scripts/import_client.py, a real client of
# sequenced_import, against a throwaway server (SPEC section 5).
#
# scripts/test.sh runs it as postgres from a copy of the tree, with
# PGHOST/PGPORT/PGUSER/PGDATABASE of a server where the extension is
# installed.  It creates a fresh database, runs the client on
# test/data/batches.ndjson (one batch per line, each in its own
# transaction), dumps the resulting tables and compares everything with
# test/data/batches.expected.  The client's summary line (standard error)
# is checked on its own: its counts must be those of the batches sent (the
# file), of the per-batch lines and of the tables; standard error, not a
# terminal here, must hold no progress line.  --quiet is checked the same
# way, and, where util-linux's script(1) can give the client a pseudo-
# terminal, that the progress line shows there and --quiet hides it.
# Exit status: 0 when all of this holds.
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

CLIENT=("$PYTHON" "$ROOT/scripts/import_client.py")
DATA=$ROOT/test/data/batches.ndjson
# the client's last line on stderr; its progress line (a terminal only) says
# "(N failed)", the summary "(N applied, M failed)"
SUMMARY_RE='^import_client: [0-9]+ batch(es)? sent \([0-9]+ applied, [0-9]+ failed\), [0-9]+ messages? \([0-9]+ applied\) in [0-9.]+ s, [0-9]+ messages/s: '
PROGRESS_RE='import_client: [0-9]+ batch(es)? sent \([0-9]+ failed\)'

{
    echo "== client"
    "${CLIENT[@]}" "$DATA" 2>"$work/client.err"
    echo "exit status: $?"
    # anything else on stderr shows in the diff
    grep -v -E "$SUMMARY_RE" "$work/client.err"
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

rc=0
if ! diff -u "$ROOT/test/data/batches.expected" "$work/out"; then
    echo "import_client: output differs from test/data/batches.expected (diff above)"
    rc=1
fi

fail() { echo "import_client: summary: $*"; rc=1; }

# --- the summary line of the run above
summary=$(grep -E "$SUMMARY_RE" "$work/client.err")
echo "summary line: $summary"
[ "$(grep -c -E "$SUMMARY_RE" "$work/client.err")" = 1 ] || fail "not exactly one summary line on stderr"
[ "$(tail -n 1 "$work/client.err")" = "$summary" ] || fail "the summary is not the last line on stderr"
if grep -q $'\r' "$work/client.err"; then fail "a progress line (carriage return) on stderr, which is no terminal"; fi

# what was sent, counted from the file without the client's code
read -r sent_batches sent_messages < <("$PYTHON" -c '
import json, sys
b = m = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        b += 1
        try:
            msgs = json.loads(line).get("messages")
        except (ValueError, AttributeError):
            msgs = None
        m += len(msgs) if isinstance(msgs, list) else 0
print(b, m)' "$DATA")
# what the per-batch lines on stdout say: applied batches, their messages,
# and every outcome word with its total
read -r line_applied line_failed <<<"$(sed -n 's/^batches: [0-9]*, applied: \([0-9]*\), failed: \([0-9]*\)$/\1 \2/p' "$work/out")"
line_msgs=$(awk '/^batch [0-9]+ \(line [0-9]+\) .*: [0-9]+ messages?: / {
                     for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^messages?:$/) { s += $i; break } }
                 END { print s + 0 }' "$work/out")
line_outcomes=$(awk '/^batch [0-9]+ \(line [0-9]+\) .*: [0-9]+ messages?: / {
                         for (i = 1; i <= NF; i++) if ($i ~ /^[a-z_]+=[0-9]+$/) { split($i, kv, "="); t[kv[1]] += kv[2] } }
                     END { for (k in t) print k "=" t[k] }' "$work/out" | sort | tr '\n' ' ')

re='^import_client: ([0-9]+) batch(es)? sent \(([0-9]+) applied, ([0-9]+) failed\), ([0-9]+) messages? \(([0-9]+) applied\) in [0-9.]+ s, [0-9]+ messages/s: (.*)$'
if [[ $summary =~ $re ]]; then
    s_batches=${BASH_REMATCH[1]} s_applied=${BASH_REMATCH[3]} s_failed=${BASH_REMATCH[4]}
    s_messages=${BASH_REMATCH[5]} s_applied_msgs=${BASH_REMATCH[6]} s_words=${BASH_REMATCH[7]}
    [ "$s_batches" = "$sent_batches" ] || fail "batches $s_batches, the file has $sent_batches"
    [ "$s_messages" = "$sent_messages" ] || fail "messages $s_messages, the file has $sent_messages"
    [ "$s_applied $s_failed" = "$line_applied $line_failed" ] ||
        fail "applied/failed $s_applied/$s_failed, stdout says $line_applied/$line_failed"
    [ "$s_applied_msgs" = "$line_msgs" ] || fail "applied messages $s_applied_msgs, the batch lines add up to $line_msgs"
    s_outcomes=$(tr ' ' '\n' <<<"$s_words" | grep . | sort | tr '\n' ' ')
    [ "$s_outcomes" = "$line_outcomes" ] || fail "outcomes '$s_outcomes', the batch lines add up to '$line_outcomes'"
    s_total=$(tr ' ' '\n' <<<"$s_words" | awk -F= '{ s += $2 } END { print s + 0 }')
    [ "$s_total" = "$s_applied_msgs" ] || fail "the outcomes add up to $s_total, not to the $s_applied_msgs applied messages"
    # and the tables: every insert made a row, the one delete removed one
    # (events is append-only; customers' tombstone leaves no row)
    rows=$(psql -X -At -c "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM events)")
    ins=$(sed -n 's/.*\binserted=\([0-9]*\).*/\1/p' <<<"$s_words")
    del=$(sed -n 's/.*\bdeleted=\([0-9]*\).*/\1/p' <<<"$s_words")
    [ "$rows" = "$((${ins:-0} - ${del:-0}))" ] || fail "inserted - deleted = $((${ins:-0} - ${del:-0})), the tables hold $rows rows"
    # the numbers of this file, literally (the time and rate vary)
    want='import_client: 7 batches sent (5 applied, 2 failed), 17 messages (15 applied) in S s, R messages/s: inserted=7 updated=1 deleted=1 stale=3 superseded=3'
    got=$(sed -E 's/ in [0-9.]+ s, [0-9]+ messages\/s:/ in S s, R messages\/s:/' <<<"$summary")
    [ "$got" = "$want" ] || fail "got    '$got'
                           wanted '$want'"
else
    fail "no summary line on stderr matches the expected form"
fi

# --- --quiet, stderr not a terminal: the summary only (a replay: the
# keyed batches are now stale, the append-only one inserts again)
"${CLIENT[@]}" --quiet "$DATA" >"$work/quiet.out" 2>"$work/quiet.err"
qrc=$?
[ "$qrc" = 1 ] || fail "--quiet: exit status $qrc, not 1"
if [ "$(wc -l <"$work/quiet.err")" != 1 ] || ! grep -q -E "$SUMMARY_RE" "$work/quiet.err"; then
    fail "--quiet: stderr is not the summary line alone: $(cat -A "$work/quiet.err")"
fi
grep -q -E '^import_client: 7 batches sent \(5 applied, 2 failed\), 17 messages \(15 applied\)' "$work/quiet.err" ||
    fail "--quiet: wrong totals: $(cat "$work/quiet.err")"
[ "$(grep -c '^batch ' "$work/quiet.out")" = 7 ] || fail "--quiet: stdout lost its batch lines"

# --- on a terminal (script(1) makes a pseudo-terminal; skipped without it)
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    printf -v cmd '%q ' "${CLIENT[@]}" "$DATA"
    script -qec "$cmd" /dev/null >"$work/tty.out" 2>&1 </dev/null
    grep -q -a -E $'\r'"$PROGRESS_RE" "$work/tty.out" || fail "terminal: no progress line: $(tail -c 400 "$work/tty.out" | cat -A)"
    grep -q -a -E "$SUMMARY_RE" "$work/tty.out" || fail "terminal: no summary line"
    script -qec "$cmd --quiet" /dev/null >"$work/ttyq.out" 2>&1 </dev/null
    ! grep -q -a -E "$PROGRESS_RE" "$work/ttyq.out" || fail "terminal, --quiet: a progress line"
    grep -q -a -E "$SUMMARY_RE" "$work/ttyq.out" || fail "terminal, --quiet: no summary line"
    echo "terminal check: progress shown, hidden by --quiet"
else
    echo "terminal check skipped: no script(1)"
fi

if [ $rc = 0 ]; then
    echo "import_client: ok"
fi
exit $rc
