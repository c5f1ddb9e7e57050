#!/usr/bin/env bash
# bench/run.sh: the pg_sequenced benchmark, one command.
#
#   bench/run.sh            # full run (~20-25 min on 2 cores), writes bench/RESULTS.md
#
# Starts its own throwaway servers (scripts/pgtmp.sh), generates the dataset
# (bench/gen.py, deterministic), times every approach server-side and checks
# every final table against the reference.  Exit status 1 when any final
# table differs from the reference (the run is failed; RESULTS.md says so).
#
# Knobs (environment):
#   BENCH_MESSAGES=1000000  BENCH_IDS=200000  BENCH_B1=20000 (messages at B=1)
#   BENCH_REPS=1            repetitions of the fsync-off profile (best kept)
#   BENCH_REPLAYS=3         runs of each pass-2 cell of the fsync-off profile,
#                           approaches interleaved (best kept; a replay changes
#                           nothing, so it needs no reset); an approach whose
#                           replay took over 15 s is not replayed again
#   BENCH_FSYNC_ON=1        also run the smaller fsync-on profile
#   BENCH_EXTRAS=1          scaling, peak memory and perf profile
#   BENCH_CORE=1            the standard cells (loops, staging, COPY; fsync on too);
#                           0 runs only the sections below and the extras
#   BENCH_RESCAN=1          rescans (issue 19): a table of BENCH_RESCAN_ROWS keys,
#                           BENCH_RESCANS full snapshots in pages of BENCH_RESCAN_BATCH
#   BENCH_RESCAN_ROWS=1000000  BENCH_RESCANS=3  BENCH_RESCAN_BATCH=10000
#   BENCH_HISTORY=1         history (issue 20): pass 1 at B=BENCH_HISTORY_B with
#                           history => true against plain-SQL history triggers, and
#                           sequenced_as_of over the history it made
#   BENCH_HISTORY_B=10000   BENCH_HISTORY_REPS=1
#   BENCH_SCALE_REPS=5      alternating repetitions of the scaling test (median)
#   BENCH_MAX_SECS=90       time cap of one timed loop (a capped cell is reported
#                           as partial and checked on the prefix it applied)
#   BENCH_SNAPSHOT=1        run a private copy of the installed PostgreSQL + extension
#   BENCH_WAIT_QUIET=0      seconds to wait for a 1-minute load average < 0.5
#   BENCH_OUT=bench/RESULTS.md
#   BENCH_KEEP=0            1: keep the work directory (for report.py / plot.py)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
N=${BENCH_MESSAGES:-1000000}
IDS=${BENCH_IDS:-200000}
B1=${BENCH_B1:-20000}
REPS=${BENCH_REPS:-1}
REPLAYS=${BENCH_REPLAYS:-3}
SCALE_REPS=${BENCH_SCALE_REPS:-5}
FSYNC_ON=${BENCH_FSYNC_ON:-1}
EXTRAS=${BENCH_EXTRAS:-1}
CORE=${BENCH_CORE:-1}
RESCAN=${BENCH_RESCAN:-1}
RS_ROWS=${BENCH_RESCAN_ROWS:-1000000}
RS_N=${BENCH_RESCANS:-3}
RS_BATCH=${BENCH_RESCAN_BATCH:-10000}
HISTORY=${BENCH_HISTORY:-1}
HS_B=${BENCH_HISTORY_B:-10000}
HS_REPS=${BENCH_HISTORY_REPS:-1}
WAIT_QUIET=${BENCH_WAIT_QUIET:-0}
OUT=${BENCH_OUT:-$BENCH_DIR/RESULTS.md}
MAX_SECS=${BENCH_MAX_SECS:-45}
MAX_SECS_FSYNC=${BENCH_MAX_SECS_FSYNC:-20}
SBATCH=1000                       # batch size of the concurrency test
[ "$B1" -le "$N" ] || B1=$N

log() { printf '== bench %s: %s\n' "$(date +%T)" "$*" >&2; }

loadavg() { cut -d' ' -f1 /proc/loadavg; }
if [ "$WAIT_QUIET" -gt 0 ]; then
    waited=0
    while awk -v l="$(loadavg)" 'BEGIN { exit !(l >= 0.5) }'; do
        if [ "$waited" -ge "$WAIT_QUIET" ]; then
            log "load average still $(loadavg) after ${waited}s; running anyway"
            break
        fi
        sleep 30; waited=$((waited + 30))
    done
