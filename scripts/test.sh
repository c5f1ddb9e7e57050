#!/usr/bin/env bash
# scripts/test.sh: THE test command (CI runs it through .ci/run).
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh regress tap     # only some suites
#                                        # (regress, isolation, tap, extra, sanitize)
#
# 1. scripts/setup.sh: packages, build with -Werror, make install.
# 2. a throwaway server (scripts/pgtmp.sh), private port and socket dir.
# 3. a copy of the tree owned by "postgres" (TAP tests refuse root and
#    write into the tree), where `make installcheck` runs as postgres, once
#    per suite so that a failing suite does not hide the next one:
#      regress    test/sql/*.sql   vs expected/*.out   (pg_regress)
#      isolation  test/specs/*.spec vs expected/*.out  (pg_isolation_regress)
#      tap        test/t/*.pl      (prove, PostgreSQL::Test::Cluster)
#      extra      every executable test/extra/*.sh, run as postgres in the
#                 copy with PGHOST/PGPORT/PGUSER/PGDATABASE of the server;
#                 each one is one test, its exit status decides.
#      sanitize   scripts/sanitize.sh: regress, isolation, tap and extra
#                 again, against an AddressSanitizer + UBSan build on a
#                 private copy of the installation and its own server; one
#                 test, failed by any failing suite or any sanitizer report.
# 4. on failure: the diffs and logs, head-limited.
# 5. last line: "N passed, M failed" (", K skipped" when a TAP file skipped
#    itself for want of something this machine lacks, named above it);
#    exit status 0 only if nothing failed.
#
# Results (results/, diffs, TAP logs, server log) are copied to
# $TEST_OUTPUT_DIR (default /tmp/pg_sequenced-test-output) after each run,
# e.g. to turn results/foo.out into expected/foo.out once checked by eye.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
OUT=${TEST_OUTPUT_DIR:-/tmp/pg_sequenced-test-output}
SHOW_LINES=${SHOW_LINES:-300}

passed=0
failed=0
skipped=0
skipped_why=
status=0

finish() {
    [ "$(type -t pgtmp_stop)" = function ] && pgtmp_stop
    echo
    if [ "$skipped" -gt 0 ]; then
        echo "skipped (not counted as passed):"
        printf '%s' "$skipped_why" | sed 's/^/  /'
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

show() {    # show FILE [LINES]: print a file, head-limited
    local f=$1 n=${2:-$SHOW_LINES} total
    [ -s "$f" ] || return 0
    total=$(wc -l <"$f")
    echo "----- $f ($total lines) -----"
    head -n "$n" "$f"
    [ "$total" -gt "$n" ] && echo "----- ... $((total - n)) more lines, see $OUT -----"
    return 0
}

# --- which suites ---------------------------------------------------------
want_regress=0 want_isolation=0 want_tap=0 want_extra=0 want_sanitize=0
if [ $# -eq 0 ]; then
    want_regress=1 want_isolation=1 want_tap=1 want_extra=1 want_sanitize=1
fi
for a in "$@"; do
    case $a in
        regress) want_regress=1 ;;
        isolation) want_isolation=1 ;;
        tap) want_tap=1 ;;
        extra) want_extra=1 ;;
        sanitize) want_sanitize=1 ;;
        *) echo "usage: $0 [regress] [isolation] [tap] [extra] [sanitize]" >&2; exit 2 ;;
    esac
done

# --- build ----------------------------------------------------------------
if ! bash scripts/setup.sh; then
    echo "== BUILD FAILED"
    failed=1
    finish
fi

# --- server and tree copy ---------------------------------------------------
. scripts/pgtmp.sh
if ! pgtmp_start; then
    failed=1
    finish
fi

TREE=$PGTMP_DIR/tree
mkdir -p "$TREE"
tar -C "$ROOT" --exclude=./.git --exclude=./results --exclude=./output_iso \
    --exclude=./tmp_check --exclude=./log --exclude='./regression.*' -cf - . |
    tar -C "$TREE" -xf -
# the released versions' sources, for the update test
bash "$ROOT/scripts/old_releases.sh" "$TREE"
pgtmp_chown "$TREE"

# run_make LOG VAR=... : `make installcheck` as postgres in the copy
run_make() {
    local log=$1
    shift
    (cd "$TREE" && pgtmp_as_pg make --no-print-directory installcheck \
        PG_CONFIG="$PG_CONFIG" "$@") 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}

# count_pg_regress LOG RC: add pg_regress's per-test results to the totals
# (PG 15 prints "test x ... ok|FAILED", PG 16+ "ok N - x"/"not ok N - x").
count_pg_regress() {
    local log=$1 rc=$2 ok bad
    ok=$(grep -cE '^(test +| +)[^ ]+ +\.\.\. +(ok|failed \(ignored\))|^ok [0-9]+ ' "$log")
    bad=$(grep -cE '^(test +| +)[^ ]+ +\.\.\. +FAILED|^not ok [0-9]+ ' "$log")
    # pg_regress failed before running tests (CREATE EXTENSION, connection...)
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
}

shopt -s nullglob

