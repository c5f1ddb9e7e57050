#!/usr/bin/env bash
# test/extra/package.sh: the Debian package, built and tested as shipped.
#
# scripts/test.sh runs it as postgres from a copy of the tree (so: no root,
# no apt-get).  It
#  1. copies the source tree into a scratch directory and builds the binary
#     package there the Debian way: `dpkg-buildpackage -us -uc -b` with
#     debian/rules (pg_buildext, `dh --with pgxs_loop`).  Rules-Requires-Root
#     is "no", so no fakeroot is needed.  The build-time tests are skipped
#     (nocheck): step 4 runs them against the package's files instead;
#  2. checks the .deb: it holds pg_sequenced.so, pg_sequenced.control and
#     every sql/pg_sequenced--*.sql of the tree (byte for byte), depends on
#     postgresql-15, and `apt-get install -s ./the.deb` accepts it here;
#  3. makes a scratch root: a copy of the system's PostgreSQL 15
#     (/usr/lib/postgresql/15 and /usr/share/postgresql/15, without any
#     pg_sequenced file a `make install` left there), with the .deb unpacked
#     over it by `dpkg-deb -x`.  Debian's PostgreSQL is relocatable: the
#     copy's binaries find lib/ and share/ relative to themselves, so its
#     server loads the extension from the scratch root only;
#  4. starts a second throwaway server from the scratch root (its own port
#     in 56000-56999, unix socket in the scratch directory, no TCP), checks
#     that it really loads the packaged .so (the server's own PKGLIBDIR and
#     SHAREDIR, dynamic_library_path, and the pg_sequenced.so mapped into a
#     backend after CREATE EXTENSION, md5 equal to the one in the .deb), and
#     runs the regress suite (test/sql) and the isolation suite (test/specs)
#     with `make installcheck PG_CONFIG=<scratch pg_config>` against it.
#
# Exit status 0 only if the package built, passed every check and every
# test passed.  Everything (build, scratch root, server) lives in one temp
# directory, removed on exit with its server stopped (PACKAGE_KEEP=1 keeps
# it).  It never touches the server of the caller's PGHOST/PGPORT.
#
# Needs (scripts/setup.sh installs them): debhelper, postgresql-server-dev-all
# (pg_buildext, dh's pgxs_loop), dpkg-dev, postgresql-15,
# postgresql-server-dev-15, make, gcc.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGVER=15
SYS_PGHOME=/usr/lib/postgresql/$PGVER
SYS_SHARE=/usr/share/postgresql/$PGVER
PKG=postgresql-$PGVER-pg-sequenced
KEEP=${PACKAGE_KEEP:-0}
T0=$SECONDS

say() { printf '== package: %s\n' "$*"; }
die() {
    printf '== package: FAILED: %s\n' "$*" >&2
    exit 1
}

if [ "$(id -u)" -eq 0 ]; then
    die "run it as a non-root user (scripts/test.sh runs it as postgres); initdb refuses root"