fi

# shellcheck source=../scripts/pgtmp.sh
. "$REPO/scripts/pgtmp.sh"

WORK=$(mktemp -d /tmp/pgseqbench.XXXXXX)
chmod 755 "$WORK"
# BENCH_KEEP=1 keeps the work directory (results.csv, meta.txt, ...: report.py
# and plot.py can be run on it again)
cleanup() {
    pgtmp_stop
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# A private copy of the installed PostgreSQL 15 with pg_sequenced, taken now:
# pg_sequenced is rebuilt and reinstalled while people work, and a server that
# created the extension from one build must not load the .so of another
# halfway through.  PostgreSQL finds its lib and share directories relative
# to its binaries, so the copy is self-contained (~50 MB).
SYS_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
SYS_LIB=$("$SYS_PG_CONFIG" --pkglibdir)
SYS_SHARE=$("$SYS_PG_CONFIG" --sharedir)
if [ "${BENCH_SNAPSHOT:-1}" = 1 ]; then
    for try in 1 2 3 4 5 6; do
        rm -rf "$WORK/pg"
        mkdir -p "$WORK/pg/lib/postgresql" "$WORK/pg/share/postgresql"
        cp -a "$(dirname "$SYS_LIB")" "$WORK/pg/lib/postgresql/"
        cp -a "$SYS_SHARE" "$WORK/pg/share/postgresql/"
        # a reinstall may have been under way: the copy must match the files
        if cmp -s "$SYS_LIB/pg_sequenced.so" "$WORK/pg/lib/postgresql/15/lib/pg_sequenced.so" &&
           cmp -s "$SYS_SHARE/extension/pg_sequenced.control" "$WORK/pg/share/postgresql/15/extension/pg_sequenced.control" &&
           diff -rq "$SYS_SHARE/extension" "$WORK/pg/share/postgresql/15/extension" >/dev/null; then
            break
        fi
        log "pg_sequenced was being reinstalled; copying again"
        sleep 5
    done
    PG_CONFIG=$WORK/pg/lib/postgresql/15/bin/pg_config
else
    PG_CONFIG=$SYS_PG_CONFIG
fi
export PG_CONFIG
SO=$("$PG_CONFIG" --pkglibdir)/pg_sequenced.so

META=$WORK/meta.txt
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }
meta started "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta git "$(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- src sql 2>/dev/null || echo '+uncommitted src/sql changes')"
meta so_md5_start "$(md5sum "$SO" | cut -c1-12)"
meta snapshot "${BENCH_SNAPSHOT:-1}"
meta so_mtime "$(stat -c %y "$SO" | cut -d. -f1)"
meta pg "$("$PG_CONFIG" --version)"
meta cpus "$(nproc)"
meta reps "$REPS"
meta replays "$REPLAYS"
meta scale_reps "$SCALE_REPS"
meta core "$CORE"
meta rescan_rows "$RS_ROWS"
meta rescans "$RS_N"
meta rescan_batch "$RS_BATCH"
meta history_b "$HS_B"
meta history_reps "$HS_REPS"

log "generating $N messages over $IDS ids"
python3 "$BENCH_DIR/gen.py" --messages "$N" --ids "$IDS" \
    --batch-sizes "1:$B1,100,10000,$N" "$WORK/data"
cat "$WORK/data/stats.txt" >>"$META"
meta b1_limit "$B1"
pgtmp_chown "$WORK"

COMMON_CONF="shared_buffers = 1GB
max_wal_size = 16GB
checkpoint_timeout = 1h
jit = off
autovacuum_naptime = 1s
max_connections = 20
client_min_messages = warning"

q() { (cd "$WORK" && pgtmp_as_pg psql -X -q -v ON_ERROR_STOP=1 "$@"); }

start_server() {   # $1: extra conf
    PGTMP_CONF="$COMMON_CONF
$1" pgtmp_start >&2
    trap cleanup EXIT
    log "loading the dataset"
    q -v work="$WORK/data" -v b1_limit="$B1" -v sizes="1,100,10000" \
        -f "$BENCH_DIR/sql/setup.sql" >/dev/null
}

lim_of() { if [ "$1" = 1 ]; then echo "$B1"; else echo "$N"; fi; }

