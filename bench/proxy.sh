#!/usr/bin/env bash
# bench/proxy.sh: pg_sequenced on several servers behind PL/Proxy
# (pg_sequenced_proxy, SPEC section 9) against one server without it.
#
#   bench/proxy.sh                         # ~5 min on 2 cores; writes bench/RESULTS-proxy.md
#   BENCH_PROXY_MESSAGES=50000 BENCH_PROXY_REPS=1 BENCH_PROXY_OUT=/tmp/p.md bench/proxy.sh   # smoke test
#
# Starts its own servers from a private copy of the installed PostgreSQL 15
# (with pg_sequenced, pg_sequenced_proxy and PL/Proxy installed): one
# single server ("direct"), one proxy and 4 shard servers, every one on
# this machine, the shards reached by the proxy over TCP on 127.0.0.1.
# The clusters behind the proxy: 1 shard (database c1 on shard 0), 2
# shards (c2 on shards 0-1) and 4 shards (c4 on shards 0-3), SQL/MED
# servers c1, c2, c4.
#
# The dataset is bench/gen.py's (every 11th message turned into a delete
# of its key, as in test/t/010_proxy.pl), stored as text in batches of 100
# and 10,000 on the proxy and on the direct server.  A timed loop there
# (bench/sql/proxy.sql) calls sequenced_upsert once per batch, one
# transaction each, parsing the batch from text as a client's call does:
# pass 1 into an empty table, pass 2 the same batches again (every message
# stale).  The cells run interleaved, BENCH_PROXY_REPS times; the fastest
# repetition of each cell is reported, with the CPU time its servers used
# (utime + stime of every process of each server, from /proc) per message:
# the proxy's, the shards' together, and the direct server's.
#
# Every cell's final table (the union of the shards' tables) is checked
# against the direct server's: exit status 1 if one differs.
#
# Knobs (environment):
#   BENCH_PROXY_MESSAGES=300000  BENCH_PROXY_IDS=60000  BENCH_PROXY_REPS=3
#   BENCH_PROXY_OUT=bench/RESULTS-proxy.md
#   BENCH_PROXY_PORT=57300       first port tried (57300-57999)
#   BENCH_PROXY_SNAPSHOT=1       run a private copy of the installation
#   PG_CONFIG                    the installation (default /usr/lib/postgresql/15/bin/pg_config)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
N=${BENCH_PROXY_MESSAGES:-300000}
IDS=${BENCH_PROXY_IDS:-60000}
REPS=${BENCH_PROXY_REPS:-3}
OUT=${BENCH_PROXY_OUT:-$BENCH_DIR/RESULTS-proxy.md}
PORT0=${BENCH_PROXY_PORT:-57300}
SYS_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SIZES="10000 100"
CONFIGS="direct 1 2 4"

log() { printf '== proxy bench %s: %s\n' "$(date +%T)" "$*" >&2; }

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- env LC_ALL=C.UTF-8 "$@"
    else
        env LC_ALL=C.UTF-8 "$@"
    fi
}

