#!/usr/bin/python3
"""
pg_sequenced memory check (see test/soak/README.md).

1. --calls N single-record calls (default 1,000,000) in ONE session, each its
   own transaction (pipelined, so that the client is not the bottleneck), mixing
   inserts, updates, stale records and deletes over 50,000 keys.  Every
   --every calls the backend's private memory (RssAnon in /proc/<pid>/status)
   and its memory contexts (pg_backend_memory_contexts) are recorded.  Pass:
   between the first checkpoint and the last, RssAnon grows by less than
   --max-growth-mb (default 16 MB) and the memory contexts by less than 4 MB:
   memory does not grow with the number of calls.
2. one call of --records M records (default 1,000,000) into an empty table:
   the backend's RssAnon is sampled every 10 ms during the call.  The same is
   measured, in another fresh backend, for PostgreSQL parsing the same text
   into jsonb and nothing else (jsonb_in keeps its whole parse tree: that
   part is the server's, paid by any function taking jsonb).  Pass: the
   call's peak above the idle backend, less the parse's, stays within
   --max-ratio (default 3) times the size of the input (the JSON text sent).

The backend must run on this machine (its /proc/<pid>/status is read).
Connection: libpq environment; a database of its own (--db) is created.
"""
import argparse
import json
import sys
import threading
import time

import psycopg
from psycopg import sql as S

MB = 1024 * 1024


def status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def contexts(conn):
    return conn.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts").fetchone()[0]


def calls_phase(a, dbname):
    conn = psycopg.connect(dbname=dbname, autocommit=True)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    points = []
    t0 = time.time()
    done = 0
    nkeys = 50000
    stmt_up = "SELECT count(*) FROM sequenced_upsert('mem_calls', %s::jsonb, %s)"
    stmt_del = "SELECT count(*) FROM sequenced_delete('mem_calls', %s::jsonb, %s)"
    while done < a.calls:
        n = min(a.every, a.calls - done)
        with conn.pipeline():
            cur = conn.cursor()
            for i in range(done, done + n):
                key = (i * 7919) % nkeys
                seq = i if i % 10 != 7 else i - 1000      # some stale
                if i % 10 == 3:
                    cur.execute(stmt_del, (json.dumps({"id": key}), seq))
                else:
                    cur.execute(stmt_up, (json.dumps({"id": key, "v": "value %d" % i, "n": i}), seq))
        done += n
        points.append((done, status(pid, "RssAnon"), contexts(conn), time.time() - t0))
        print("  %8d calls: RssAnon %7.1f MB, memory contexts %6.2f MB, %.0f calls/s" %
              (done, points[-1][1] / MB, points[-1][2] / MB, done / (time.time() - t0)), flush=True)
    conn.close()
    first, last = points[0], points[-1]
    rss_growth = last[1] - first[1]
    ctx_growth = last[2] - first[2]
    ok = rss_growth < a.max_growth_mb * MB and ctx_growth < 4 * MB
    print("calls: %d single-record calls in one session in %.0f s (%.0f/s); from %d to %d calls RssAnon %+.1f MB, "
          "memory contexts %+.2f MB, peak RssAnon %.1f MB: %s" %
          (a.calls, last[3], a.calls / last[3], first[0], last[0], rss_growth / MB, ctx_growth / MB,
           max(p[1] for p in points) / MB, "PASS" if ok else "FAIL"))
    return ok


def peak_of(dbname, warmup, query, params):
    """(idle RssAnon, peak RssAnon, VmHWM, result, seconds) of one statement in a fresh backend"""
    conn = psycopg.connect(dbname=dbname, autocommit=True)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    if warmup:
        conn.execute(warmup)
    base = status(pid, "RssAnon")
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            v = status(pid, "RssAnon")
            if v and v > peak[0]:
                peak[0] = v
            time.sleep(0.01)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.time()
    res = conn.execute(query, params).fetchone()[0]
    el = time.time() - t0
    stop.set()
    th.join()
    hwm = status(pid, "VmHWM")
    conn.close()
    return base, peak[0], hwm, res, el


def big_phase(a, dbname):
    parts = []
    for i in range(a.records):
        parts.append('{"id": %d, "v": "record %d", "n": %d}' % (i, i, i * 3))
    text = "[" + ", ".join(parts) + "]"
    del parts
    size = len(text.encode())
    # what PostgreSQL itself needs to turn the parameter into jsonb (jsonb_in
    # builds the whole value tree in memory first): not pg_sequenced's doing
    pbase, ppeak, phwm, _, pel = peak_of(dbname, None, "SELECT jsonb_typeof(%s::jsonb)", (text,))
    parse = ppeak - pbase
    # the call, in a fresh backend warmed up with a one-record call
    base, peak, hwm, n, el = peak_of(
        dbname, "SELECT count(*) FROM sequenced_upsert('mem_big', '[{\"id\": -1, \"v\": \"x\"}]', 0)",
        "SELECT count(*) FROM sequenced_upsert('mem_big', %s::jsonb, 1)", (text,))
    used = peak - base
    own = used - parse
    ok = n == a.records and own <= a.max_ratio * size
    print("one call: %d records, input %.1f MB of JSON text; parsing it into jsonb alone: %.1f MB above idle "
          "(%.1fx the input, PostgreSQL's jsonb_in)" % (n, size / MB, parse / MB, parse / size))
    print("one call: %.1f s (%.0f records/s); backend RssAnon idle %.1f MB, peak %.1f MB (VmHWM %.1f MB): "
          "%.1f MB above idle = %.1fx the input; without the jsonb parse %.1f MB = %.1fx the input (limit %.1fx): %s" %
          (el, n / el, base / MB, peak / MB, hwm / MB, used / MB, used / size, own / MB, own / size, a.max_ratio,
           "PASS" if ok else "FAIL"))
    return ok


def main():
    ap = argparse.ArgumentParser(description="pg_sequenced memory check")
    ap.add_argument("--calls", type=int, default=1000000)
    ap.add_argument("--every", type=int, default=100000)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--max-growth-mb", type=float, default=16)
    ap.add_argument("--max-ratio", type=float, default=3.0)
    ap.add_argument("--db", default="pg_sequenced_memory")
    ap.add_argument("--skip-calls", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    a = ap.parse_args()
    with psycopg.connect(autocommit=True) as admin:
        admin.execute(S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(a.db)))
        admin.execute(S.SQL("CREATE DATABASE {}").format(S.Identifier(a.db)))
    with psycopg.connect(dbname=a.db, autocommit=True) as c:
        c.execute("""CREATE EXTENSION pg_sequenced;
                     CREATE TABLE mem_calls (id int PRIMARY KEY, v text, n bigint);
                     SELECT sequenced_register('mem_calls');
                     CREATE TABLE mem_big (id int PRIMARY KEY, v text, n bigint);
                     SELECT sequenced_register('mem_big');""")
    ok = True
    if not a.skip_calls:
        ok = calls_phase(a, a.db) and ok
    if not a.skip_big:
        ok = big_phase(a, a.db) and ok
    with psycopg.connect(autocommit=True) as admin:
        admin.execute(S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(a.db)))
    print("RESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