target_of() {
    case $1 in
        sequenced_upsert) echo tgt_seq ;;
        on_conflict) echo tgt_oc ;;
        merge) echo tgt_merge ;;
        plpgsql_row) echo tgt_row ;;
        staging_sequenced) echo tgt_stg_seq ;;
        staging_sequenced_delete) echo tgt_stg_seqdel ;;
        staging_plain) echo tgt_stg_plain ;;
        hist_seq) echo hs_seq ;;
        hist_seq_history) echo hs_hist ;;
        hist_plain_before) echo hs_plain_before ;;
        hist_plain_after) echo hs_plain_after ;;
        hist_plain_noidx) echo hs_plain_noidx ;;
    esac
}

# record an error of the statement just run (in $WORK/err.txt): a failed
# cell, and a failed run, not the end of the run
record_error() {   # profile approach bsize pass rep
    cat "$WORK/err.txt" >&2
    echo "INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, ok, note)
          VALUES ('$1', '$2', $3, $4, $5, 0, 0, false, 'ERROR: ' || :'msg');" |
        q -v msg="$(head -c 400 "$WORK/err.txt" | tr '\n' ' ')" >&2 || true
}

# one timed CALL in a fresh session after a CHECKPOINT, then its checks
# (each marks the latest result row; a check that fails with an error marks
# it failed)
timed_call() {   # profile approach bsize pass rep call [check statement ...]
    local prof=$1 a=$2 b=$3 pass=$4 rep=$5 call=$6 c
    shift 6
    if ! q -c "CHECKPOINT" -c "$call" 2>"$WORK/err.txt"; then
        record_error "$prof" "$a" "$b" "$pass" "$rep"
        return 0
    fi
    for c in "$@"; do
        if ! q -c "$c" 2>"$WORK/err.txt"; then
            cat "$WORK/err.txt" >&2
            echo "UPDATE results SET ok = false, note = coalesce(note || ' ', '') || 'CHECK ERROR: ' || :'msg'
                   WHERE id = (SELECT max(id) FROM results);" |
                q -v msg="$(head -c 400 "$WORK/err.txt" | tr '\n' ' ')" >&2 || true
        fi
    done
    q -At -c "SELECT format('%s %s B=%s rep %s: %s msg/s in %s s %s', approach, profile, bsize, rep,
                            round(messages / nullif(seconds, 0)), round(seconds::numeric, 2),
                            CASE WHEN ok THEN 'ok' WHEN NOT ok THEN 'MISMATCH' ELSE '' END)
                FROM results ORDER BY id DESC LIMIT 1" >&2
}

# one timed run in a fresh session: checkpoint, the loop, the check
# (pass 1 stops after MAX_SECS; pass 2 replays the batches pass 1 applied)
timed() {   # profile approach B pass rep
    local prof=$1 a=$2 b=$3 pass=$4 rep=$5 call cap
    if [ "$pass" = 1 ]; then
        cap="NULL, $CAP"
    else
        cap="$(q -At -c "SELECT coalesce(max(nbatches)::text, 'NULL') FROM results
                           WHERE profile = '$prof' AND approach = '$a' AND bsize = $b
                             AND pass = 1 AND rep = $rep"), NULL"
    fi
    case $a in
        staging_*) call="CALL run_stg('$a', $b, '$WORK/data/stg/B$b', '$prof', $pass, $rep, $cap)" ;;
        *) call="CALL run_loop('$a', $b, '$prof', $pass, $rep, $cap)" ;;
    esac
    if ! q -c "CHECKPOINT" -c "$call" 2>"$WORK/err.txt"; then
        # an error is a failed cell (and a failed run), not the end of the run
        cat "$WORK/err.txt" >&2
        echo "INSERT INTO results (profile, approach, bsize, pass, rep, messages, seconds, ok, note)
              VALUES ('$prof', '$a', $b, $pass, $rep, 0, 0, false, 'ERROR: ' || :'msg');" |
            q -v msg="$(head -c 400 "$WORK/err.txt" | tr '\n' ' ')" >&2 || true
        return 0
    fi
    q -c "CALL check_result('$(target_of "$a")', $(lim_of "$b"))"
    q -At -c "SELECT format('%s %s B=%s pass %s: %s msg/s %s', approach, profile, bsize, pass,
                            round(messages / seconds), CASE WHEN ok THEN 'ok' ELSE 'MISMATCH' END)
                FROM results ORDER BY id DESC LIMIT 1" >&2
}

