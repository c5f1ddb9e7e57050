#!/usr/bin/env bash
# scripts/sanitize.sh: the whole test suite against an AddressSanitizer +
# UndefinedBehaviorSanitizer build of pg_sequenced.  One command:
#
#   bash scripts/sanitize.sh                    # regress isolation tap extra
#   bash scripts/sanitize.sh regress isolation  # only some suites
#
# It never touches the system's PostgreSQL installation:
#  1. copies the PostgreSQL 15 installation (bin, lib, share: ~50 MB) into a
#     private prefix under $SANITIZE_DIR.  Debian's PostgreSQL is
#     relocatable: binaries and pg_config find lib/ and share/ relative to
#     their own location, so the copy is a complete installation of its own;
#  2. replaces the copy's bin/postgres by a wrapper that starts the real
#     binary with the sanitizer runtime preloaded (LD_PRELOAD=libasan, as
#     the postgres binary itself is not instrumented; see the comment there
#     on the preload order), with
#     ASAN_OPTIONS=detect_leaks=0 (the server never frees some of its own
#     allocations on purpose), abort_on_error=0, and reports written to
#     $SANITIZE_DIR/reports/{asan,ubsan}.<pid> as well as to the server log;
#  3. builds a copy of the source tree with
#     -fsanitize=address,undefined -fno-omit-frame-pointer (PG_CFLAGS, and
#     PG_LDFLAGS for the link) and `make install`s it into the private
#     prefix only (PG_CONFIG is the copy's pg_config);
#  4. starts a throwaway server from the private prefix (scripts/pgtmp.sh
#     with PG_CONFIG pointing there) and runs, as in scripts/test.sh:
#     regress (test/sql), isolation (test/specs), tap (test/t: the TAP
#     clusters run the private bin/, so they are sanitized too) and extra
#     (test/extra/*.sh, e.g. the fuzzer's quick profile);
#  5. fails when any suite fails or any sanitizer report shows up: in the
#     report files, in the server log, or in the TAP clusters' logs.
#
# Last line: "sanitize: N suites passed, M failed, K sanitizer reports".
#
# Environment:
#   PG_CONFIG      the installation to copy (default /usr/bin/pg_config's 15)
#   SANITIZE_DIR   where everything goes (default: a new mktemp dir under /tmp;
#                  kept afterwards, it holds the reports and logs)
#   SANITIZE_FLAGS compiler and link flags (default: -fsanitize=address,undefined
#                  -fno-omit-frame-pointer)
#   ASAN_EXTRA     appended to ASAN_OPTIONS
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$SRC_PG_CONFIG" ] || SRC_PG_CONFIG=/usr/bin/pg_config
FLAGS=${SANITIZE_FLAGS:--fsanitize=address,undefined -fno-omit-frame-pointer}
W=${SANITIZE_DIR:-$(mktemp -d /tmp/pgseq-asan.XXXXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
chmod 755 "$W"
REPORTS=$W/reports
PREFIX=$W/inst
TREE=$W/tree

suites=()
for a in "$@"; do
    case $a in
        regress | isolation | tap | extra) suites+=("$a") ;;
        *) echo "usage: $0 [regress] [isolation] [tap] [extra]" >&2; exit 2 ;;
    esac
