#!/usr/bin/python3
"""bench/consumers.py: consumers (SPEC section 8) against a plain SQL queue and
against paging sequenced_changes with a client-kept position (issue 21).

Run by bench/consumers.sh against a throwaway server (libpq environment);
writes a Markdown report to the path given as its argument.

The job: N changes (default 1,000,000: N keys inserted, each one change of
the feed) are drained by W workers (default 4) in batches of B (1,000);
a worker fetches each change's key and current record.

  consumer   pg_sequenced: sequenced_receive(c, B) in a statement of its
             own, then BEGIN; sequenced_ack(c, ids); COMMIT -- the README's
             worker, with no work of its own.
  queue      the best plain SQL queue: an AFTER INSERT OR UPDATE OR DELETE
             row trigger on the target appends the key to a queue table; a
             worker takes B entries FOR UPDATE SKIP LOCKED and deletes them,
             returning each key's current row, in one statement (its
             acknowledgement is its commit).
  paging     one reader of sequenced_changes(t, after, B), the position kept
             by the client (the feed cannot be shared by workers without
             coordination of their own).

The loader: the same N records written in batches of 10,000 by
sequenced_upsert into a table without a consumer and into one with a
consumer (idle: the write path is all that is measured); and by the best
plain upsert (INSERT ... ON CONFLICT DO UPDATE) into a table without and
with the queue's trigger.  Each cell runs --reps times, the fastest counts.

Every drain is checked: each key received (at least once, and by the
consumer exactly once), the consumer has nothing pending afterwards, the
queue is empty.  Exit status 1 when a check fails.
"""
import json
import multiprocessing as mp
import os
import sys
import time

import psycopg

N = int(os.environ.get("BENCH_CONSUMER_CHANGES", "1000000"))
W = int(os.environ.get("BENCH_CONSUMER_WORKERS", "4"))
B = int(os.environ.get("BENCH_CONSUMER_BATCH", "1000"))
REPS = int(os.environ.get("BENCH_CONSUMER_REPS", "2"))
LOAD_B = 10000


def conn(autocommit=True):
    return psycopg.connect(autocommit=autocommit)


def batches():
    for lo in range(1, N + 1, LOAD_B):
        hi = min(N, lo + LOAD_B - 1)
        yield lo, hi


def load_sequenced(c, table):
    t0 = time.monotonic()
    for lo, hi in batches():
        c.execute("SELECT count(*) FROM sequenced_upsert(%s::regclass, (SELECT jsonb_agg(jsonb_build_object("
                  "'id', g, 'name', 'name ' || g, 'age', g %% 90)) FROM generate_series(%s::int, %s::int) g), 1)",
                  (table, lo, hi))
    return time.monotonic() - t0


def load_plain(c, table):
    # the best plain upsert of issue 6's baseline: the batch as jsonb, one INSERT ... ON CONFLICT
    t0 = time.monotonic()
    for lo, hi in batches():
        c.execute("INSERT INTO " + table + " (id, name, age, _sdc_sequence) "
                  "SELECT (r->>'id')::int, r->>'name', (r->>'age')::int, 1 FROM jsonb_array_elements("
                  "(SELECT jsonb_agg(jsonb_build_object('id', g, 'name', 'name ' || g, 'age', g %% 90)) "
                  " FROM generate_series(%s::int, %s::int) g)) r "
                  "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, age = EXCLUDED.age, "
                  "_sdc_sequence = EXCLUDED._sdc_sequence WHERE " + table + "._sdc_sequence < EXCLUDED._sdc_sequence",
                  (lo, hi))
    return time.monotonic() - t0


SETUP = """
DROP TABLE IF EXISTS bc_src, bc_idle, bc_plain, bc_plainq, bc_queue CASCADE;
SELECT sequenced_consumer_drop(consumer) FROM sequenced_consumers;
CREATE TABLE bc_src (id int PRIMARY KEY, name text, age int);
SELECT sequenced_register('bc_src');
CREATE TABLE bc_idle (id int PRIMARY KEY, name text, age int);
SELECT sequenced_register('bc_idle');
SELECT sequenced_consumer_create('bc_idle_c', 'bc_idle');
CREATE TABLE bc_plain (id int PRIMARY KEY, name text, age int, _sdc_sequence bigint);
CREATE TABLE bc_plainq (id int PRIMARY KEY, name text, age int, _sdc_sequence bigint);
CREATE TABLE bc_queue (qid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key int NOT NULL);
CREATE FUNCTION bc_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO bc_queue (key) VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END $$;
CREATE TRIGGER enqueue AFTER INSERT OR UPDATE OR DELETE ON bc_plainq
  FOR EACH ROW EXECUTE FUNCTION bc_enqueue();
"""