rotate() {  # rotate the word list by $1
    local k=$1; shift
    local arr=("$@") n=$# i
    for ((i = 0; i < n; i++)); do printf '%s ' "${arr[$(((i + k) % n))]}"; done
}

LOOP_APPROACHES=(sequenced_upsert on_conflict merge plpgsql_row)

# the cells of one profile: $1 profile, $2 reps, $3 passes ("1 2" or "1"),
# $4 staging approaches, $5 pass-2 runs per approach, $6.. batch sizes
run_cells() {
    local prof=$1 reps=$2 passes=$3 stg=$4 replays=$5; shift 5
    local b rep pass a apps t runs secs
    local -A slow
    for b in "$@"; do
        for ((rep = 1; rep <= reps; rep++)); do
            q -c "CALL reset_targets()"
            # shellcheck disable=SC2207
            apps=($(rotate $((rep - 1)) "${LOOP_APPROACHES[@]}") $stg)
            # the extra variant (staged rows deleted) only where it is quick
            if [ "$b" -lt 10000 ]; then
                # shellcheck disable=SC2206
                apps=(${apps[@]/staging_sequenced_delete/})
            fi
            for pass in $passes; do
                # between the passes: every table vacuumed and analyzed, for all alike
                [ "$pass" = 1 ] || q -c "VACUUM ANALYZE"
                # pass 2 changes nothing: its runs repeat, interleaved, and the
                # best counts (this machine's speed drifts by tens of percent)
                runs=1
                [ "$pass" = 1 ] || runs=$replays
                slow=()
                for ((t = 1; t <= runs; t++)); do
                    for a in "${apps[@]}"; do
                        [ -z "${slow[$a]:-}" ] || continue
                        timed "$prof" "$a" "$b" "$pass" "$rep"
                        secs=$(q -At -c "SELECT seconds FROM results ORDER BY id DESC LIMIT 1")
                        if awk -v s="$secs" 'BEGIN { exit !(s > 15) }'; then slow[$a]=1; fi
                    done
                done
            done
        done
    done
}

# the single-COPY cells: all N messages in one COPY, and the write limits
run_copy_cells() {   # profile reps passes
    local prof=$1 reps=$2 passes=$3 rep pass a
    q -c "COPY (SELECT * FROM ref_rows($N) ORDER BY id) TO '$WORK/final.tsv'"
    for ((rep = 1; rep <= reps; rep++)); do
        q -c "CALL reset_targets()"
        for pass in $passes; do
            [ "$pass" = 1 ] || q -c "VACUUM ANALYZE"
            for a in staging_sequenced staging_plain staging_sequenced_delete; do
                timed "$prof" "$a" "$N" "$pass" "$rep"
            done
        done
        q -c "CHECKPOINT" -c "CALL run_stg('copy_unindexed', $N, '$WORK/data/stg/B$N', '$prof', 1, $rep)"
        q -c "CHECKPOINT" -c "CALL run_copy_final($N, '$WORK/final.tsv', '$prof', $rep)" \
          -c "CALL check_result('tgt_copy', $N)"
    done
}

STG_ALL="staging_sequenced staging_plain staging_sequenced_delete"
T0=$(date +%s)

# ---------------------------------------------------------------- fsync off
log "profile fsync=off"
start_server "fsync = off
synchronous_commit = off
full_page_writes = off"
CAP=$MAX_SECS
if [ "$CORE" = 1 ]; then
    run_cells fsync_off "$REPS" "1 2" "$STG_ALL" "$REPLAYS" 1 100 10000
    run_copy_cells fsync_off "$REPS" "1 2"
fi