# --- regress ----------------------------------------------------------------
regress_tests=(test/sql/*.sql)
if [ $want_regress = 1 ] && [ ${#regress_tests[@]} -gt 0 ]; then
    echo "== regress (${#regress_tests[@]} tests)"
    run_make "$PGTMP_DIR/regress.log" ISOLATION= TAP_TESTS=
    rc=$?
    count_pg_regress "$PGTMP_DIR/regress.log" $rc
    if [ $rc -ne 0 ]; then
        status=1
        echo "== regress FAILED"
        show "$TREE/regression.diffs"
        grep -E 'terminated by signal|PANIC|TRAP:' "$PGTMP_LOG" >/dev/null 2>&1 && show "$PGTMP_LOG" 100
    fi
    # the isolation run reuses results/ and regression.diffs: keep these apart
    [ -e "$TREE/regression.diffs" ] && mv "$TREE/regression.diffs" "$PGTMP_DIR/regress.diffs"
    [ -d "$TREE/results" ] && mv "$TREE/results" "$PGTMP_DIR/regress.results"
fi

# --- isolation --------------------------------------------------------------
iso_tests=(test/specs/*.spec)
if [ $want_isolation = 1 ] && [ ${#iso_tests[@]} -gt 0 ]; then
    echo "== isolation (${#iso_tests[@]} tests)"
    run_make "$PGTMP_DIR/isolation.log" REGRESS= TAP_TESTS=
    rc=$?
    count_pg_regress "$PGTMP_DIR/isolation.log" $rc
    if [ $rc -ne 0 ]; then
        status=1
        echo "== isolation FAILED"
        show "$TREE/output_iso/regression.diffs"
        show "$TREE/regression.diffs"
        grep -E 'terminated by signal|PANIC|TRAP:' "$PGTMP_LOG" >/dev/null 2>&1 && show "$PGTMP_LOG" 100
    fi
fi

# --- TAP --------------------------------------------------------------------
tap_tests=(test/t/*.pl)
if [ $want_tap = 1 ] && [ ${#tap_tests[@]} -gt 0 ]; then
    echo "== tap (${#tap_tests[@]} files)"
    log=$PGTMP_DIR/tap.log
    run_make "$log" REGRESS= ISOLATION=
    rc=$?
    # prove: "Files=N, Tests=..." when it finished; the "Test Summary Report"
    # lists each failed file as "test/t/x.pl (Wstat: ...".
    ran=$(sed -n 's/^Files=\([0-9]*\),.*/\1/p' "$log" | tail -n 1)
    bad_files=$(grep -oE '^[^ ]+\.pl +\(Wstat' "$log" | sed 's/ .*//' | sort -u)
    nbad=$(printf '%s' "$bad_files" | grep -c . || true)
    # a file that skips itself (skip_all: what it needs is not on this
    # machine) did not pass: it is counted and named as skipped
    skipped_files=$(grep -E '^test/t/[^ ]+\.pl \.+ skipped: ' "$log" || true)
    nskip=$(printf '%s' "$skipped_files" | grep -c . || true)
    skipped=$((skipped + nskip))
    [ -n "$skipped_files" ] && skipped_why="$skipped_why$skipped_files
"
    ok=$(( ${ran:-0} - nbad - nskip ))
    [ $ok -lt 0 ] && ok=0
    bad=$(( ${#tap_tests[@]} - ok - nskip ))
    if [ $rc -ne 0 ] && [ $bad -eq 0 ]; then
        bad=1
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    if [ $rc -ne 0 ]; then
        status=1
        echo "== tap FAILED"
        if [ -n "$bad_files" ]; then
            names=$(printf '%s\n' "$bad_files" | sed 's#.*/##; s/\.pl$//')
        else
            names=$(printf '%s\n' "${tap_tests[@]}" | sed 's#.*/##; s/\.pl$//')
        fi
        for n in $names; do
            show "$TREE/tmp_check/log/regress_log_$n" 200
            for f in "$TREE"/tmp_check/log/"${n}"_*.log; do
                echo "----- tail of $f -----"
                tail -n 40 "$f"
            done
        done
    fi
fi

# --- extra ------------------------------------------------------------------
if [ $want_extra = 1 ]; then
    for f in test/extra/*.sh; do
        [ -x "$f" ] || continue
        echo "== extra $f"
        (cd "$TREE" && pgtmp_as_pg "./$f") 2>&1 | tee "$PGTMP_DIR/extra.log"
        rc=${PIPESTATUS[0]}
        if [ "$rc" -eq 0 ]; then
            echo "== extra $f ... ok"
            passed=$((passed + 1))
        else
            echo "== extra $f ... FAILED (exit $rc)"
            failed=$((failed + 1))
            status=1
        fi
    done
fi

# --- sanitize ---------------------------------------------------------------
if [ $want_sanitize = 1 ]; then
    echo "== sanitize (scripts/sanitize.sh: every suite under ASan + UBSan)"
    bash scripts/sanitize.sh 2>&1 | tee "$PGTMP_DIR/sanitize.log" | grep -E '^(== |sanitize:|-----|ERROR|SUMMARY)'
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        echo "== sanitize ... ok"
        passed=$((passed + 1))
    else
        echo "== sanitize ... FAILED (exit $rc)"
        show "$PGTMP_DIR/sanitize.log" 200
        failed=$((failed + 1))
        status=1
    fi
fi

# --- keep the results for a look afterwards ---------------------------------
rm -rf "$OUT" && mkdir -p "$OUT" && {
    for x in regress.log regress.diffs isolation.log tap.log sanitize.log server.log; do
        [ -e "$PGTMP_DIR/$x" ] && cp "$PGTMP_DIR/$x" "$OUT/"
    done
    [ -d "$PGTMP_DIR/regress.results" ] && cp -r "$PGTMP_DIR/regress.results" "$OUT/results"
    [ -d "$TREE/results" ] && mkdir -p "$OUT/results" && cp -r "$TREE/results/." "$OUT/results/"
    [ -e "$TREE/regression.diffs" ] && cp "$TREE/regression.diffs" "$OUT/isolation.diffs"
    [ -d "$TREE/output_iso" ] && cp -r "$TREE/output_iso" "$OUT/"
    [ -d "$TREE/tmp_check/log" ] && cp -r "$TREE/tmp_check/log" "$OUT/tap_log"
} 2>/dev/null
echo "== outputs kept in $OUT"

finish