fi
missing=()
for c in dpkg-buildpackage dpkg-deb dh pg_buildext make gcc "$SYS_PGHOME/bin/pg_config" "$SYS_PGHOME/bin/postgres"; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[ -e /usr/share/perl5/Debian/Debhelper/Sequence/pgxs_loop.pm ] || missing+=("dh addon pgxs_loop")
[ ${#missing[@]} -eq 0 ] ||
    die "missing: ${missing[*]} (apt packages: debhelper postgresql-server-dev-all postgresql-$PGVER postgresql-server-dev-$PGVER)"

# --- scratch directory, cleaned up on exit ----------------------------------
W=$(mktemp -d "${TMPDIR:-/tmp}/pgseq-pkg.XXXXXX")
chmod 755 "$W"
SCR=$W/root                 # the scratch root the .deb is unpacked into
DATA=$W/data
SRVLOG=$W/server.log
PGC=$SCR$SYS_PGHOME/bin/pg_config
server_up=0

cleanup() {
    local rc=$?
    if [ "$server_up" = 1 ]; then
        "$SCR$SYS_PGHOME/bin/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "$SCR$SYS_PGHOME/bin/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [ "$KEEP" = 1 ]; then
        echo "== package: kept $W" >&2
    else
        rm -rf "$W"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_tail() {   # show_tail FILE [LINES]
    [ -s "$1" ] || return 0
    echo "----- tail of $1 -----"
    tail -n "${2:-40}" "$1"
}

# --- 1. build the package -----------------------------------------------------
# The source tree is copied (without build products) so that neither the
# tree nor its parent directory is written to.
SRC=$W/build/pg-sequenced
mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./.git --exclude=./results --exclude=./output_iso \
    --exclude=./tmp_check --exclude=./log --exclude='./regression.*' \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$SRC" -xf -
say "building with dpkg-buildpackage -us -uc -b (as $(id -un), nocheck)"
t=$SECONDS
# nocheck: the build-time tests (dh_pgxs_test) are what step 4 does, against
# the .deb's files; noddebs: no separate -dbgsym package (the shipped .so is
# stripped the same way).
# PG_CONFIG is unset: pg_buildext picks /usr/lib/postgresql/<version>/bin/
# pg_config itself, and a caller's (e.g. scripts/sanitize.sh's private copy)
# must not leak into debian/rules' `make clean`.
if ! (cd "$SRC" && unset PG_CONFIG &&
    DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
        DEB_BUILD_PROFILES=nocheck \
        dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1; then
    show_tail "$W/build.log" 60
    die "dpkg-buildpackage failed (log above)"
fi
build_s=$((SECONDS - t))
# the Makefile's -Wall -Wextra: the build must be warning-free (gcc and the
# clang that emits JIT bitcode)
if grep -E '^[^ ]+\.[ch]:[0-9]+(:[0-9]+)?: warning:' "$W/build.log" >"$W/warnings.txt"; then
    cat "$W/warnings.txt"
    die "the build printed compiler warnings"
fi
shopt -s nullglob
debs=("$W"/build/"$PKG"_*.deb)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] || die "expected one ${PKG}_*.deb in $W/build, found ${#debs[@]}"
DEB=${debs[0]}
say "built $(basename "$DEB") ($(stat -c %s "$DEB") bytes) in ${build_s}s"

# --- 2. what the .deb holds ------------------------------------------------------
EXTDIR=usr/share/postgresql/$PGVER/extension
LIBDIR=${SYS_PGHOME#/}/lib
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./##' >"$W/contents.txt"
want=("$LIBDIR/pg_sequenced.so" "$EXTDIR/pg_sequenced.control")
for f in "$ROOT"/sql/pg_sequenced--*.sql; do
    want+=("$EXTDIR/$(basename "$f")")
done
for f in "${want[@]}"; do
    grep -qxF "$f" "$W/contents.txt" || die "the .deb lacks $f"
done
# same bytes as the tree: control file and every SQL script
mkdir -p "$W/deb"
dpkg-deb -x "$DEB" "$W/deb"
cmp -s "$ROOT/pg_sequenced.control" "$W/deb/$EXTDIR/pg_sequenced.control" ||
    die "the .deb's pg_sequenced.control differs from the tree's"
for f in "$ROOT"/sql/pg_sequenced--*.sql; do
    cmp -s "$f" "$W/deb/$EXTDIR/$(basename "$f")" || die "the .deb's $(basename "$f") differs from the tree's"
done
# no SQL script the tree does not have
extra=$(grep -E "^$EXTDIR/pg_sequenced--.*\.sql$" "$W/contents.txt" | while read -r f; do
    [ -e "$ROOT/sql/$(basename "$f")" ] || echo "$f"
done)
[ -z "$extra" ] || die "the .deb has SQL scripts the tree does not: $extra"
nsql=$(grep -cE "^$EXTDIR/pg_sequenced--.*\.sql$" "$W/contents.txt")
depends=$(dpkg-deb -f "$DEB" Depends)
grep -qE "(^|, )postgresql-$PGVER( |,|$)" <<<"$depends" || die "Depends lacks postgresql-$PGVER: $depends"
DEB_SO_MD5=$(md5sum <"$W/deb/$LIBDIR/pg_sequenced.so" | cut -d' ' -f1)
say "contents ok: pg_sequenced.so (md5 $DEB_SO_MD5), control file, $nsql SQL scripts; Depends: $depends"
# installable here: apt resolves its dependencies (a simulation, no root needed)
if ! apt-get install -s "$DEB" >"$W/apt.log" 2>&1 || ! grep -q "^Inst $PKG " "$W/apt.log"; then
    show_tail "$W/apt.log"
    die "apt-get install -s ./$(basename "$DEB") does not accept it"
fi
say "apt-get install -s ./$(basename "$DEB"): ok"

# --- 3. the scratch root -----------------------------------------------------------
mkdir -p "$SCR$(dirname "$SYS_PGHOME")" "$SCR$(dirname "$SYS_SHARE")"
cp -a "$SYS_PGHOME" "$SCR$SYS_PGHOME"
cp -a "$SYS_SHARE" "$SCR$SYS_SHARE"
# whatever `make install` put into the system installation must not count
rm -rf "$SCR$SYS_PGHOME/lib/pg_sequenced.so" "$SCR$SYS_PGHOME/lib/bitcode/pg_sequenced" \
    "$SCR$SYS_PGHOME/lib/bitcode/pg_sequenced.index.bc" "$SCR$SYS_SHARE"/extension/pg_sequenced*
dpkg-deb -x "$DEB" "$SCR"
[ "$("$PGC" --pkglibdir)" = "$SCR$SYS_PGHOME/lib" ] ||
    die "the scratch pg_config is not relocated: --pkglibdir says $("$PGC" --pkglibdir)"
[ "$("$PGC" --sharedir)" = "$SCR$SYS_SHARE" ] ||
    die "the scratch pg_config is not relocated: --sharedir says $("$PGC" --sharedir)"
SO=$SCR$SYS_PGHOME/lib/pg_sequenced.so
[ "$(md5sum <"$SO" | cut -d' ' -f1)" = "$DEB_SO_MD5" ] || die "$SO is not the .deb's"
say "scratch root $SCR: pg_config --pkglibdir and --sharedir point into it"

# --- 4. a server from the scratch root, and the tests -----------------------------------
BIN=$SCR$SYS_PGHOME/bin
if ! "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$W/initdb.log" 2>&1; then
    show_tail "$W/initdb.log"
    die "initdb failed"
fi
cat >>"$DATA/postgresql.conf" <<EOF

# test/extra/package.sh: throwaway server of the scratch root
listen_addresses = ''
unix_socket_directories = '$W'
fsync = off
synchronous_commit = off
full_page_writes = off
max_prepared_transactions = 10
log_min_messages = warning
EOF

port_free() {
    local p=$1 d
    for d in "$W" /tmp /var/run/postgresql; do
        [ -e "$d/.s.PGSQL.$p" ] || [ -e "$d/.s.PGSQL.$p.lock" ] && return 1
    done
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        return 1
    fi
    return 0
}
PORT=
for try in 1 2 3 4 5 6 7 8; do
    : "$try"
    p=$((56000 + RANDOM % 1000))
    port_free "$p" || continue
    if "$BIN/pg_ctl" -D "$DATA" -l "$SRVLOG" -o "-p $p" -w -t 60 start >/dev/null 2>&1; then
        PORT=$p
        server_up=1
        break
    fi
    grep -qi 'address already in use\|lock file .* already exists' "$SRVLOG" 2>/dev/null || break
done
if [ -z "$PORT" ]; then
    show_tail "$SRVLOG"
    die "the scratch server did not start"
fi
# from here on, PGHOST/PGPORT mean the scratch server (never the caller's)
export PGHOST=$W PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
unset PGSERVICE PGHOSTADDR
POSTMASTER_EXE=$(readlink "/proc/$(head -n 1 "$DATA/postmaster.pid")/exe")
[ "$POSTMASTER_EXE" = "$BIN/postgres" ] || die "the server runs $POSTMASTER_EXE, not $BIN/postgres"
say "scratch server up on port $PORT (socket in $W), running $POSTMASTER_EXE"

# Does it load the packaged files?  The server's own idea of PKGLIBDIR and
# SHAREDIR, dynamic_library_path, the version CREATE EXTENSION finds, and the
# file mapped into the backend that ran CREATE EXTENSION (its C functions'
# validator loads the library).
PSQL=("$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1)
"$BIN/createdb" pkg_check
probe=$("${PSQL[@]}" -d pkg_check -F '|' <<'SQL'
CREATE EXTENSION pg_sequenced;
SELECT (SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'),
       (SELECT setting FROM pg_config WHERE name = 'SHAREDIR'),
       current_setting('dynamic_library_path'),
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_sequenced'),
       (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_sequenced'),
       (SELECT string_agg(DISTINCT m[1], ',')
          FROM regexp_matches(pg_read_file('/proc/self/maps'), '(/\S*pg_sequenced\.so)', 'g') AS m);
SQL
) || die "CREATE EXTENSION pg_sequenced failed on the scratch server"
"$BIN/dropdb" pkg_check
IFS='|' read -r s_pkglib s_share s_dlp s_ver s_default s_mapped <<<"$probe"
[ "$s_pkglib" = "$SCR$SYS_PGHOME/lib" ] || die "server PKGLIBDIR is $s_pkglib, not $SCR$SYS_PGHOME/lib"
[ "$s_share" = "$SCR$SYS_SHARE" ] || die "server SHAREDIR is $s_share, not $SCR$SYS_SHARE"
[ "$s_dlp" = "\$libdir" ] || die "dynamic_library_path is $s_dlp, not \$libdir"
[ "$s_mapped" = "$SO" ] || die "the backend mapped '$s_mapped', not $SO"
ctl_default=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$ROOT/pg_sequenced.control")
if [ "$s_ver" != "$ctl_default" ] || [ "$s_default" != "$ctl_default" ]; then
    die "CREATE EXTENSION made version $s_ver (available default $s_default), the control file says $ctl_default"
fi
[ "$(md5sum <"$s_mapped" | cut -d' ' -f1)" = "$DEB_SO_MD5" ] || die "$s_mapped is not the .deb's pg_sequenced.so"
say "the server loads $s_mapped (md5 = the .deb's), PKGLIBDIR and SHAREDIR in the scratch root, dynamic_library_path \$libdir, version $s_ver"

# the suites, with the scratch root's pg_config (pg_regress, --bindir)
failed_suites=()
ok_total=0
bad_total=0
run_suite() {   # run_suite NAME MAKEVAR=...
    local name=$1 rc ok bad
    shift
    t=$SECONDS
    set +e
    make -C "$SRC" --no-print-directory installcheck PG_CONFIG="$PGC" "$@" >"$W/$name.log" 2>&1
    rc=$?
    set -e
    ok=$(grep -cE '^(test +| +)[^ ]+ +\.\.\. +ok' "$W/$name.log" || true)
    bad=$(grep -cE '^(test +| +)[^ ]+ +\.\.\. +FAILED' "$W/$name.log" || true)
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
    fi
    ok_total=$((ok_total + ok))
    bad_total=$((bad_total + bad))
    if [ "$rc" -eq 0 ] && [ "$bad" -eq 0 ] && [ "$ok" -gt 0 ]; then
        say "$name: $ok tests ok ($((SECONDS - t))s)"
    else
        failed_suites+=("$name")
        say "$name: FAILED ($ok ok, $bad failed)"
        grep -E '\.\.\. +FAILED' "$W/$name.log" || true
        for d in "$SRC/regression.diffs" "$SRC/output_iso/regression.diffs"; do
            [ -s "$d" ] && echo "----- $d -----" && head -n 150 "$d"
        done
        show_tail "$W/$name.log" 30
        grep -E 'terminated by signal|PANIC|TRAP:' "$SRVLOG" >/dev/null 2>&1 && show_tail "$SRVLOG" 60
    fi
    rm -rf "$SRC/results" "$SRC/regression.diffs" "$SRC/regression.out"
}
nreg=$(find "$SRC/test/sql" -name '*.sql' | wc -l)
niso=$(find "$SRC/test/specs" -name '*.spec' 2>/dev/null | wc -l)
[ "$nreg" -gt 0 ] && run_suite regress ISOLATION= TAP_TESTS=
[ "$niso" -gt 0 ] && run_suite isolation REGRESS= TAP_TESTS=

echo "== package: $(basename "$DEB"): built in ${build_s}s; regress + isolation against the scratch root:" \
    "$ok_total ok, $bad_total failed; total $((SECONDS - T0))s"
if [ ${#failed_suites[@]} -gt 0 ]; then
    die "suites failed: ${failed_suites[*]}"
fi
say "ok"