# Rescans (issue 19): the table loaded once (untimed), then RS_N rescans,
# each a new snapshot at a new sequence applied by all four approaches
# (order rotated), the rescan tables and pg_sequenced's internal ones
# vacuumed and analyzed before each (as autovacuum would have between two
# rescans, and so that no approach's WAL counts another's vacuum), each
# final table checked.
RS_APPS=(rescan_seq_skip rescan_plain_skip rescan_seq_write rescan_plain_write)
rs_vacuum() {
    q >/dev/null <<'EOF'
SELECT 'VACUUM ANALYZE ' || string_agg(c.oid::regclass::text, ', ')
  FROM pg_class c
 WHERE c.relkind = 'r' AND c.relnamespace IN ('public'::regnamespace, '_sequenced'::regnamespace)
   AND (c.relnamespace = '_sequenced'::regnamespace
        OR c.relname IN ('rs_seq_skip', 'rs_seq_write', 'rs_plain_skip', 'rs_plain_write', 'rs_keys')) \gexec
EOF
}
run_rescans() {
    local k a apps
    log "rescans: $RS_ROWS keys, $RS_N rescans in pages of $RS_BATCH"
    if ! q -v rows="$RS_ROWS" -v rbatch="$RS_BATCH" -v nrescans="$RS_N" \
            -f "$BENCH_DIR/sql/rescan.sql" >/dev/null 2>"$WORK/err.txt" ||
       ! { log "rescans: initial load"; q -c "CALL rs_reset()" -c "CALL rs_load()" 2>"$WORK/err.txt"; }; then
        record_error rescan setup "$RS_BATCH" 1 0
        return 1
    fi
    q -c "VACUUM ANALYZE"
    for ((k = 1; k <= RS_N; k++)); do
        # shellcheck disable=SC2207
        apps=($(rotate $((k - 1)) "${RS_APPS[@]}"))
        for a in "${apps[@]}"; do
            rs_vacuum
            timed_call rescan "$a" "$RS_BATCH" 1 "$k" "CALL run_rescan('$a', $k)" "CALL rs_check('$a', $k)"
        done
    done
    rs_vacuum   # (not left to autovacuum while the next section runs)
    q --csv -c "SELECT * FROM rs_stats ORDER BY k" >"$WORK/rescan_stats.csv"
}

# History (issue 20): pass 1 of the standard dataset at B=HS_B into the
# five tables of sql/history.sql, then the reads over the history it made.
HS_APPS=(hist_seq_history hist_plain_before hist_seq hist_plain_after hist_plain_noidx)
run_history() {
    local rep a apps checks s key
    log "history: pass 1 at B=$HS_B, $HS_REPS repetition(s)"
    if ! q -f "$BENCH_DIR/sql/history.sql" >/dev/null 2>"$WORK/err.txt"; then
        record_error history setup "$HS_B" 1 0
        return 1
    fi
    for ((rep = 1; rep <= HS_REPS; rep++)); do
        if ! q -c "CALL hs_reset()" 2>"$WORK/err.txt"; then
            record_error history setup "$HS_B" 1 "$rep"
            return 1
        fi
        # shellcheck disable=SC2207
        apps=($(rotate $((rep - 1)) "${HS_APPS[@]}"))
        for a in "${apps[@]}"; do
            checks=("CALL check_result('$(target_of "$a")', $(lim_of "$HS_B"))")
            [ "$a" != hist_seq_history ] || checks+=("CALL hs_check_history($(lim_of "$HS_B"))")
            timed_call history "$a" "$HS_B" 1 "$rep" "CALL run_hist('$a', $HS_B, $rep, $CAP)" "${checks[@]}"
        done
    done
    log "history: reads (sequenced_as_of, sequenced_history)"
    q -c "VACUUM ANALYZE" -c "CHECKPOINT"
    if ! q -c "CALL hs_reads(3, $(lim_of "$HS_B"))" 2>"$WORK/err.txt"; then
        record_error history as_of 0 1 1
        return 0
    fi
    # what they read: the plans of the statements the functions run
    # (auto_explain, nested statements, at NOTICE level into psql's stderr)
    s=$(q -At -c "SELECT extra->>'seq' FROM results WHERE approach = 'as_of' ORDER BY id DESC LIMIT 1")
    key=$(q -At -c "SELECT extra->>'id' FROM results WHERE approach = 'history_one_key' ORDER BY id DESC LIMIT 1")
    q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
      -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" \
      -c "SET auto_explain.log_buffers = on" -c "SET auto_explain.log_level = notice" \
      -c "SET client_min_messages = notice" \
      -c "SELECT count(*) FROM sequenced_as_of(NULL::hs_hist, $s)" \
      -c "SELECT count(*) FROM sequenced_history('hs_hist', '{\"id\": ${key:-1}}')" \
      >/dev/null 2>"$WORK/history_explain_raw.txt" || true
    # keep the plans that read the history table
    awk '/^(NOTICE|LOG):/ { if (blk ~ /hs_hist_history h/) printf "%s", blk; blk = "" }
         { blk = blk $0 "\n" }
         END { if (blk ~ /hs_hist_history h/) printf "%s", blk }' \
        "$WORK/history_explain_raw.txt" >"$WORK/history_explain.txt" || true
}