done
[ ${#suites[@]} -eq 0 ] && suites=(regress isolation tap extra)

log() { printf '== sanitize: %s\n' "$*"; }
die() { printf '== sanitize: %s\n' "$*" >&2; exit 1; }

# --- 1. private copy of the installation ------------------------------------
BINDIR=$("$SRC_PG_CONFIG" --bindir)
PKGLIBDIR=$("$SRC_PG_CONFIG" --pkglibdir)
SHAREDIR=$("$SRC_PG_CONFIG" --sharedir)
INCDIR=$("$SRC_PG_CONFIG" --includedir)
PGHOME=$(dirname "$BINDIR")                 # /usr/lib/postgresql/15
[ "$(dirname "$PKGLIBDIR")" = "$PGHOME" ] || die "unexpected layout: pkglibdir $PKGLIBDIR not under $PGHOME"
log "copying $PGHOME and $SHAREDIR into $PREFIX"
rm -rf "$PREFIX"
mkdir -p "$PREFIX$(dirname "$PGHOME")" "$PREFIX$(dirname "$SHAREDIR")" "$PREFIX$(dirname "$INCDIR")"
cp -a "$PGHOME" "$PREFIX$PGHOME" || die "copy of $PGHOME failed"
cp -a "$SHAREDIR" "$PREFIX$SHAREDIR" || die "copy of $SHAREDIR failed"
# headers are only read: a link is enough
ln -sfn "$INCDIR" "$PREFIX$INCDIR"
PGC=$PREFIX$BINDIR/pg_config
[ "$("$PGC" --pkglibdir)" = "$PREFIX$PKGLIBDIR" ] ||
    die "the copy is not relocatable: $PGC --pkglibdir says $("$PGC" --pkglibdir)"
rm -f "$PREFIX$PKGLIBDIR/pg_sequenced.so" "$PREFIX$SHAREDIR"/extension/pg_sequenced*

# --- 3. the sanitized build, into the private prefix only --------------------
log "building a copy of the tree with $FLAGS"
rm -rf "$TREE" && mkdir -p "$TREE"
tar -C "$ROOT" --exclude=./.git --exclude=./results --exclude=./output_iso \
    --exclude=./tmp_check --exclude=./log --exclude='./regression.*' -cf - . | tar -C "$TREE" -xf -
bash "$ROOT/scripts/old_releases.sh" "$TREE"   # (the update test builds them)
(
    cd "$TREE" &&
        make -s clean PG_CONFIG="$PGC" >/dev/null &&
        make PG_CONFIG="$PGC" PG_CFLAGS="$FLAGS" PG_LDFLAGS="$FLAGS" >"$W/build.log" 2>&1 &&
        make -s install PG_CONFIG="$PGC" >>"$W/build.log" 2>&1
) || { tail -n 40 "$W/build.log"; die "build failed (log: $W/build.log)"; }
SO=$PREFIX$PKGLIBDIR/pg_sequenced.so
[ -f "$SO" ] || die "$SO was not installed"
syms=$(nm -D "$SO")
grep -q '__asan_' <<<"$syms" || die "$SO has no AddressSanitizer instrumentation"
grep -q '__ubsan_' <<<"$syms" || die "$SO has no UBSan instrumentation"
ASAN_LIB=$(ldd "$SO" | awk '/libasan\.so/ {print $3; exit}')
{ [ -n "$ASAN_LIB" ] && [ -f "$ASAN_LIB" ]; } || die "cannot find the libasan $SO links to"
log "built $SO ($(stat -c %s "$SO") bytes), runtime $ASAN_LIB"

# --- 2. bin/postgres runs under the sanitizer runtime --------------------------
mkdir -p "$REPORTS"
chmod 1777 "$REPORTS"
PG_REAL=$PREFIX$BINDIR/postgres.real
mv "$PREFIX$BINDIR/postgres" "$PG_REAL"
# The sanitizer runtime must be initialized before any library constructor
# runs: libgpg-error's and gnutls' constructors call bindtextdomain(), and if
# that happens before libasan has initialized, glibc's _nl_state_lock is left
# corrupted and the next bindtextdomain() (postgres' own, in main) hangs
# forever.  Constructors run in reverse load order, so every library postgres
# needs (but libc, libm and the loader) is preloaded first and libasan last;
# verify_asan_link_order=0 accepts that libasan is not first in the list
# (none of those libraries defines malloc, so libasan's still wins).
PRELOAD=$(ldd "$PG_REAL" | awk '$3 ~ /^\// {print $3}' | grep -vE '/(libc|libm)\.so|ld-linux' | tr '\n' ':')
PRELOAD=$PRELOAD$ASAN_LIB
cat >"$PREFIX$BINDIR/postgres" <<EOF
#!/bin/bash
# sanitize.sh: the real server binary with the sanitizer runtime preloaded
export LD_PRELOAD="$PRELOAD"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:verify_asan_link_order=0:log_path=$REPORTS/asan:log_exe_name=0${ASAN_EXTRA:+:$ASAN_EXTRA}"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$REPORTS/ubsan"
exec -a "\$0" "$PG_REAL" "\$@"
EOF
chmod 755 "$PREFIX$BINDIR/postgres"
timeout 60 "$PREFIX$BINDIR/postgres" -V >/dev/null || die "the wrapped postgres does not start"

# --- 4. server and suites ------------------------------------------------------
export PG_CONFIG=$PGC
# shellcheck source=scripts/pgtmp.sh
. "$ROOT/scripts/pgtmp.sh"
pgtmp_chown "$W"
if ! pgtmp_start; then
    die "the sanitized server did not start"
fi
log "server from $PREFIX$BINDIR (pid $(head -n 1 "$PGTMP_DATA/postmaster.pid"))"
grep -q libasan <"/proc/$(head -n 1 "$PGTMP_DATA/postmaster.pid")/maps" ||
    die "the postmaster has no sanitizer runtime loaded"

passed=0
failed=0
run_make() {   # LOG VAR=...: make installcheck in the tree copy, as the server's user
    local log=$1
    shift
    (cd "$TREE" && pgtmp_as_pg make --no-print-directory installcheck PG_CONFIG="$PGC" "$@") >"$log" 2>&1
}
suite() {
    local name=$1 rc=$2 log=$3
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        log "$name ... ok"
    else
        failed=$((failed + 1))
        log "$name ... FAILED (log: $log)"
        tail -n 30 "$log"
    fi
}
shopt -s nullglob
for s in "${suites[@]}"; do
    case $s in
        regress)
            t=("$TREE"/test/sql/*.sql)
            [ ${#t[@]} -gt 0 ] || continue
            run_make "$W/regress.log" ISOLATION= TAP_TESTS=
            suite regress $? "$W/regress.log"
            [ -e "$TREE/regression.diffs" ] && mv "$TREE/regression.diffs" "$W/regress.diffs"
            [ -d "$TREE/results" ] && rm -rf "$W/regress.results" && mv "$TREE/results" "$W/regress.results"
            ;;
        isolation)
            t=("$TREE"/test/specs/*.spec)
            [ ${#t[@]} -gt 0 ] || continue
            run_make "$W/isolation.log" REGRESS= TAP_TESTS=
            suite isolation $? "$W/isolation.log"
            ;;
        tap)
            t=("$TREE"/test/t/*.pl)
            [ ${#t[@]} -gt 0 ] || continue
            run_make "$W/tap.log" REGRESS= ISOLATION=
            suite tap $? "$W/tap.log"
            ;;
        extra)
            for f in "$TREE"/test/extra/*.sh; do
                [ -x "$f" ] || continue
                n=$(basename "$f" .sh)
                (cd "$TREE" && pgtmp_as_pg "./test/extra/$n.sh") >"$W/extra-$n.log" 2>&1
                suite "extra/$n" $? "$W/extra-$n.log"
            done
            ;;
    esac
done

pgtmp_as_pg "$PREFIX$BINDIR/pg_ctl" -D "$PGTMP_DATA" -m fast -w stop >/dev/null 2>&1
cp "$PGTMP_LOG" "$W/server.log" 2>/dev/null

# --- 5. sanitizer reports ----------------------------------------------------------
pattern='ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer'
nrep=0
for f in "$REPORTS"/*; do
    nrep=$((nrep + 1))
    echo "----- $f -----"
    head -n 60 "$f"
done
logs=("$W/server.log")
[ -d "$TREE/tmp_check/log" ] && logs+=("$TREE"/tmp_check/log/*.log)
for f in "${logs[@]}"; do
    n=$(grep -cE "$pattern" "$f" 2>/dev/null || true)
    if [ "${n:-0}" -gt 0 ]; then
        nrep=$((nrep + n))
        echo "----- $f: $n sanitizer lines -----"
        grep -E -A 25 "$pattern" "$f" | head -n 80
    fi
done
crashes=$(grep -cE "terminated by signal|server process .* exited with exit code" "$W/server.log" 2>/dev/null || true)
[ "${crashes:-0}" -gt 0 ] && log "the server log has $crashes backend crash lines (see $W/server.log)"

log "outputs in $W"
echo "sanitize: $passed suites passed, $failed failed, $nrep sanitizer reports"
[ "$failed" -eq 0 ] && [ "$nrep" -eq 0 ]