def reset_tables(c):
    c.execute("TRUNCATE bc_src, bc_idle, bc_plain, bc_plainq, bc_queue")
    c.execute("SELECT sequenced_consumer_drop(consumer) FROM sequenced_consumers")
    c.execute("SELECT sequenced_unregister(t) FROM unnest('{bc_src,bc_idle}'::regclass[]) t")
    c.execute("SELECT sequenced_register(t) FROM unnest('{bc_src,bc_idle}'::regclass[]) t")
    c.execute("SELECT sequenced_consumer_create('bc_idle_c', 'bc_idle')")
    c.execute("VACUUM ANALYZE")
    c.execute("CHECKPOINT")


# -- the drains ------------------------------------------------------------------
def consumer_worker(q):
    got = []
    with conn() as c:
        while True:
            rows = c.execute("SELECT ack_id, key->>'id', record FROM sequenced_receive('bc', %s)",
                             (B,)).fetchall()
            if not rows:
                break
            with c.transaction():
                n = c.execute("SELECT sequenced_ack('bc', %s)", ([r[0] for r in rows],)).fetchone()[0]
            if n != len(rows):
                q.put(("error", "acknowledged %d of %d" % (n, len(rows))))
                return
            got.extend(int(r[1]) for r in rows)
    q.put(("keys", got))


def queue_worker(q):
    got = []
    with conn() as c:
        while True:
            rows = c.execute(
                "WITH c AS (SELECT qid FROM bc_queue ORDER BY qid LIMIT %s FOR UPDATE SKIP LOCKED), "
                "d AS (DELETE FROM bc_queue q USING c WHERE q.qid = c.qid RETURNING q.key) "
                "SELECT d.key, to_jsonb(p.*) FROM d LEFT JOIN bc_plainq p ON p.id = d.key", (B,)).fetchall()
            if not rows:
                break
            got.extend(r[0] for r in rows)
    q.put(("keys", got))