if [ "$RESCAN" = 1 ]; then
    run_rescans || log "rescans failed"
fi
if [ "$HISTORY" = 1 ]; then
    run_history || log "history failed"
fi

# scaling, memory, profile: a failure here is logged, the run goes on
run_extras() {
    log "concurrency and memory data"
    q -v ids="$IDS" -v sbatch="$SBATCH" -f "$BENCH_DIR/sql/scale.sql" >/dev/null
    # at most 200 batches (200,000 messages) per client and run
    T=$(q -At -c "SELECT least(200, min(c) - 1) FROM (SELECT count(*) FILTER (WHERE n = $SBATCH) AS c
                                                     FROM scale_batches GROUP BY client) s")
    cat >"$WORK/scale_seq.sql" <<'EOF'
\set b :b + 1
SELECT count(*) FROM sequenced_upsert('tgt_scale', (SELECT payload FROM scale_batches WHERE client = :client_id AND batch_no = :b));
EOF
    cat >"$WORK/scale_oc.sql" <<'EOF'
\set b :b + 1
INSERT INTO tgt_scale_oc AS t (id, name, age, has_magic, _sdc_sequence)
SELECT DISTINCT ON (id) id, name, age, has_magic, seq
  FROM (SELECT (e->'data'->>'id')::int AS id, e->'data'->>'name' AS name,
               (e->'data'->>'age')::int AS age, (e->'data'->>'has_magic')::boolean AS has_magic,
               (e->>'sequence')::bigint AS seq, o
          FROM scale_batches sb, jsonb_array_elements(sb.payload) WITH ORDINALITY AS x(e, o)
         WHERE sb.client = :client_id AND sb.batch_no = :b) s
 ORDER BY id, seq DESC, o
ON CONFLICT (id) DO UPDATE
   SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
       _sdc_sequence = EXCLUDED._sdc_sequence
 WHERE t._sdc_sequence < EXCLUDED._sdc_sequence;
EOF
    pgtmp_chown "$WORK"
    : >"$WORK/scaling.txt"
    # Twice: under the profile's autovacuum_naptime = 1s, then under
    # PostgreSQL's default (1min).  With 1s, autovacuum works on the growing
    # tables all through a run: one session gets it on the idle core for
    # free, two sessions must share both cores with it.
    for av in 1s default; do
        if [ "$av" = default ]; then
            q -c "ALTER SYSTEM SET autovacuum_naptime = '1min'" -c "SELECT pg_reload_conf()" >/dev/null
        fi
        for ((rep = 1; rep <= SCALE_REPS; rep++)); do
            for c in 1 2; do
                for s in seq oc; do
                    q -c "CALL reset_scale()" -c "CHECKPOINT"
                    tps=$( (cd "$WORK" && pgtmp_as_pg pgbench -n -M prepared -c "$c" -j "$c" -t "$T" \
                            -D b=0 -f "$WORK/scale_$s.sql") 2>&1 |
                          sed -n 's/^tps = \([0-9.]*\).*/\1/p')
                    echo "$s $c $rep $tps $av" >>"$WORK/scaling.txt"
                    log "scaling ($av naptime) $s c=$c rep $rep: $tps batches/s of $SBATCH"
                done
            done
        done
    done
    q -c "ALTER SYSTEM RESET autovacuum_naptime" -c "SELECT pg_reload_conf()" >/dev/null
    meta scale_batches_per_client "$T"
    meta scale_batch "$SBATCH"

    # peak memory of one call with every message
    PAYLOAD=$(q -At -c "SELECT pg_column_size(payload) FROM big")
    meta mem_payload_bytes "$PAYLOAD"
    meta mem_payload_text_bytes "$(q -At -c "SELECT octet_length(payload::text) FROM big")"
    for s in seq oc; do
        q -c "CALL reset_scale()" -c "CHECKPOINT"
        if [ $s = seq ]; then
            stmt="SELECT count(*) FROM big, sequenced_upsert('tgt_mem', big.payload)"
            tbl=tgt_mem
        else
            stmt="INSERT INTO tgt_mem_oc AS t (id, name, age, has_magic, _sdc_sequence)
                  SELECT DISTINCT ON (id) id, name, age, has_magic, seq
                    FROM (SELECT (e->'data'->>'id')::int AS id, e->'data'->>'name' AS name,
                                 (e->'data'->>'age')::int AS age, (e->'data'->>'has_magic')::boolean AS has_magic,
                                 (e->>'sequence')::bigint AS seq, o
                            FROM big, jsonb_array_elements(big.payload) WITH ORDINALITY AS x(e, o)) s
                   ORDER BY id, seq DESC, o
                  ON CONFLICT (id) DO UPDATE
                     SET name = EXCLUDED.name, age = EXCLUDED.age, has_magic = EXCLUDED.has_magic,
                         _sdc_sequence = EXCLUDED._sdc_sequence
                   WHERE t._sdc_sequence < EXCLUDED._sdc_sequence"
            tbl=tgt_mem_oc
        fi
        q -At -F ' ' -c "SELECT 'before', pg_backend_pid(), (regexp_match(s, 'VmHWM:\s+(\d+)'))[1], (regexp_match(s, 'RssShmem:\s+(\d+)'))[1] FROM pg_read_file('/proc/self/status') s" \
              -c "SELECT 'clock', extract(epoch FROM clock_timestamp())" \
              -c "$stmt" \
              -c "SELECT 'clock', extract(epoch FROM clock_timestamp())" \
              -c "SELECT 'after', pg_backend_pid(), (regexp_match(s, 'VmHWM:\s+(\d+)'))[1], (regexp_match(s, 'RssShmem:\s+(\d+)'))[1] FROM pg_read_file('/proc/self/status') s" \
              >"$WORK/mem_$s.txt"
        ok=$(q -At -c "SELECT tbl_md5('$tbl') = ref_md5($N)")
        awk -v s=$s -v ok="$ok" '
            $1 == "before" { hb = $3; sb = $4 } $1 == "after" { ha = $3; sa = $4 }
            $1 == "clock" { if (t0 == "") t0 = $2; else t1 = $2 }
            END { printf "mem_%s_hwm_before_kb=%s\nmem_%s_hwm_after_kb=%s\nmem_%s_shmem_before_kb=%s\nmem_%s_shmem_after_kb=%s\nmem_%s_seconds=%.3f\nmem_%s_ok=%s\n",
                         s, hb, s, ha, s, sb, s, sa, s, t1 - t0, s, ok }' "$WORK/mem_$s.txt" >>"$META"
        log "memory $s: $(tr '\n' ' ' <"$WORK/mem_$s.txt")"
    done

    # where sequenced_upsert spends its time at B=10,000 (perf, if it works)
    if command -v perf >/dev/null && perf record -o "$WORK/perf.probe" -- true >/dev/null 2>&1; then
        q -c "CALL reset_targets()"
        for pass in 1 2; do
            (cd "$WORK" && PGAPPNAME=bench_profile pgtmp_as_pg psql -X -q -v ON_ERROR_STOP=1 \
                -c "SELECT pg_sleep(1)" -c "CALL run_loop('sequenced_upsert', 10000, 'perf', $pass, 1)" >/dev/null) &
            ppid_=$!
            pid=
            for _ in $(seq 1 50); do
                pid=$(q -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_profile'")
                [ -n "$pid" ] && break
                sleep 0.1
            done
            perf record -F 997 -g -p "$pid" -o "$WORK/perf$pass.data" >/dev/null 2>&1 &
            perfpid=$!
            wait "$ppid_"
            kill -INT "$perfpid" 2>/dev/null || true
            wait "$perfpid" || true
            perf report -i "$WORK/perf$pass.data" --no-children --sort dso,symbol --stdio -g none \
                --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep '%' | grep -v -- '--' |
                head -30 >"$WORK/perf_self_$pass.txt" || true
            perf report -i "$WORK/perf$pass.data" --no-children --sort dso --stdio -g none 2>/dev/null |
                grep -v '^#' | grep '%' | head -8 >"$WORK/perf_dso_$pass.txt" || true
            # inclusive time of the extension's own functions
            nm --defined-only "$SO" | awk '$2 ~ /^[tT]$/ { print $3 }' >"$WORK/so_syms.txt"
            perf report -i "$WORK/perf$pass.data" --children --sort symbol --stdio -g none \
                --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep '%' |
                grep -w -F -f "$WORK/so_syms.txt" | sed "s/ *-  *- *$//" | head -25 \
                >"$WORK/perf_children_$pass.txt" || true
            log "perf pass $pass: $(head -3 "$WORK/perf_self_$pass.txt" | tr -s ' ' | tr '\n' ';')"
        done
        q -c "CALL check_result('tgt_seq', $N)"
    else
        echo "perf unavailable" >"$WORK/perf_self_1.txt"
    fi

    # the same loop with pg_stat_statements tracking nested statements: the
    # time of each SQL statement sequenced_upsert runs through SPI
    log "statement breakdown (pg_stat_statements)"
    q -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
    (cd "$WORK" && pgtmp_as_pg "$PG_BINDIR/pg_ctl" -D "$PGTMP_DATA" -l "$PGTMP_LOG" -w -t 60 -m fast restart >/dev/null)
    q -c "CREATE EXTENSION pg_stat_statements" -c "CALL reset_targets()"
    for pass in 1 2; do
        q -c "SET pg_stat_statements.track = 'all'" -c "SELECT pg_stat_statements_reset()" \
          -c "CALL run_loop('sequenced_upsert', 10000, 'pgss', $pass, 1)" >/dev/null
        q --csv -c "
          WITH s AS (SELECT * FROM pg_stat_statements WHERE toplevel = false),
               tot AS (SELECT total_exec_time AS t FROM s WHERE query LIKE '%FROM sequenced_upsert(%')
          SELECT calls, rows, round(total_exec_time::numeric) AS ms,
                 round((100 * total_exec_time / tot.t)::numeric, 1) AS pct_of_call,
                 left(regexp_replace(query, '\s+', ' ', 'g'), 240) AS query
            FROM s, tot
           WHERE query NOT LIKE '%FROM sequenced_upsert(%' AND query NOT LIKE '%FROM batches%'
           ORDER BY total_exec_time DESC LIMIT 10" >"$WORK/pgss_$pass.csv"
        q -At -c "SELECT calls || ' ' || round(total_exec_time::numeric) FROM pg_stat_statements
                   WHERE toplevel = false AND query LIKE '%FROM sequenced_upsert(%'" >"$WORK/pgss_total_$pass.txt"
    done
    q -c "CALL check_result('tgt_seq', $N)"
}
if [ "$EXTRAS" = 1 ]; then
    run_extras || log "extras failed"
fi
q --csv -c "SELECT * FROM results ORDER BY id" >"$WORK/results.csv"
q -At -c "SELECT lim || '=' || nrows FROM refs" | sed 's/^/ref_rows_/' >>"$META"
pgtmp_stop
meta seconds_fsync_off "$(($(date +%s) - T0))"

# ---------------------------------------------------------------- fsync on
if [ "$FSYNC_ON" = 1 ] && [ "$CORE" = 1 ]; then
    T1=$(date +%s)
    log "profile fsync=on (smaller: pass 1 only)"
    start_server "fsync = on
synchronous_commit = on
full_page_writes = on"
    CAP=$MAX_SECS_FSYNC
    run_cells fsync_on 1 "1" "staging_sequenced staging_plain" 1 1 100 10000
    q --csv -t -c "SELECT * FROM results ORDER BY id" >>"$WORK/results.csv"
    pgtmp_stop
    meta seconds_fsync_on "$(($(date +%s) - T1))"
fi

meta so_md5_end "$(md5sum "$SO" | cut -c1-12)"
meta system_so_md5_end "$(md5sum "$SYS_LIB/pg_sequenced.so" | cut -c1-12)"
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta seconds_total "$(($(date +%s) - T0))"
python3 "$BENCH_DIR/report.py" "$WORK" "$OUT"
# the pictures (bench/plot.py), next to $OUT unless BENCH_PLOT_DIR says; never fails the run
BENCH_PLOT_DIR=${BENCH_PLOT_DIR:-$(dirname "$OUT")} python3 "$BENCH_DIR/plot.py" "$WORK" >&2 ||
    log "plot.py failed: no pictures"
log "wrote $OUT"
if grep -q '^failed=1' "$WORK/verdict.txt" 2>/dev/null; then
    log "FAILED: a final table differs from the reference (see $OUT)"
    exit 1
fi