WORK=$(mktemp -d /tmp/pgseqproxy.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" -eq 0 ] && chown postgres "$WORK"
NAMES=(direct proxy s0 s1 s2 s3)
declare -A PORT
cleanup() {
    for n in "${NAMES[@]}"; do
        if [ -f "$WORK/$n/postmaster.pid" ]; then
            as_pg "$BIN/pg_ctl" -D "$WORK/$n" -m fast -w -t 30 stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- installation
SYS_LIB=$("$SYS_PG_CONFIG" --pkglibdir)
SYS_SHARE=$("$SYS_PG_CONFIG" --sharedir)
for f in "$SYS_LIB/pg_sequenced.so" "$SYS_LIB/plproxy.so" "$SYS_SHARE/extension/pg_sequenced_proxy.control"; do
    [ -e "$f" ] || { echo "proxy bench: $f is missing (make install; apt-get install postgresql-15-plproxy)" >&2; exit 1; }
done
if [ "${BENCH_PROXY_SNAPSHOT:-1}" = 1 ]; then
    mkdir -p "$WORK/pg/lib/postgresql" "$WORK/pg/share/postgresql"
    cp -a "$(dirname "$SYS_LIB")" "$WORK/pg/lib/postgresql/"
    cp -a "$SYS_SHARE" "$WORK/pg/share/postgresql/"
    BIN=$WORK/pg/lib/postgresql/15/bin
else
    BIN=$("$SYS_PG_CONFIG" --bindir)
fi
SO_MD5=$(md5sum "$BIN/../lib/pg_sequenced.so" | cut -c1-12)

# ---------------------------------------------------------------- servers
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$1" ] && [ ! -e "$WORK/.s.PGSQL.$1" ]
}
next_port=$PORT0
start_server() {   # name
    local n=$1 p
    as_pg "$BIN/initdb" -D "$WORK/$n" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$WORK/$n.initdb.log" 2>&1
    while ! port_free "$next_port"; do next_port=$((next_port + 1)); done
    [ "$next_port" -le 57999 ] || { echo "proxy bench: no free port" >&2; exit 1; }
    p=$next_port
    next_port=$((next_port + 1))
    as_pg tee -a "$WORK/$n/postgresql.conf" >/dev/null <<EOF
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
shared_buffers = 512MB
max_wal_size = 16GB
checkpoint_timeout = 1h
jit = off
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum_naptime = 1s
max_connections = 30
log_min_messages = warning
EOF
    echo "host all all 127.0.0.1/32 trust" | as_pg tee -a "$WORK/$n/pg_hba.conf" >/dev/null
    if ! as_pg "$BIN/pg_ctl" -D "$WORK/$n" -l "$WORK/$n.log" -w -t 60 start >/dev/null; then
        echo "proxy bench: server $n did not start on port $p:" >&2
        tail -n 20 "$WORK/$n.log" >&2
        exit 1
    fi
    PORT[$n]=$p
}
q() {   # q SERVER DB psql-args...
    local n=$1 db=$2
    shift 2
    (cd "$WORK" && as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "${PORT[$n]}" -d "$db" "$@")
}
qa() { q "$@" -At; }

for n in "${NAMES[@]}"; do start_server "$n"; done
log "servers: $(for n in "${NAMES[@]}"; do printf '%s:%s ' "$n" "${PORT[$n]}"; done)"

# CPU seconds (user + system) of every process of a server, the exited ones included
cpu_of() {
    local pm pids total=0 p stat rest
    pm=$(head -1 "$WORK/$1/postmaster.pid")
    pids="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
    for p in $pids; do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        # fields after the command: 3 state ... 14 utime 15 stime 16 cutime 17 cstime
        set -- $rest
        if [ "$p" = "$pm" ]; then
            total=$((total + ${12} + ${13} + ${14} + ${15}))
        else
            total=$((total + ${12} + ${13}))
        fi
    done
    echo "$total"
}
TICK=$(getconf CLK_TCK)
cpu_all() { for n in "${NAMES[@]}"; do printf '%s ' "$(cpu_of "$n")"; done; }

# ---------------------------------------------------------------- dataset and setup
log "generating $N messages over $IDS ids"
python3 "$BENCH_DIR/gen.py" --messages "$N" --ids "$IDS" --batch-sizes 100 "$WORK/data" >/dev/null
[ "$(id -u)" -eq 0 ] && chown -R postgres "$WORK/data"
for n in direct proxy; do
    q "$n" postgres -v work="$WORK/data" -f "$BENCH_DIR/sql/proxy.sql" >/dev/null
done
q direct postgres -c "CREATE EXTENSION pg_sequenced" \
  -c "CREATE FUNCTION apply_batch(tbl text, p jsonb) RETURNS bigint LANGUAGE plpgsql AS
      \$\$ DECLARE k bigint; BEGIN SELECT count(*) INTO k FROM sequenced_upsert(tbl::regclass, p); RETURN k; END \$\$"
connstr() { echo "host=127.0.0.1 port=${PORT[s$1]} dbname=$2"; }
q proxy postgres -c "CREATE EXTENSION pg_sequenced_proxy CASCADE" \
  -c "CREATE FUNCTION apply_batch(tbl text, p jsonb) RETURNS bigint LANGUAGE plpgsql AS
      \$\$ DECLARE k bigint; BEGIN SELECT count(*) INTO k FROM sequenced_upsert(tbl, p); RETURN k; END \$\$"
for k in 1 2 4; do
    opts=
    for ((i = 0; i < k; i++)); do
        q "s$i" postgres -c "CREATE DATABASE c$k"
        q "s$i" "c$k" -c "CREATE EXTENSION pg_sequenced"
        opts="$opts${opts:+, }p$i '$(connstr "$i" "c$k")'"
    done
    q proxy postgres -c "CREATE SERVER c$k FOREIGN DATA WRAPPER plproxy OPTIONS ($opts)" \
      -c "CREATE USER MAPPING FOR PUBLIC SERVER c$k"
done

DDL="(id int PRIMARY KEY, name text, age int, has_magic boolean)"
make_table() {   # config table
    local c=$1 t=$2 i
    if [ "$c" = direct ]; then
        q direct postgres -c "CREATE TABLE $t $DDL" -c "SELECT sequenced_register('$t')" >/dev/null
    else
        for ((i = 0; i < c; i++)); do
            q "s$i" "c$c" -c "CREATE TABLE $t $DDL" -c "SELECT sequenced_register('$t')" >/dev/null
        done
        q proxy postgres -c "SELECT sequenced_proxy_register('$t', 'c$c')" >/dev/null
    fi
}
drop_table() {
    local c=$1 t=$2 i
    if [ "$c" = direct ]; then
        q direct postgres -c "DROP TABLE $t"
    else
        for ((i = 0; i < c; i++)); do q "s$i" "c$c" -c "DROP TABLE $t"; done
        q proxy postgres -c "SELECT sequenced_proxy_unregister('$t')" >/dev/null
    fi
}
# md5 of a cell's final rows (the union of its shards), ordered by id
rows_md5() {
    local c=$1 t=$2 i
    local sql="COPY (SELECT id, name, age, has_magic, _sdc_sequence FROM $t) TO STDOUT"
    if [ "$c" = direct ]; then
        q direct postgres -c "$sql" | sort -n | md5sum | cut -c1-32
    else
        for ((i = 0; i < c; i++)); do q "s$i" "c$c" -c "$sql"; done | sort -n | md5sum | cut -c1-32
    fi
}

RES=$WORK/results.txt
: >"$RES"
meta() { printf '%s=%s\n' "$1" "$2" >>"$WORK/meta.txt"; }
meta started "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta git "$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
meta so_md5 "$SO_MD5"
meta pg "$("$BIN/postgres" --version)"
meta plproxy "$(qa proxy postgres -c "SELECT extversion FROM pg_extension WHERE extname = 'plproxy'")"
meta cpus "$(nproc)"
meta reps "$REPS"
cat "$WORK/data/stats.txt" >>"$WORK/meta.txt"
meta deletes "$(qa direct postgres -c "SELECT count(*) FROM msgs WHERE msg->>'action' = 'delete'")"

# ---------------------------------------------------------------- the cells
declare -A REF_MD5
fail=0
T0=$(date +%s)
for ((rep = 1; rep <= REPS; rep++)); do
    for b in $SIZES; do
        # the configurations in a rotating order, so that drift hits all alike
        cfgs=($CONFIGS)
        for ((j = 0; j < ${#cfgs[@]}; j++)); do
            c=${cfgs[$(((j + rep - 1) % ${#cfgs[@]}))]}
            t="t_${c}_${b}_$rep"
            make_table "$c" "$t"
            front=proxy
            [ "$c" = direct ] && front=direct
            for pass in 1 2; do
                q "$front" postgres -c CHECKPOINT
                [ "$c" = direct ] || for ((i = 0; i < c; i++)); do q "s$i" "c$c" -c CHECKPOINT; done
                before=($(cpu_all))
                out=$(qa "$front" postgres -F ' ' -c "CALL run('$t', $b)")
                after=($(cpu_all))
                secs=${out% *}
                msgs=${out#* }
                # CPU ticks: direct, proxy, shards (s0..s3 together)
                cd_=$((after[0] - before[0]))
                cp_=$((after[1] - before[1]))
                cs_=$((after[2] + after[3] + after[4] + after[5] - before[2] - before[3] - before[4] - before[5]))
                echo "$c $b $pass $rep $msgs $secs $cd_ $cp_ $cs_ $TICK" >>"$RES"
                log "$c B=$b pass $pass rep $rep: $msgs msgs in ${secs}s ($(awk -v m="$msgs" -v s="$secs" 'BEGIN { printf "%.0f", m / s }') msg/s)"
            done
            md5=$(rows_md5 "$c" "$t")
            key="$b"
            if [ -z "${REF_MD5[$key]:-}" ] && [ "$c" = direct ]; then REF_MD5[$key]=$md5; fi
            echo "check $c $b $rep $md5" >>"$RES"
            drop_table "$c" "$t"
        done
    done
done
meta seconds "$(($(date +%s) - T0))"
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# every cell's table against the direct server's of the same batch size
while read -r _ c b rep md5; do
    if [ "$md5" != "${REF_MD5[$b]}" ]; then
        echo "check $c B=$b rep $rep: MISMATCH ($md5, direct ${REF_MD5[$b]})" >&2
        fail=1
    fi
done < <(grep '^check ' "$RES")
meta checks_ok "$([ $fail = 0 ] && echo yes || echo no)"

python3 "$BENCH_DIR/proxy_report.py" "$WORK" "$OUT"
log "wrote $OUT"
exit $fail