def drain(fn, workers):
    q = mp.Queue()
    ps = [mp.Process(target=fn, args=(q,)) for _ in range(workers)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    keys = []
    errors = []
    for _ in ps:
        kind, v = q.get()
        if kind == "keys":
            keys.extend(v)
        else:
            errors.append(v)
    for p in ps:
        p.join()
    return time.monotonic() - t0, keys, errors


def paging():
    keys = []
    t0 = time.monotonic()
    with conn() as c:
        after = 0
        while True:
            rows = c.execute("SELECT pos, key->>'id', record FROM sequenced_changes('bc_src', %s, %s)",
                             (after, B)).fetchall()
            if not rows:
                break
            after = rows[-1][0]
            keys.extend(int(r[1]) for r in rows)
    return time.monotonic() - t0, keys


def main():
    out = sys.argv[1]
    failures = []
    res = {}
    with conn() as c:
        c.execute(SETUP)
        for rep in range(REPS):
            reset_tables(c)
            cells = [("sequenced_upsert, no consumer", lambda: load_sequenced(c, "bc_src")),
                     ("sequenced_upsert, one consumer", lambda: load_sequenced(c, "bc_idle")),
                     ("INSERT ON CONFLICT, no trigger", lambda: load_plain(c, "bc_plain")),
                     ("INSERT ON CONFLICT + queue trigger", lambda: load_plain(c, "bc_plainq"))]
            if rep % 2:
                cells.reverse()
            for name, fn in cells:
                c.execute("CHECKPOINT")
                secs = fn()
                res.setdefault(("load", name), []).append(secs)
                print("rep %d load %-36s %.2f s" % (rep, name, secs), flush=True)

            c.execute("SELECT sequenced_consumer_drop(consumer) FROM sequenced_consumers WHERE consumer = 'bc'")
            c.execute("SELECT sequenced_consumer_create('bc', 'bc_src', visibility_timeout => '10 minutes')")
            c.execute("VACUUM ANALYZE bc_src, bc_plainq, bc_queue")
            c.execute("CHECKPOINT")

            secs, keys, errors = drain(consumer_worker, W)
            res.setdefault(("drain", "consumer (pg_sequenced), %d workers" % W), []).append(secs)
            print("rep %d drain consumer %.2f s, %d changes" % (rep, secs, len(keys)), flush=True)
            if errors:
                failures.append("consumer: %s" % errors[:3])
            if len(keys) != N or len(set(keys)) != N:
                failures.append("consumer: %d changes received, %d keys, expected %d once each" %
                                (len(keys), len(set(keys)), N))
            pend = c.execute("SELECT pending, in_flight FROM sequenced_consumers WHERE consumer = 'bc'").fetchone()
            if tuple(pend) != (0, 0):
                failures.append("consumer: pending, in flight %s after the drain" % (tuple(pend),))

            c.execute("CHECKPOINT")
            secs, keys, errors = drain(queue_worker, W)
            res.setdefault(("drain", "plain queue (SKIP LOCKED), %d workers" % W), []).append(secs)
            print("rep %d drain queue %.2f s, %d changes" % (rep, secs, len(keys)), flush=True)
            if len(set(keys)) != N:
                failures.append("queue: %d changes, %d keys, expected %d" % (len(keys), len(set(keys)), N))
            left = c.execute("SELECT count(*) FROM bc_queue").fetchone()[0]
            if left:
                failures.append("queue: %d entries left" % left)

            secs, keys = paging()
            res.setdefault(("drain", "sequenced_changes paging, 1 reader"), []).append(secs)
            print("rep %d drain paging %.2f s, %d changes" % (rep, secs, len(keys)), flush=True)
            if len(keys) != N or len(set(keys)) != N:
                failures.append("paging: %d changes, %d keys" % (len(keys), len(set(keys))))
        version = c.execute("SELECT version()").fetchone()[0]

    best = {k: min(v) for k, v in res.items()}
    cons = best[("drain", "consumer (pg_sequenced), %d workers" % W)]
    qu = best[("drain", "plain queue (SKIP LOCKED), %d workers" % W)]
    with open(out, "w") as f:
        f.write("# Consumers: pg_sequenced against a plain SQL queue (issue 21)\n\n")
        f.write("Written by `bench/consumers.sh` on %s; %s.\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                               version.split(",")[0]))
        f.write("%d changes (one per key), %d workers, batches of %d; fsync off; best of %d runs; load average "
                "at the end %.2f.\n\n" % (N, W, B, REPS, os.getloadavg()[0]))
        f.write("%s\n\n" % ("**FAILED CHECKS:** " + "; ".join(failures) if failures else
                              "Every drain checked: each key received (by the consumer exactly once), nothing "
                              "pending, the queue empty."))
        f.write("## Draining\n\n| approach | seconds | changes/s | vs the plain queue |\n|---|---:|---:|---:|\n")
        for (kind, name), secs in best.items():
            if kind == "drain":
                f.write("| %s | %.2f | %.0f | %.2fx |\n" % (name, secs, N / secs, qu / secs))
        f.write("\n## The loader (batches of %d)\n\n| writer | seconds | records/s | slowdown |\n"
                "|---|---:|---:|---:|\n" % LOAD_B)
        base = {"sequenced_upsert": best[("load", "sequenced_upsert, no consumer")],
                "INSERT": best[("load", "INSERT ON CONFLICT, no trigger")]}
        for (kind, name), secs in best.items():
            if kind == "load":
                b = base["sequenced_upsert" if name.startswith("sequenced") else "INSERT"]
                f.write("| %s | %.2f | %.0f | %+.1f%% |\n" % (name, secs, N / secs, (secs / b - 1) * 100))
        f.write("\nAll runs (seconds): %s\n" % json.dumps({"%s: %s" % k: [round(x, 2) for x in v]
                                                          for k, v in res.items()}))
    print(open(out).read())
    print("consumer %.2fx the plain queue" % (qu / cons))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
