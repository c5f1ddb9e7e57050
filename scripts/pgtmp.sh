# shellcheck shell=bash
# scripts/pgtmp.sh: a throwaway PostgreSQL server for tests and demos.
# Source it, don't run it:
#
#   . scripts/pgtmp.sh
#   pgtmp_start            # initdb + start; exports PGHOST PGPORT PGUSER PGDATABASE
#   pgtmp_as_pg psql -c 'SELECT 1'
#   pgtmp_stop             # also runs on EXIT (trap), safe to call twice
#
# The server runs as the OS user "postgres" when we are root (initdb and
# postgres refuse root), as the current user otherwise.  Everything (data,
# unix socket, log) lives in one mktemp directory, $PGTMP_DIR, removed on
# stop.  It listens on no TCP address, only on a socket in $PGTMP_DIR, on a
# free port picked from 54000-54999, so it never meets another cluster.
# fsync is off: the data is thrown away anyway.
#
# Knobs (environment):
#   PG_CONFIG          default /usr/bin/pg_config (gives the bin directory)
#   PGTMP_PARENT       where to make the temp directory (default /tmp; keep it
#                      short, unix socket paths are limited to ~100 bytes)
#   PGTMP_CONF         extra postgresql.conf lines, appended verbatim
#   PGTMP_KEEP=1       don't remove $PGTMP_DIR on stop (for post-mortems)
#
# After pgtmp_start: PGTMP_DIR, PGTMP_DATA, PGTMP_LOG, PG_BINDIR are set.

PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
# never inherited: a script run by test.sh must not stop test.sh's server
PGTMP_DIR=
PGTMP_STARTED=0

# Run a command as the OS user that owns the throwaway server, with the
# connection settings and a predictable locale.  The caller's working
# directory must be readable by that user (pgtmp_as_pg does not cd).
pgtmp_as_pg() {
    local envs=(
        "PATH=${PG_BINDIR:+$PG_BINDIR:}/usr/local/bin:/usr/bin:/bin"
        "LC_ALL=C.UTF-8" "LANG=C.UTF-8"
        "PG_CONFIG=$PG_CONFIG"
    )
    # temp files of the tools (e.g. TAP sockets, kept on failure) go in
    # $PGTMP_DIR too, so they vanish with it
    [ -n "${PGTMP_DIR:-}" ] && envs+=("TMPDIR=$PGTMP_DIR")
    local v
    for v in PGHOST PGPORT PGUSER PGDATABASE PGTMP_DIR PGTMP_DATA PGTMP_LOG PG_BINDIR; do
        [ -n "${!v:-}" ] && envs+=("$v=${!v}")
    done
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- env "${envs[@]}" "$@"
    else
        env "${envs[@]}" "$@"
    fi
}

# Make a file or directory tree belong to the server's OS user.
pgtmp_chown() {
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$@"
    fi
}

_pgtmp_port_free() {
    local port=$1 d
    for d in "$PGTMP_DIR" /tmp /var/run/postgresql; do
        [ -e "$d/.s.PGSQL.$port" ] || [ -e "$d/.s.PGSQL.$port.lock" ] && return 1
    done
    # something listening on TCP localhost?
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        return 1
    fi
    return 0
}

pgtmp_start() {
    if [ "$PGTMP_STARTED" = 1 ]; then
        return 0
    fi
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    PGTMP_DIR=$(mktemp -d "${PGTMP_PARENT:-/tmp}/pgseq.XXXXXX")
    PGTMP_DATA=$PGTMP_DIR/data
    PGTMP_LOG=$PGTMP_DIR/server.log
    chmod 755 "$PGTMP_DIR"
    pgtmp_chown "$PGTMP_DIR"
    export PG_BINDIR PGTMP_DIR PGTMP_DATA PGTMP_LOG
    trap 'pgtmp_stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    if ! (cd "$PGTMP_DIR" && pgtmp_as_pg "$PG_BINDIR/initdb" -D "$PGTMP_DATA" -U postgres \
            -A trust -E UTF8 --no-locale --no-sync >"$PGTMP_DIR/initdb.log" 2>&1); then
        echo "pgtmp: initdb failed:" >&2
        cat "$PGTMP_DIR/initdb.log" >&2
        return 1
    fi
    pgtmp_as_pg tee -a "$PGTMP_DATA/postgresql.conf" >/dev/null <<EOF

# pgtmp.sh: throwaway test server
listen_addresses = ''
unix_socket_directories = '$PGTMP_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_prepared_transactions = 10
log_min_messages = warning
log_line_prefix = '%m [%p] %q%a '
${PGTMP_CONF:-}
EOF

    local try port
    for try in 1 2 3 4 5 6 7 8; do
        : "$try"
        port=$((54000 + RANDOM % 1000))
        _pgtmp_port_free "$port" || continue
        if (cd "$PGTMP_DIR" && pgtmp_as_pg "$PG_BINDIR/pg_ctl" -D "$PGTMP_DATA" -l "$PGTMP_LOG" \
                -o "-p $port" -w -t 60 start >/dev/null 2>&1); then
            export PGHOST=$PGTMP_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
            PGTMP_STARTED=1
            echo "== pgtmp: server up in $PGTMP_DIR on port $port"
            return 0
        fi
        # maybe lost a race for the port; anything else will show in the log
        if ! grep -q -i 'address already in use\|lock file .* already exists' "$PGTMP_LOG" 2>/dev/null; then
            break
        fi
    done
    echo "pgtmp: could not start the server:" >&2
    tail -n 30 "$PGTMP_LOG" >&2 2>/dev/null || true
    return 1
}

pgtmp_stop() {
    [ -n "${PGTMP_DIR:-}" ] || return 0
    if [ -f "$PGTMP_DATA/postmaster.pid" ]; then
        (cd / && pgtmp_as_pg "$PG_BINDIR/pg_ctl" -D "$PGTMP_DATA" -m fast -w -t 30 stop >/dev/null 2>&1) ||
            (cd / && pgtmp_as_pg "$PG_BINDIR/pg_ctl" -D "$PGTMP_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1) ||
            true
    fi
    if [ "${PGTMP_KEEP:-0}" = 1 ]; then
        echo "== pgtmp: kept $PGTMP_DIR" >&2
    else
        rm -rf "$PGTMP_DIR"
    fi
    PGTMP_DIR=
    PGTMP_STARTED=0
    unset PGHOST PGPORT PGUSER PGDATABASE
}
