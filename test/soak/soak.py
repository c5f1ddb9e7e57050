#!/usr/bin/python3
"""
pg_sequenced concurrent soak with a reference check (see test/soak/README.md).

N writer sessions (default 8) run a fixed number of transactions each against
four registered tables over an overlapping key space:

  soak_a  (id int PRIMARY KEY)                   on_equal 'keep',    hard deletes
  soak_b  (k text, part int, PRIMARY KEY (k, part)) on_equal 'replace', soft deletes
  soak_c  (id int PRIMARY KEY)                   on_equal 'keep',    hard deletes, unchanged 'skip', history
  soak_d  (k text, g int, PRIMARY KEY (k, g))    on_equal 'replace', soft deletes, history

soak_c and soak_d take sequences from one clock the sessions share, and a
rescanner session rescans them now and then while the writers run (see
Rescanner): every record of the source at a new sequence S, page by page,
then sequenced_delete_missing(t, S).

Each transaction makes 1-3 calls, chosen among sequenced_upsert(t, messages)
(upserts and deletes mixed), sequenced_upsert(t, data, seq),
sequenced_delete(t, keys, seq) and an INSERT (or COPY) into a staging table
whose trigger is sequenced_apply_staging; batches of 1 to 1,000 messages;
random sequences, mostly rising, with late arrivals.  Sequences are unique
across the whole run (low bits: the session), except for deliberate ties
between messages of the same key inside one call.  Some transactions roll
back on purpose, some calls are undone with ROLLBACK TO SAVEPOINT.

Every transaction first inserts its id into soak_txlog.  A transaction's
messages are appended to the client log only after COMMIT returned; when
COMMIT itself fails (server gone), the transaction is "in doubt" and is
decided afterwards by looking for its id in soak_txlog.

A feed consumer session follows sequenced_changes() of every table the whole
time, keeping a replica; and 3 workers (--consumers) share one consumer of
soak_a (SPEC section 8), each applying what it receives to soak_a_mirror and
acknowledging in the same transaction.

At the end:
  - reference: for every key the highest-sequenced committed message (a tie
    inside one call: first under 'keep', last under 'replace'); the table's
    rows, the tombstones (key state rows with deleted and no row) and
    sequenced_max_sequence must be exactly what it says.  The key state
    (Design T, src/direct.c) has rows only where a row cannot say its key's
    state, so it is checked against the rows: a key state row next to a row
    carries its sequence and deletedness, one without a row is a tombstone;
  - every acknowledged commit is in soak_txlog, no rolled back one is;
  - sequenced_changes(t, 0) holds each key of the reference once, as it says
    (a row: its record, a tombstone: none), and the feed replica equals it;
  - soak_a_mirror, kept by the consumer workers, equals soak_a exactly, and
    the consumer has nothing pending or in flight, acked_through at the
    feed's last position;
  - soak_c (unchanged => 'skip'): the row carries the sequence of a committed
    upsert with its values, the key state row the winner's;
  - history: one version per committed message with a distinct sequence,
    valid to the next one's, with its values (check_history); no overlap, no
    gap; sequenced_as_of at a sample of sequences equals the reference;
  - soak_c and soak_d: each committed call's outcomes, and each
    sequenced_delete_missing's deletes, against the transactions committed
    before the call began (check_outcomes);
  - amcheck: bt_index_check(heapallindexed) on every index of the targets,
    the staging tables and the _sequenced tables, verify_heapam on the tables;
  - zero deadlocks (40P01), zero unexpected errors.

Crash under load: --crash immediate|kill9|both --crash-rounds N stops the
server with `pg_ctl stop -m immediate` (and starts it again) or kill -9s the
backend of one writer (the postmaster then restarts every backend) every
--crash-interval seconds while the writers run; they reconnect and go on.

Connection: libpq environment.  The crash needs the data directory and log of
the server (default $PGTMP_DATA and $PGTMP_LOG, from scripts/pgtmp.sh).
"""
import argparse
import bisect
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

try:
    import psycopg
    from psycopg import sql as S
except ImportError:  # pragma: no cover
    sys.stderr.write("soak.py needs psycopg 3 (Debian: python3-psycopg); run it with /usr/bin/python3\n")
    sys.exit(2)

SETUP = r"""
CREATE EXTENSION pg_sequenced;
CREATE EXTENSION amcheck;
CREATE TABLE soak_a (id int PRIMARY KEY, v text, n bigint, j jsonb);
SELECT sequenced_register('soak_a');
CREATE TABLE soak_b (k text, part int, v text, n bigint, PRIMARY KEY (k, part));
SELECT sequenced_register('soak_b', on_equal => 'replace', deletes => 'soft');
CREATE TABLE soak_a_inbox (id int, v text, n bigint, j jsonb, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON soak_a_inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('soak_a');
CREATE TABLE soak_txlog (txid text PRIMARY KEY);
CREATE TABLE soak_c (id int PRIMARY KEY, v text, n bigint, tags text[], j jsonb);
SELECT sequenced_register('soak_c', unchanged => 'skip', history => true);
CREATE TABLE soak_c_inbox (id int, v text, n bigint, tags text[], j jsonb, _sdc_sequence bigint, _sdc_deleted boolean);
CREATE TRIGGER apply AFTER INSERT ON soak_c_inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('soak_c');
CREATE TABLE soak_d (k text, g int, v text, n bigint, PRIMARY KEY (k, g));
SELECT sequenced_register('soak_d', on_equal => 'replace', deletes => 'soft', history => true);
-- the consumer workers' mirror of soak_a (SPEC section 8): the table's columns, its key
CREATE TABLE soak_a_mirror (LIKE soak_a INCLUDING ALL);
"""

# soak_a and soak_b: sequences from each session's own progress, 15% anywhere in a 2^41 range.
# soak_c and soak_d (clock): sequences from one clock the sessions share (late arrivals reach back in
# it), so that a rescan's sequence S -- the clock when it began -- is above everything sent before it
# and below everything sent after it (but late arrivals); they are rescanned (sequenced_delete_missing)
# and keep history; soak_c is registered with unchanged => 'skip'.
TABLES = {
    "soak_a": dict(keys=["id"], on_equal="keep", soft=False, cols=["v", "n", "j"], inbox="soak_a_inbox"),
    "soak_b": dict(keys=["k", "part"], on_equal="replace", soft=True, cols=["v", "n"]),
    "soak_c": dict(keys=["id"], on_equal="keep", soft=False, cols=["v", "n", "tags", "j"], inbox="soak_c_inbox",
                   clock=True, skip=True, history=True),
    "soak_d": dict(keys=["k", "g"], on_equal="replace", soft=True, cols=["v", "n"], clock=True, history=True),
}
RESCANNED = [t for t in TABLES if TABLES[t].get("clock")]

CONN_LOST = (psycopg.OperationalError, psycopg.InterfaceError)


def now():
    return time.monotonic()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.errors = {}

    def add(self, k, n=1):
        with self.lock:
            self.c[k] = self.c.get(k, 0) + n

    def error(self, where, e):
        key = "%s %s: %s" % (where, getattr(e, "sqlstate", None), str(e).splitlines()[0][:200] if str(e) else type(e))
        with self.lock:
            self.errors[key] = self.errors.get(key, 0) + 1

    def get(self, k):
        return self.c.get(k, 0)


# ---------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------


class Writer(threading.Thread):
    def __init__(self, soak, sid):
        super().__init__(name="writer-%d" % sid, daemon=True)
        self.soak = soak
        self.sid = sid
        a = soak.args
        self.r = random.Random("%s:writer:%d" % (a.seed, sid))
        self.used = set()
        self.tick = 0
        self.conn = None
        self.log = open(os.path.join(soak.logdir, "committed-%d.jsonl" % sid), "w")
        self.indoubt = []
        self.rolledback = []
        self.done_txns = 0
        self.pid = None

    # unique sequences: (time-ish << 5 | session); late arrivals go back in time
    def new_seq(self, table=None):
        r = self.r
        if table is not None and TABLES[table].get("clock"):
            # the shared clock (soak_c, soak_d): 12% late, up to 20,000 ticks back
            while True:
                c = self.soak.tick_clock()
                if r.random() < 0.12:
                    c = max(1, c - r.randint(1, 20000))
                s = (c << 5) | self.sid
                if s not in self.used:
                    self.used.add(s)
                    return s
        while True:
            base = self.tick * 64 + r.randint(-20000, 64) if r.random() < 0.85 else r.randint(-(1 << 40), 1 << 41)
            s = (base << 5) | self.sid
            if s not in self.used:
                self.used.add(s)
                return s

    def connect(self):
        deadline = now() + self.soak.args.reconnect_timeout
        while True:
            try:
                c = psycopg.connect(dbname=self.soak.dbname, autocommit=True, application_name="soak-writer")
                c.execute("SET synchronous_commit = on")
                c.execute("SET statement_timeout = '300s'")
                self.pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
                with self.soak.pids_lock:
                    self.soak.pids[self.sid] = self.pid
                self.conn = c
                return
            except psycopg.OperationalError:
                if now() > deadline:
                    raise
                time.sleep(0.5)

    def key(self, table):
        r = self.r
        nk = self.soak.args.keys
        # skewed: a hot tenth of the keys gets half of the traffic
        k = r.randrange(nk // 10) if r.random() < 0.5 else r.randrange(nk)
        if table in ("soak_a", "soak_c"):
            return (k,)
        return ("k%05d" % (k // 4), k % 4)

    def batch_size(self):
        r = self.r
        p = r.random()
        if p < 0.45:
            return r.randint(1, 10)
        if p < 0.8:
            return r.randint(11, 100)
        if p < 0.97:
            return r.randint(101, 500)
        return r.randint(501, self.soak.args.max_batch)

    def payload(self, table, key, seq, tag):
        r = self.r
        meta = TABLES[table]
        if meta.get("clock") and r.random() < (0.35 if meta.get("skip") else 0.15):
            # the source sends a record again as it last sent it: under unchanged => 'skip' it is
            # `unchanged` if that is still what is stored (the final check decides from the commit log)
            cur = self.soak.ref_get(table, key)
            if cur is not None and cur[1] == "u":
                return dict(cur[2])
        d = {"v": "%s/%d" % (tag, seq), "n": r.randint(-(1 << 62), 1 << 62)}
        if table == "soak_a":
            d["j"] = r.choice([None, {"seq": seq, "tag": tag}, [1, "two", None], "s"])
        if table == "soak_c":
            d["tags"] = r.choice([None, [], ["a"], ["b", "c d"], [tag]])
            d["j"] = r.choice([None, {"k": r.randint(0, 3)}, [1, "x", None], "s", {"seq": seq}])
        return d

    def make_call(self, txid, ci):
        """One call: (kind, table, messages, sql parts).  messages: list of
        dicts {a: 'u'|'d', key: [...], seq, data} in input order."""
        r = self.r
        p = r.random()
        table = "soak_a" if p < 0.36 else "soak_b" if p < 0.6 else "soak_c" if p < 0.82 else "soak_d"
        n = self.batch_size()
        kinds = ["messages", "messages", "data", "delete"] + (["staging", "staging"] if "inbox" in TABLES[table]
                                                              else [])
        kind = r.choice(kinds)
        msgs = []
        if kind in ("data", "delete"):
            seq = self.new_seq(table)
            keys = []
            for i in range(n):
                if keys and r.random() < 0.05:
                    keys.append(r.choice(keys))      # a tie inside the call
                else:
                    keys.append(self.key(table))
            for i, k in enumerate(keys):
                m = {"a": "u" if kind == "data" else "d", "key": list(k), "seq": seq}
                if kind == "data":
                    m["data"] = self.payload(table, k, seq, "%s.%d.%d" % (txid, ci, i))
                msgs.append(m)
        else:
            for i in range(n):
                if msgs and r.random() < 0.04:
                    prev = r.choice(msgs)
                    k, seq = tuple(prev["key"]), prev["seq"]  # a tie inside the call
                else:
                    k, seq = self.key(table), self.new_seq(table)
                a = "d" if r.random() < 0.2 else "u"
                m = {"a": a, "key": list(k), "seq": seq}
                if a == "u":
                    m["data"] = self.payload(table, k, seq, "%s.%d.%d" % (txid, ci, i))
                msgs.append(m)
        return kind, table, msgs

    def record(self, table, m, with_data):
        meta = TABLES[table]
        d = dict(zip(meta["keys"], m["key"]))
        if with_data and m["a"] == "u":
            d.update(m["data"])
        return d

    def run_call(self, kind, table, msgs):
        c = self.conn
        if kind == "messages":
            body = [{"action": "delete" if m["a"] == "d" else "upsert", "sequence": m["seq"],
                     "data": self.record(table, m, True)} for m in msgs]
            rows = c.execute("SELECT outcome FROM sequenced_upsert(%s::regclass, %s::jsonb)",
                             (table, json.dumps(body))).fetchall()
        elif kind == "data":
            rows = c.execute("SELECT outcome FROM sequenced_upsert(%s::regclass, %s::jsonb, %s)",
                             (table, json.dumps([self.record(table, m, True) for m in msgs]), msgs[0]["seq"])).fetchall()
        elif kind == "delete":
            rows = c.execute("SELECT outcome FROM sequenced_delete(%s::regclass, %s::jsonb, %s)",
                             (table, json.dumps([self.record(table, m, False) for m in msgs]), msgs[0]["seq"])).fetchall()
        else:
            self.stage(table, msgs)
            return None
        return [x[0] for x in rows]

    def stage(self, table, msgs):
        """The messages as rows of the table's staging table (its statement trigger applies them), by
        COPY or a multi-row INSERT."""
        c = self.conn
        meta = TABLES[table]
        cols = meta["keys"] + meta["cols"] + ["_sdc_sequence", "_sdc_deleted"]
        vals = []
        for m in msgs:
            d = m.get("data") or {}
            vals.append(tuple(m["key"]) + tuple(None if d.get(x) is None else json.dumps(d[x]) if x == "j" else d[x]
                                                for x in meta["cols"]) + (m["seq"], m["a"] == "d"))
        if self.r.random() < 0.5:
            with c.cursor() as cur:
                with cur.copy("COPY %s (%s) FROM STDIN" % (meta["inbox"], ", ".join(cols))) as cp:
                    for v in vals:
                        cp.write_row(v)
        else:
            ph = "(" + ", ".join(["%s"] * len(cols)) + ")"
            c.execute("INSERT INTO %s (%s) VALUES %s" % (meta["inbox"], ", ".join(cols), ", ".join([ph] * len(vals))),
                      [x for v in vals for x in v])

    def one_txn(self, t):
        r = self.r
        st = self.soak.stats
        txid = "%d.%d" % (self.sid, t)
        self.tick += 1
        calls = []
        ncalls = r.randint(1, self.soak.args.max_calls)
        rollback = r.random() < self.soak.args.rollback_rate
        phase = "begin"
        try:
            c = self.conn
            c.execute("BEGIN")
            c.execute("INSERT INTO soak_txlog VALUES (%s)", (txid,))
            phase = "calls"
            for ci in range(ncalls):
                kind, table, msgs = self.make_call(txid, ci)
                undo = r.random() < 0.05
                if undo:
                    c.execute("SAVEPOINT s")
                t0 = now()
                out = self.run_call(kind, table, msgs)
                t1 = now()
                if out is not None and len(out) != len(msgs):
                    self.soak.fail("writer %d: %d messages, %d output rows" % (self.sid, len(msgs), len(out)))
                if undo:
                    c.execute("ROLLBACK TO SAVEPOINT s")
                    st.add("calls_undone")
                    continue
                call = {"table": table, "kind": kind, "msgs": msgs}
                if TABLES[table].get("clock"):
                    # when the call ran and what it said: the final check decides each outcome from the
                    # transactions that had committed before it began (see Soak.check_outcomes)
                    call["t"] = [t0, t1]
                    call["out"] = out
                calls.append(call)
            if rollback:
                phase = "rollback"
                c.execute("ROLLBACK")
                self.rolledback.append(txid)
                st.add("txns_rolled_back")
                return
            phase = "commit"
            cs = now()
            c.execute("COMMIT")
            cr = now()
        except CONN_LOST as e:
            if not isinstance(e, psycopg.errors.QueryCanceled) and (self.conn.closed or self.conn.broken):
                st.add("conn_lost")
                if phase == "commit":
                    self.indoubt.append({"txid": txid, "calls": calls, "cs": cs, "cr": None})
                    st.add("txns_in_doubt")
                else:
                    self.rolledback.append(txid)
                    st.add("txns_lost_before_commit")
                self.connect()
                return
            self.txn_error(txid, e)
            return
        except psycopg.Error as e:
            self.txn_error(txid, e)
            return
        # committed: log it (cs, cr: when COMMIT was sent and when it returned)
        self.log.write(json.dumps({"txid": txid, "calls": calls, "cs": cs, "cr": cr}) + "\n")
        self.log.flush()
        self.soak.ref_apply(calls)
        st.add("txns_committed")
        st.add("calls_committed", len(calls))
        st.add("msgs_committed", sum(len(x["msgs"]) for x in calls))

    def txn_error(self, txid, e):
        st = self.soak.stats
        sqlstate = getattr(e, "sqlstate", None)
        if sqlstate == "40P01":
            st.add("deadlocks")
        elif sqlstate in ("57P01", "57P02", "57P03"):
            st.add("conn_lost")
        else:
            st.add("unexpected_errors")
        st.error("writer", e)
        self.rolledback.append(txid)
        try:
            self.conn.execute("ROLLBACK")
        except CONN_LOST:
            self.connect()
        except psycopg.Error:
            pass

    def run(self):
        try:
            self.connect()
            for t in range(self.soak.args.txns):
                if self.soak.stop.is_set():
                    break
                self.one_txn(t)
                self.done_txns += 1
        except Exception:
            self.soak.fail("writer %d died: %s" % (self.sid, traceback.format_exc()))
        finally:
            self.log.close()


# ---------------------------------------------------------------------------
# the rescanner
# ---------------------------------------------------------------------------


class BreakerTripped(Exception):
    pass


class Rescanner(Writer):
    """A session that rescans soak_c and soak_d now and then while the writers run (README, Rescans).

    The source is what the committed transactions hold so far (Soak.ref: each key's highest message),
    changed the way sources change without saying so: 3% of its live records are gone, 2% hold other
    values, and a few keys are new.  A rescan takes S = the shared clock, above every sequence sent so
    far; sends every record of that source with sequence S, page by page (--rescan-page), each page in
    its own transaction (sequenced_upsert(t, page, S), the messages form, or COPY/INSERT into soak_c's
    staging table; 5% of pages are rolled back and sent again); then calls
    sequenced_delete_missing(t, S) in a transaction of its own.  The writers go on meanwhile: a key
    they touch after S began stays, which the final check holds it to (Soak.check_rescans).

    Of every six rescans the third breaks off half way: sequenced_delete_missing(t, S) with the
    default max_fraction must trip the breaker (54000, its DETAIL's counts over 0.1); the rest of the
    pages are then sent at the same S and it is called again.  The fifth sends nothing at all (the
    breaker again).  Half the time a finished rescan calls it once more with the same S."""

    MODES = ["full", "full", "broken", "full", "empty", "full"]

    def __init__(self, soak, sid):
        super().__init__(soak, sid)
        self.name = "rescanner"
        self.r = random.Random("%s:rescanner" % soak.args.seed)
        self.rescans = []       # what each rescan did (printed at the end)

    def run(self):
        a = self.soak.args
        try:
            self.connect()
            planned = a.sessions * a.txns
            for j in range(a.rescans):
                # spread over the run: the j-th when (j+1)/(n+1) of the writers' transactions ran
                while sum(w.done_txns for w in self.soak.writers) < (j + 1) * planned // (a.rescans + 1):
                    if self.soak.stop.is_set() or all(not w.is_alive() for w in self.soak.writers):
                        return
                    time.sleep(0.02)
                self.rescan(j, RESCANNED[j % len(RESCANNED)], self.MODES[j % len(self.MODES)])
        except Exception:
            self.soak.fail("rescanner died: %s" % traceback.format_exc())
        finally:
            self.log.close()

    def txn(self, txid, body, expect_breaker=False):
        """One transaction: body(conn) -> the calls to log.  Returns 'committed', 'rolledback' (on
        purpose, or the breaker as expected: BreakerTripped), 'lost' or 'error'."""
        st = self.soak.stats
        phase = "begin"
        calls = []
        try:
            c = self.conn
            c.execute("BEGIN")
            c.execute("INSERT INTO soak_txlog VALUES (%s)", (txid,))
            phase = "calls"
            calls = body(c)
            if calls is None:
                phase = "rollback"
                c.execute("ROLLBACK")
                self.rolledback.append(txid)
                st.add("rescan_pages_rolled_back")
                return "rolledback"
            phase = "commit"
            cs = now()
            c.execute("COMMIT")
            cr = now()
        except BreakerTripped:
            self.conn.execute("ROLLBACK")
            self.rolledback.append(txid)
            return "rolledback"
        except CONN_LOST as e:
            if not isinstance(e, psycopg.errors.QueryCanceled) and (self.conn.closed or self.conn.broken):
                st.add("conn_lost")
                if phase == "commit":
                    self.indoubt.append({"txid": txid, "calls": calls, "cs": cs, "cr": None})
                    st.add("txns_in_doubt")
                else:
                    self.rolledback.append(txid)
                    st.add("txns_lost_before_commit")
                self.connect()
                return "lost"
            self.txn_error(txid, e)
            return "error"
        except psycopg.Error as e:
            self.txn_error(txid, e)
            return "error"
        self.log.write(json.dumps({"txid": txid, "calls": calls, "cs": cs, "cr": cr}) + "\n")
        self.log.flush()
        self.soak.ref_apply(calls)
        st.add("txns_committed")
        st.add("calls_committed", len(calls))
        st.add("msgs_committed", sum(len(x["msgs"]) for x in calls))
        return "committed"

    def source(self, table):
        """The source now: the running reference's live records, 3% gone, 2% changed, ~1% new keys."""
        r = self.r
        with self.soak.ref_lock:
            live = {k: v[2] for k, v in self.soak.ref[table].items() if v[1] == "u"}
        recs = {}
        for k in sorted(live):
            p = r.random()
            if p < 0.03:
                continue
            d = dict(live[k])
            if p < 0.05:
                d["v"] = "changed at the source %d" % r.randint(0, 1 << 30)
                d["n"] = r.randint(-(1 << 62), 1 << 62)
            recs[k] = d
        for _ in range(max(1, len(live) // 100)):
            k = self.key(table)
            if k not in recs and k not in live:
                d = {"v": "new at the source", "n": r.randint(-(1 << 62), 1 << 62)}
                if table == "soak_c":
                    d.update(tags=["new"], j={"new": True})
                recs[k] = d
        return len(live), [(k, recs[k]) for k in sorted(recs)]

    def send_page(self, table, S, page, txid):
        r = self.r
        msgs = [{"a": "u", "key": list(k), "seq": S, "data": d} for k, d in page]
        kinds = ["data", "data", "messages"] + (["staging", "staging"] if "inbox" in TABLES[table] else [])
        kind = r.choice(kinds)
        rollback = r.random() < 0.05

        def body(rb):
            def run(c):
                t0 = now()
                out = self.run_call(kind, table, msgs)
                t1 = now()
                if out is not None and len(out) != len(msgs):
                    self.soak.fail("rescanner: %d messages, %d output rows" % (len(msgs), len(out)))
                if rb:
                    return None     # rolled back on purpose, then sent again
                return [{"table": table, "kind": "rescan_" + kind, "msgs": msgs, "t": [t0, t1], "out": out}]
            return run
        res = self.txn(txid, body(rollback))
        if res == "rolledback":
            res = self.txn(txid + "'", body(False))
        return res

    def delete_missing(self, table, S, txid, max_fraction, expect_breaker):
        st = self.soak.stats
        got = {}

        def body(c):
            args = "" if max_fraction == "default" else ", max_fraction => %s::float8"
            params = (table, S) if max_fraction == "default" else (table, S, max_fraction)
            t0 = now()
            try:
                rows = c.execute("SELECT ord, key::text, seq, outcome FROM sequenced_delete_missing(%%s::regclass, "
                                 "%%s::bigint%s)" % args, params).fetchall()
            except psycopg.errors.ProgramLimitExceeded as e:      # 54000: the breaker
                st.add("breaker_trips")
                d = e.diag.message_detail or ""
                m = re.search(r"(\d+) of (\d+) live keys", d)
                got["tripped"] = (int(m.group(1)), int(m.group(2))) if m else d
                if not m or not int(m.group(1)) > 0.1 * int(m.group(2)):
                    self.soak.fail("rescanner: the breaker tripped on %s at %d, DETAIL %r" % (table, S, d))
                if not expect_breaker:
                    self.soak.fail("rescanner: the breaker tripped on %s at %d (max_fraction %s): %s" %
                                   (table, S, max_fraction, d))
                raise BreakerTripped()
            t1 = now()
            keys = TABLES[table]["keys"]
            msgs = []
            for ord_, key, seq, outcome in rows:
                kj = json.loads(key)
                if seq != S or outcome != "deleted":
                    self.soak.fail("sequenced_delete_missing(%s, %d): row %s %s %s" % (table, S, key, seq, outcome))
                msgs.append({"a": "d", "key": [kj[x] for x in keys], "seq": S})
            if [tuple(m["key"]) for m in msgs] != sorted(tuple(m["key"]) for m in msgs):
                self.soak.fail("sequenced_delete_missing(%s, %d): keys not in key order" % (table, S))
            got["deleted"] = len(msgs)
            return [{"table": table, "kind": "delete_missing", "msgs": msgs, "t": [t0, t1], "S": S}]
        res = self.txn(txid, body)
        return res, got

    def rescan(self, j, table, mode):
        a = self.soak.args
        st = self.soak.stats
        S = (self.soak.tick_clock() << 5) | self.sid
        nlive, recs = self.source(table)
        page = a.rescan_page
        pages = [recs[i:i + page] for i in range(0, len(recs), page)]
        if mode == "empty":
            send, rest = [], []
        elif mode == "broken":
            send, rest = pages[:len(pages) // 2], pages[len(pages) // 2:]
        else:
            send, rest = pages, []
        info = {"table": table, "mode": mode, "S": S, "source": len(recs), "live_before": nlive, "pages": 0}
        st.add("rescans")
        for pi, pg in enumerate(send):
            if self.send_page(table, S, pg, "%d.r%d.p%d" % (self.sid, j, pi)) != "committed":
                info["abandoned"] = True
                self.rescans.append(info)
                return
            info["pages"] += 1
        if mode in ("broken", "empty"):
            res, got = self.delete_missing(table, S, "%d.r%d.dm0" % (self.sid, j), "default", True)
            info["breaker"] = got.get("tripped")
            if "tripped" not in got:
                st.add("breaker_not_tripped")
                if res == "committed" and got.get("deleted", 0) > 0.1 * max(nlive, 1):
                    self.soak.fail("rescanner: %s rescan of %s at %d sent %d of %d pages, yet "
                                   "sequenced_delete_missing deleted %d keys without tripping the breaker" %
                                   (mode, table, S, len(send), len(pages), got.get("deleted", 0)))
            if mode == "empty":
                self.rescans.append(info)
                return
            # a rescan that failed may be run again with the same S: the rest of the pages
            for pi, pg in enumerate(rest):
                if self.send_page(table, S, pg, "%d.r%d.q%d" % (self.sid, j, pi)) != "committed":
                    info["abandoned"] = True
                    self.rescans.append(info)
                    return
                info["pages"] += 1
        res, got = self.delete_missing(table, S, "%d.r%d.dm1" % (self.sid, j), 0.5, False)
        info["deleted"] = got.get("deleted")
        st.add("rescan_deleted", got.get("deleted") or 0)
        if res == "committed" and self.r.random() < 0.5:
            # again with the same S: deletes nothing more but what writers' late messages brought in since
            res, got = self.delete_missing(table, S, "%d.r%d.dm2" % (self.sid, j), None, False)
            info["again"] = got.get("deleted")
        self.rescans.append(info)


# ---------------------------------------------------------------------------
# the feed consumer
# ---------------------------------------------------------------------------


class Feed(threading.Thread):
    def __init__(self, soak):
        super().__init__(name="feed", daemon=True)
        self.soak = soak
        self.replica = {t: {} for t in TABLES}
        self.last = {t: 0 for t in TABLES}
        self.finish = threading.Event()
        self.reads = 0
        self.changes = 0
        self.conn = None

    def connect(self):
        deadline = now() + self.soak.args.reconnect_timeout
        while True:
            try:
                self.conn = psycopg.connect(dbname=self.soak.dbname, autocommit=True, application_name="soak-feed")
                return
            except psycopg.OperationalError:
                if now() > deadline:
                    raise
                time.sleep(0.5)

    def poll(self, table):
        rows = self.conn.execute("SELECT pos, seq, key::text, deleted, record::text FROM sequenced_changes(%s, %s, 5000)",
                                 (table, self.last[table])).fetchall()
        rep = self.replica[table]
        for pos, seq, key, deleted, record in rows:
            if pos <= self.last[table]:
                self.soak.fail("feed %s: position %d after %d" % (table, pos, self.last[table]))
            self.last[table] = pos
            rep[key] = (seq, deleted, record)
        self.reads += 1
        self.changes += len(rows)
        return len(rows)

    def run(self):
        try:
            self.connect()
            idle_after_finish = 0
            while True:
                try:
                    got = sum(self.poll(t) for t in TABLES)
                except CONN_LOST:
                    self.soak.stats.add("feed_reconnects")
                    self.connect()
                    continue
                if self.finish.is_set():
                    idle_after_finish = idle_after_finish + 1 if got == 0 else 0
                    if idle_after_finish >= 3:
                        return
                elif got == 0:
                    time.sleep(0.05)
        except Exception:
            self.soak.fail("feed died: %s" % traceback.format_exc())


# ---------------------------------------------------------------------------
# consumer workers (SPEC section 8)
# ---------------------------------------------------------------------------


class ShortAck(Exception):
    """Some deliveries of a batch expired and went to another worker: the batch is not ours to apply."""


class ConsumerWorker(threading.Thread):
    """One of --consumers workers sharing the consumer 'soak_mirror' of soak_a: it receives a batch (a
    statement of its own), then in one transaction acknowledges it -- every delivery must be
    acknowledged, else the batch went elsewhere and is rolled back -- and applies it to soak_a_mirror.
    A failed batch is nacked.  A crash takes the open transaction back; what was received and never
    acknowledged comes again after the visibility timeout.  After the writers are done a worker stops
    once the consumer has nothing pending.  At the end the mirror must equal soak_a exactly."""

    CONSUMER = "soak_mirror"

    def __init__(self, soak, wid):
        super().__init__(name="consumer-%d" % wid, daemon=True)
        self.soak = soak
        self.wid = wid
        self.finish = threading.Event()
        self.conn = None
        self.batches = 0
        self.applied = 0
        self.short_acks = 0
        self.redelivered = 0

    def connect(self):
        deadline = now() + self.soak.args.reconnect_timeout
        while True:
            try:
                self.conn = psycopg.connect(dbname=self.soak.dbname, autocommit=True,
                                            application_name="soak-consumer-%d" % self.wid)
                return
            except psycopg.OperationalError:
                if now() > deadline:
                    raise
                time.sleep(0.5)

    def batch(self):
        c = self.conn
        rows = c.execute("SELECT ack_id, key->>'id', deleted, record, deliveries "
                         "FROM sequenced_receive(%s, 200, '0.2 seconds')", (self.CONSUMER,)).fetchall()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        self.redelivered += sum(1 for r in rows if r[4] > 1)
        try:
            with c.transaction():
                n = c.execute("SELECT sequenced_ack(%s, %s)", (self.CONSUMER, ids)).fetchone()[0]
                if n != len(ids):
                    self.short_acks += 1
                    raise ShortAck("acknowledged %d of %d" % (n, len(ids)))
                for _, kid, deleted, record in (r[:4] for r in rows):
                    if deleted:
                        c.execute("DELETE FROM soak_a_mirror WHERE id = %s::int", (kid,))
                    else:
                        c.execute("INSERT INTO soak_a_mirror SELECT * FROM "
                                  "jsonb_populate_record(NULL::soak_a_mirror, %s::jsonb) "
                                  "ON CONFLICT (id) DO UPDATE SET (v, n, j, _sdc_sequence) = "
                                  "(EXCLUDED.v, EXCLUDED.n, EXCLUDED.j, EXCLUDED._sdc_sequence)",
                                  (json.dumps(record),))
        except ShortAck:
            c.execute("SELECT sequenced_nack(%s, %s)", (self.CONSUMER, ids))
            return len(rows)
        self.batches += 1
        self.applied += len(rows)
        return len(rows)

    def pending(self):
        return self.conn.execute("SELECT pending FROM sequenced_consumers WHERE consumer = %s",
                                 (self.CONSUMER,)).fetchone()[0]

    def run(self):
        try:
            self.connect()
            while True:
                try:
                    got = self.batch()
                    if got == 0 and self.finish.is_set() and self.pending() == 0:
                        return
                except CONN_LOST:
                    self.soak.stats.add("consumer_reconnects")
                    self.connect()
        except Exception:
            self.soak.fail("consumer worker %d died: %s" % (self.wid, traceback.format_exc()))


# ---------------------------------------------------------------------------
# crashes
# ---------------------------------------------------------------------------


class Crasher(threading.Thread):
    def __init__(self, soak):
        super().__init__(name="crasher", daemon=True)
        self.soak = soak
        self.rounds = []

    def pg(self, *cmd):
        a = self.soak.args
        full = [os.path.join(a.bindir, cmd[0])] + list(cmd[1:])
        if os.geteuid() == 0:
            full = ["runuser", "-u", "postgres", "--"] + full
        return subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")

    def start_server(self):
        a = self.soak.args
        port = os.environ.get("PGPORT", "5432")
        p = self.pg("pg_ctl", "-D", a.pgdata, "-l", a.pglog, "-o", "-p %s" % port, "-w", "-t", "300", "start")
        if p.returncode != 0:
            self.soak.fail("pg_ctl start failed: %s" % p.stdout)

    def run(self):
        a = self.soak.args
        modes = ["immediate", "kill9"] if a.crash == "both" else [a.crash]
        for i in range(a.crash_rounds):
            if self.soak.stop.wait(a.crash_interval):
                return
            if self.soak.writers_done():
                return
            mode = modes[i % len(modes)]
            before = self.soak.stats.get("txns_committed")
            t0 = now()
            if mode == "immediate":
                p = self.pg("pg_ctl", "-D", a.pgdata, "-m", "immediate", "-w", "stop")
                if p.returncode != 0:
                    self.soak.fail("pg_ctl stop -m immediate failed: %s" % p.stdout)
                    return
                time.sleep(0.5)
                self.start_server()
            else:
                with self.soak.pids_lock:
                    pids = sorted(self.soak.pids.values())
                victim = random.Random("%s:crash:%d" % (a.seed, i)).choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                # the postmaster reinitializes; wait until it takes connections
                deadline = now() + 120
                while now() < deadline:
                    try:
                        psycopg.connect(dbname=self.soak.dbname, connect_timeout=5).close()
                        break
                    except psycopg.OperationalError:
                        time.sleep(0.5)
            self.rounds.append({"mode": mode, "at_committed": before, "down_s": round(now() - t0, 2)})
            self.soak.stats.add("crash_rounds")
            print("  crash round %d: %s after %d committed transactions (%.1f s to recover)" %
                  (i + 1, mode, before, now() - t0), flush=True)


# ---------------------------------------------------------------------------
# the soak
# ---------------------------------------------------------------------------


class Soak:
    def __init__(self, args):
        self.args = args
        self.dbname = args.db
        self.stats = Stats()
        self.stop = threading.Event()
        self.failures = []
        self.fail_lock = threading.Lock()
        self.pids = {}
        self.pids_lock = threading.Lock()
        self.logdir = args.logdir
        os.makedirs(self.logdir, exist_ok=True)
        self.writers = []
        self.rescanner = None
        self.consumers = []
        # the clock of soak_c and soak_d, and what the committed transactions hold so far (each key's
        # highest message, as the final reference says): the source that rescans read
        self.clock = 0
        self.clock_lock = threading.Lock()
        self.ref = {t: {} for t in RESCANNED}
        self.ref_lock = threading.Lock()

    def tick_clock(self):
        with self.clock_lock:
            self.clock += 1
            return self.clock

    def ref_get(self, table, key):
        with self.ref_lock:
            return self.ref[table].get(tuple(key))

    def ref_apply(self, calls):
        """A committed transaction's calls into the running reference (highest sequence wins; a tie inside
        a call as on_equal says; there are no ties between calls)."""
        with self.ref_lock:
            for call in calls:
                if call["table"] not in self.ref:
                    continue
                b = self.ref[call["table"]]
                replace = TABLES[call["table"]]["on_equal"] == "replace"
                for m in call["msgs"]:
                    k = tuple(m["key"])
                    cur = b.get(k)
                    if cur is None or m["seq"] > cur[0] or (m["seq"] == cur[0] and replace):
                        b[k] = (m["seq"], m["a"], m.get("data"))

    def sessions_all(self):
        return self.writers + ([self.rescanner] if self.rescanner else [])

    def fail(self, msg):
        with self.fail_lock:
            self.failures.append(msg)
        print("FAIL: %s" % msg, flush=True)

    def writers_done(self):
        return all(not w.is_alive() for w in self.writers)

    def setup(self):
        admin = psycopg.connect(autocommit=True)
        admin.execute(S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(self.dbname)))
        admin.execute(S.SQL("CREATE DATABASE {} TEMPLATE template0").format(S.Identifier(self.dbname)))
        admin.close()
        with psycopg.connect(dbname=self.dbname, autocommit=True) as c:
            c.execute(SETUP)

    def run(self):
        a = self.args
        self.setup()
        feed = Feed(self) if not a.no_feed else None
        if feed:
            feed.start()
        if a.consumers:
            with psycopg.connect(dbname=self.dbname, autocommit=True) as c:
                c.execute("SELECT sequenced_consumer_create(%s, 'soak_a', visibility_timeout => '5 seconds')",
                          (ConsumerWorker.CONSUMER,))
        self.consumers = [ConsumerWorker(self, i) for i in range(a.consumers)]
        for cw in self.consumers:
            cw.start()
        self.writers = [Writer(self, i) for i in range(a.sessions)]
        if a.rescans:
            self.rescanner = Rescanner(self, a.sessions)
        t0 = now()
        for w in self.sessions_all():
            w.start()
        crasher = None
        if a.crash:
            crasher = Crasher(self)
            crasher.start()
        last = t0
        while not self.writers_done():
            time.sleep(0.5)
            if a.duration and now() - t0 > a.duration:
                self.stop.set()
            if now() - last >= 15:
                last = now()
                el = now() - t0
                print("  ... %.0f s: %d txns committed, %d messages, %.0f msgs/s" %
                      (el, self.stats.get("txns_committed"), self.stats.get("msgs_committed"),
                       self.stats.get("msgs_committed") / el), flush=True)
        if self.rescanner:
            self.rescanner.join()
        elapsed = now() - t0
        self.stop.set()
        if crasher:
            crasher.join(timeout=300)
        if feed:
            feed.finish.set()
            feed.join(timeout=600)
        for cw in self.consumers:
            cw.finish.set()
        for cw in self.consumers:
            cw.join(timeout=600)
            if cw.is_alive():
                self.fail("consumer worker %d did not finish: the consumer still has changes pending" % cw.wid)
        try:
            self.check(elapsed, feed, crasher)
        except Exception:
            self.fail("the final check failed: %s" % traceback.format_exc())
        if not a.keep and not self.failures:
            with psycopg.connect(autocommit=True) as admin:
                admin.execute(S.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(S.Identifier(self.dbname)))
        return 1 if self.failures else 0

    # -- the reference ---------------------------------------------------------------
    def committed_log(self, conn):
        txns = []
        for w in self.sessions_all():
            with open(os.path.join(self.logdir, "committed-%d.jsonl" % w.sid)) as f:
                for line in f:
                    txns.append(json.loads(line))
        acked = {t["txid"] for t in txns}
        present = {r[0] for r in conn.execute("SELECT txid FROM soak_txlog").fetchall()}
        lost = sorted(acked - present)
        if lost:
            self.fail("%d acknowledged commits are missing from soak_txlog: %s" % (len(lost), lost[:10]))
        indoubt_in = indoubt_out = 0
        indoubt_ids = set()
        for w in self.sessions_all():
            for t in w.indoubt:
                indoubt_ids.add(t["txid"])
                if t["txid"] in present:
                    txns.append(t)
                    indoubt_in += 1
                else:
                    indoubt_out += 1
        rolled = {x for w in self.sessions_all() for x in w.rolledback}
        ghost = sorted(rolled & present)
        if ghost:
            self.fail("%d rolled back / failed transactions are in soak_txlog: %s" % (len(ghost), ghost[:10]))
        unknown = sorted(present - acked - indoubt_ids)
        if unknown:
            self.fail("soak_txlog has transactions nobody committed: %s" % unknown[:10])
        self.stats.add("indoubt_committed", indoubt_in)
        self.stats.add("indoubt_not_committed", indoubt_out)
        return txns

    def reference(self, txns):
        """table -> key tuple -> (seq, action, data); max seq per table; and for the history tables,
        table -> key -> {seq: (action, data)}: every committed message of the key with a distinct
        sequence (a tie inside a call as on_equal says), its history (SPEC section 7)."""
        best = {t: {} for t in TABLES}
        maxseq = {t: None for t in TABLES}
        hist = {t: {} for t in TABLES if TABLES[t].get("history")}
        for tx in txns:
            for ci, call in enumerate(tx["calls"]):
                table = call["table"]
                replace = TABLES[table]["on_equal"] == "replace"
                b = best[table]
                h = hist.get(table)
                for i, m in enumerate(call["msgs"]):
                    k = tuple(m["key"])
                    seq = m["seq"]
                    tag = (tx["txid"], ci)
                    maxseq[table] = seq if maxseq[table] is None else max(maxseq[table], seq)
                    cur = b.get(k)
                    if cur is None or seq > cur[0]:
                        b[k] = (seq, m["a"], m.get("data"), tag, i)
                    elif seq == cur[0]:
                        if cur[3] != tag:
                            self.fail("generator: sequence %d of key %s used by two calls" % (seq, k))
                        if replace:
                            b[k] = (seq, m["a"], m.get("data"), tag, i)
                    if h is not None:
                        hk = h.setdefault(k, {})
                        if seq not in hk or replace:
                            hk[seq] = (m["a"], m.get("data"))
        return best, maxseq, hist

    def check(self, elapsed, feed, crasher):
        a = self.args
        st = self.stats
        conn = psycopg.connect(dbname=self.dbname, autocommit=True)
        txns = self.committed_log(conn)
        best, maxseq, hist = self.reference(txns)
        mismatches = 0
        examples = []
        for table, meta in TABLES.items():
            keys = meta["keys"]
            kl = ", ".join(keys)
            rows = conn.execute("SELECT %s, _sdc_sequence, %s, %s FROM %s" %
                                (kl, ", ".join(meta["cols"]),
                                 "_sdc_deleted_at IS NOT NULL" if meta["soft"] else "false", table)).fetchall()
            nk = len(keys)
            actual = {}
            for r in rows:
                actual[tuple(r[:nk])] = (r[nk], dict(zip(meta["cols"], r[nk + 1:nk + 1 + len(meta["cols"])])), r[-1])
            # the key state S (Design T, src/direct.c): for a sparse table (a plain one, unchanged =>
            # 'write') only the keys whose row cannot say their state -- tombstones, ties under 'replace',
            # keys a statement (the staging trigger) wrote; a key's stored sequence is the higher of its
            # row's and its S row's
            staterel, relkind, unchanged = conn.execute(
                "SELECT c.state_rel::text, r.relkind::text, c.unchanged FROM _sequenced.config c "
                "JOIN pg_class r ON r.oid = c.relid WHERE c.relid = %s::regclass", (table,)).fetchone()
            sparse = relkind == "r" and unchanged != "skip"
            state = {}
            for r in conn.execute("SELECT %s, sequence, deleted FROM %s" %
                                  (", ".join("k%d" % (i + 1) for i in range(nk)), staterel)).fetchall():
                state[tuple(r[:nk])] = (r[nk], r[nk + 1])
            ref = best[table]

            def bad(msg):
                nonlocal mismatches
                mismatches += 1
                if len(examples) < 15:
                    examples.append("%s: %s" % (table, msg))

            # whatever the reference: S next to a row carries its sequence and deletedness, S without a
            # row is a tombstone, and a table that is not sparse has S for every row
            skip = bool(meta.get("skip"))
            for k, s in state.items():
                row = actual.get(k)
                # (under unchanged => 'skip' the key's sequence moves on without its row: unchanged messages)
                if row is not None and (s[1] != row[2] or (s[0] < row[0] if skip else s[0] != row[0])):
                    bad("key %s: key state row (sequence, deleted) %s next to a row with seq %s deleted=%s" %
                        (k, s, row[0], row[2]))
                elif row is None and not s[1]:
                    bad("key %s: key state row %s without a row is no tombstone" % (k, s))
            if not sparse:
                for k in actual:
                    if k not in state:
                        bad("key %s: a row without a key state row (table keeps one per key)" % (k,))

            for k, (seq, act, data, tag, i) in ref.items():
                row = actual.get(k)
                s = state.get(k)
                if act == "u":
                    if row is None:
                        bad("key %s: expected the row of seq %d (txn %s), no row" % (k, seq, tag))
                        continue
                    if skip and not row[2]:
                        # the row keeps the sequence of the version it wrote: a committed upsert of the
                        # key with these very values, at most the winner's sequence (which the key
                        # state row holds)
                        same = [q for q, (qa, qd) in hist[table][k].items()
                                if qa == "u" and q <= seq and all(qd.get(c) == data.get(c) for c in meta["cols"])]
                        if row[0] not in same:
                            bad("key %s: the row's sequence %s is none of the committed upserts with its values "
                                "at or below %d: %s" % (k, row[0], seq, sorted(same)[-5:]))
                            continue
                    elif row[0] != seq or row[2]:
                        bad("key %s: expected seq %d live, row has seq %s deleted=%s" % (k, seq, row[0], row[2]))
                        continue
                    want = {c: data.get(c) for c in meta["cols"]}
                    if row[1] != want:
                        bad("key %s seq %d: expected %s, row %s" % (k, seq, want, row[1]))
                    if s is not None and s != (seq, False):
                        bad("key %s: key state row %s, expected none or (%d, live)" % (k, s, seq))
                else:
                    if row is not None and not meta["soft"]:
                        bad("key %s: deleted at seq %d (txn %s), row still there with seq %s" % (k, seq, tag, row[0]))
                    if row is not None and meta["soft"] and (not row[2] or row[0] != seq):
                        bad("key %s: soft-deleted at seq %d, row has seq %s deleted=%s" % (k, seq, row[0], row[2]))
                    if row is None and s != (seq, True):
                        bad("key %s: no row, key state row %s, expected the tombstone (%d)" % (k, s, seq))
                    if row is not None and s is not None and s != (seq, True):
                        bad("key %s: soft-deleted row, key state row %s, expected none or (%d, deleted)" %
                            (k, s, seq))
            for k in actual:
                if k not in ref:
                    bad("key %s: row that no committed message wrote: %s" % (k, actual[k]))
            for k in state:
                if k not in ref:
                    bad("key %s: key state row that no committed message wrote: %s" % (k, state[k]))
            ms = conn.execute("SELECT sequenced_max_sequence(%s)", (table,)).fetchone()[0]
            if ms != maxseq[table]:
                bad("sequenced_max_sequence %s, expected %s" % (ms, maxseq[table]))
            tomb = sum(1 for k, v in state.items() if v[1] and k not in actual)
            st.add("rows_" + table, len(actual))
            st.add("tombstones_" + table, tomb)
            st.add("state_rows_" + table, len(state))
            # the feed from 0: every key's current state once -- each row (record = the row, deleted =
            # soft-deleted) and each tombstone (no record) -- which is what the reference says
            full = {}
            nfull = 0
            for key, seq, deleted, record in conn.execute(
                    "SELECT key::text, seq, deleted, record::text FROM sequenced_changes(%s, 0)", (table,)):
                full[key] = (seq, deleted, record)
                nfull += 1
            if nfull != len(full):
                bad("sequenced_changes(t, 0) has %d rows for %d keys" % (nfull, len(full)))
            byref = {}
            for key, v in full.items():
                kj = json.loads(key)
                byref[tuple(kj.get(c) for c in keys)] = (key, v)
            for k, (seq, act, data, tag, i) in ref.items():
                f = byref.get(k)
                if f is None:
                    bad("key %s: not in sequenced_changes(t, 0) (reference: %s at seq %d)" % (k, act, seq))
                    continue
                fseq, fdel, frec = f[1]
                rec = json.loads(frec) if frec is not None else None
                if act == "u":
                    # (the feed's seq is the row's: under 'skip' that of the version it wrote)
                    ok = fseq == (actual[k][0] if skip and k in actual else seq) and not fdel and rec is not None \
                        and {c: rec.get(c) for c in meta["cols"]} == {c: data.get(c) for c in meta["cols"]}
                else:
                    ok = fseq == seq and fdel and (rec is None if k not in actual else
                                                   rec.get("_sdc_deleted_at") is not None)
                if not ok:
                    bad("key %s: sequenced_changes(t, 0) has seq %s deleted=%s record %s; reference: %s at seq %d" %
                        (k, fseq, fdel, frec, act, seq))
            for k, f in byref.items():
                if k not in ref:
                    bad("key %s: in sequenced_changes(t, 0) but no committed message wrote it: %s" % (k, f))
            if feed:
                rep = feed.replica[table]
                diff = [k for k in set(full) | set(rep) if full.get(k) != rep.get(k)]
                if diff:
                    bad("feed replica differs from sequenced_changes(t, 0) on %d keys, e.g. %s: replica %s, full %s" %
                        (len(diff), diff[0], rep.get(diff[0]), full.get(diff[0])))
            live_full = sum(1 for v in full.values() if v[2] is not None)
            if live_full != len(actual):
                bad("sequenced_changes(t, 0) has %d rows, the table %d" % (live_full, len(actual)))
            twin = conn.execute(
                "SELECT count(*) FROM %s t JOIN sequenced_changes(%s, 0) c ON c.record = to_jsonb(t.*)" % (table, "%s"),
                (table,)).fetchone()[0]
            if twin != len(actual):
                bad("%d of %d rows have a matching record in sequenced_changes(t, 0)" % (twin, len(actual)))
        # history (as_of included), and each call's outcomes and each rescan's deletes against what had
        # committed before it began
        for table, msg in self.check_history(conn, hist) + self.check_as_of(conn, hist) + \
                self.check_outcomes(txns):
            mismatches += 1
            if len(examples) < 25:
                examples.append("%s: %s" % (table, msg))
        if self.consumers:
            for msg in self.check_consumers(conn):
                mismatches += 1
                if len(examples) < 25:
                    examples.append("soak_a_mirror: %s" % msg)
        amcheck = self.amcheck(conn)
        conn.close()
        st.add("mismatches", mismatches)
        for e in examples:
            print("MISMATCH %s" % e)
        if mismatches:
            self.fail("%d mismatches against the reference" % mismatches)
        if st.get("deadlocks") and a.max_calls == 1:
            self.fail("%d deadlocks" % st.get("deadlocks"))
        if st.get("unexpected_errors"):
            self.fail("%d unexpected errors" % st.get("unexpected_errors"))
        if a.crash and st.get("crash_rounds") < a.crash_rounds:
            self.fail("only %d of %d crash rounds ran (the writers finished first?)" %
                      (st.get("crash_rounds"), a.crash_rounds))
        txn = st.get("txns_committed")
        msgs = st.get("msgs_committed")
        print()
        print("pg_sequenced soak: seed %s, %d sessions x %d transactions, %d keys, batches 1..%d%s" %
              (a.seed, a.sessions, a.txns, a.keys, a.max_batch, ", crash: %s x %d" % (a.crash, a.crash_rounds)
               if a.crash else ""))
        print("  elapsed %.1f s: %d transactions committed (%.1f/s), %d calls, %d messages (%.0f/s)" %
              (elapsed, txn, txn / elapsed, st.get("calls_committed"), msgs, msgs / elapsed))
        print("  rolled back on purpose %d, calls undone by ROLLBACK TO SAVEPOINT %d" %
              (st.get("txns_rolled_back"), st.get("calls_undone")))
        if a.crash:
            print("  crash rounds %d %s; connections lost %d, transactions lost before COMMIT %d, "
                  "in doubt %d (committed %d, not %d)" %
                  (st.get("crash_rounds"), json.dumps(crasher.rounds if crasher else []), st.get("conn_lost"),
                   st.get("txns_lost_before_commit"), st.get("txns_in_doubt"), st.get("indoubt_committed"),
                   st.get("indoubt_not_committed")))
        print("  final: %s" % ", ".join("%s %d rows %d tombstones (%d key state rows%s)" % (
            t, st.get("rows_" + t), st.get("tombstones_" + t), st.get("state_rows_" + t),
            ", %d history versions" % st.get("history_versions_" + t) if TABLES[t].get("history") else "")
            for t in TABLES))
        if self.rescanner:
            print("  rescans %d (%d breaker trips as expected, %d pages rolled back and sent again), keys deleted by "
                  "sequenced_delete_missing %d:" % (st.get("rescans"), st.get("breaker_trips"),
                                                    st.get("rescan_pages_rolled_back"), st.get("rescan_deleted")))
            for info in self.rescanner.rescans:
                print("    %s" % json.dumps(info))
        print("  outcomes checked against the commits before each call: %d (%d of them unchanged), %d keys "
              "ambiguous (a commit while the call ran); sequenced_delete_missing: %d keys checked, %d ambiguous; "
              "sequenced_as_of at %d sequences" %
              (st.get("outcomes_checked"), st.get("outcomes_unchanged_checked"), st.get("outcomes_ambiguous"),
               st.get("dm_keys_checked"), st.get("dm_keys_ambiguous"), st.get("as_of_points")))
        if feed:
            print("  feed: %d reads, %d changes received, %d reconnects" % (feed.reads, feed.changes,
                                                                           st.get("feed_reconnects")))
        if self.consumers:
            print("  consumer workers %d: %d batches, %d changes applied (%d redelivered), %d batches not wholly "
                  "acknowledged, %d reconnects; mirror %d rows" %
                  (len(self.consumers), sum(c.batches for c in self.consumers),
                   sum(c.applied for c in self.consumers), sum(c.redelivered for c in self.consumers),
                   sum(c.short_acks for c in self.consumers), st.get("consumer_reconnects"), st.get("mirror_rows")))
        print("  amcheck: %s" % amcheck)
        print("  mismatches %d, deadlocks %d, unexpected errors %d" %
              (mismatches, st.get("deadlocks"), st.get("unexpected_errors")))
        for k, v in sorted(st.errors.items()):
            print("    error x%d: %s" % (v, k))
        print("RESULT: %s" % ("FAIL" if self.failures else "PASS"))

    # -- consumers -------------------------------------------------------------------
    def check_consumers(self, conn):
        """The consumer workers' mirror equals soak_a exactly (every column), and the consumer has nothing
        pending or in flight."""
        out = []
        only_t, only_m = conn.execute(
            "SELECT (SELECT count(*) FROM (SELECT * FROM soak_a EXCEPT ALL SELECT * FROM soak_a_mirror) d), "
            "(SELECT count(*) FROM (SELECT * FROM soak_a_mirror EXCEPT ALL SELECT * FROM soak_a) d)").fetchone()
        if only_t or only_m:
            ex = conn.execute("SELECT t.id, to_jsonb(t.*)::text, to_jsonb(m.*)::text FROM soak_a t "
                              "FULL JOIN soak_a_mirror m ON m.id = t.id "
                              "WHERE to_jsonb(t.*) IS DISTINCT FROM to_jsonb(m.*) LIMIT 3").fetchall()
            out.append("%d rows of soak_a not in the mirror, %d rows of the mirror not in soak_a, e.g. %s" %
                       (only_t, only_m, ex))
        pending, in_flight, acked = conn.execute(
            "SELECT pending, in_flight, acked_through FROM sequenced_consumers WHERE consumer = %s",
            (ConsumerWorker.CONSUMER,)).fetchone()
        last = conn.execute("SELECT coalesce(max(pos), 0) FROM sequenced_changes('soak_a')").fetchone()[0]
        if pending or in_flight:
            out.append("consumer %s: %d pending, %d in flight after the workers stopped" %
                       (ConsumerWorker.CONSUMER, pending, in_flight))
        if acked < last:
            out.append("consumer %s: acked_through %d, below the feed's last position %d" %
                       (ConsumerWorker.CONSUMER, acked, last))
        self.stats.add("mirror_rows", conn.execute("SELECT count(*) FROM soak_a_mirror").fetchone()[0])
        return out

    # -- history ---------------------------------------------------------------------
    def check_history(self, conn, hist):
        """Each history table against the reference: per key, one version per committed message with a
        distinct sequence, in sequence order, valid from its sequence to the next one's (NULL for the
        last), deleted for a delete (its other columns NULL), else the message's values, and its
        sequence column its own sequence; no version of a key no committed message touched.  And,
        whatever the reference says, a query over the table: no key's versions overlap or leave a gap
        (each _sdc_valid_to is the next version's _sdc_valid_from), each version's sequence column is
        its _sdc_valid_from."""
        problems = []
        st = self.stats
        for table, exp in hist.items():
            meta = TABLES[table]
            keys, cols = meta["keys"], meta["cols"]
            ht = conn.execute("SELECT sequenced_history_table(%s)", (table,)).fetchone()[0]
            kl = ", ".join(keys)
            bad_rows = conn.execute(
                "SELECT count(*) FROM (SELECT _sdc_valid_from f, _sdc_valid_to t, _sdc_sequence s, "
                "  lead(_sdc_valid_from) OVER w nf, lead(true) OVER w hn, row_number() OVER w rn "
                "  FROM %s WINDOW w AS (PARTITION BY %s ORDER BY _sdc_valid_from NULLS FIRST)) x "
                "WHERE (hn IS NULL AND t IS NOT NULL) OR (hn AND t IS DISTINCT FROM nf) OR (f IS NULL AND rn > 1) "
                "   OR (t IS NOT NULL AND t <= f) OR s IS DISTINCT FROM f" % (ht, kl)).fetchone()[0]
            if bad_rows:
                problems.append((table, "%d versions of %s overlap, leave a gap or carry another sequence "
                                        "than their own" % (bad_rows, ht)))
            got = {}
            nver = 0
            for r in conn.execute("SELECT %s, _sdc_valid_from, _sdc_valid_to, _sdc_deleted, _sdc_sequence, %s "
                                  "FROM %s ORDER BY %s, _sdc_valid_from" % (kl, ", ".join(cols), ht, kl)):
                nk = len(keys)
                got.setdefault(tuple(r[:nk]), []).append((r[nk], r[nk + 1], r[nk + 2], r[nk + 3],
                                                          dict(zip(cols, r[nk + 4:]))))
                nver += 1
            st.add("history_versions_" + table, nver)
            nbad = 0
            for k in set(exp) | set(got):
                e = sorted((exp.get(k) or {}).items())
                g = got.get(k, [])
                why = None
                if [v[0] for v in g] != [q for q, _ in e]:
                    gs, es = {v[0]: v for v in g}, dict(e)
                    extra = sorted(set(gs) - set(es))
                    missing = sorted(set(es) - set(gs))
                    why = "; ".join(x for x in (
                        "versions from %s that no committed message has%s" % (
                            ", ".join("%d%s" % (q, " (a delete)" if gs[q][2] else "") for q in extra[:5]),
                            self.rescan_hint(table, extra)) if extra else "",
                        "no versions from %s, where committed messages are" % missing[:5] if missing else "") if x)
                else:
                    for j, ((q, (a, d)), (vf, vt, vdel, vseq, vals)) in enumerate(zip(e, g)):
                        nxt = e[j + 1][0] if j + 1 < len(e) else None
                        want = {c: None for c in cols} if a == "d" else {c: d.get(c) for c in cols}
                        if vt != nxt or vdel != (a == "d") or vseq != q or vals != want:
                            why = "version [%s, %s) deleted=%s seq %s %s; expected [%s, %s) deleted=%s %s" % (
                                vf, vt, vdel, vseq, vals, q, nxt, a == "d", want)
                            break
                if why:
                    nbad += 1
                    if nbad <= 5:
                        problems.append((table, "history of key %s: %s" % (k, why)))
            if nbad > 5:
                problems.append((table, "... history of %d keys in all differs" % nbad))
        return problems

    def rescan_hint(self, table, seqs):
        """A version at the S of one of the table's rescans: its sequenced_delete_missing (which says
        which keys it deleted) wrote a version for a key it did not report."""
        ss = {info["S"] for info in (self.rescanner.rescans if self.rescanner else []) if info["table"] == table}
        hit = [q for q in seqs if q in ss]
        return " (%s: the S of a rescan -- a version sequenced_delete_missing wrote for a key it did not delete)" % \
            hit[0] if hit else ""

    def check_as_of(self, conn, hist):
        """sequenced_as_of(NULL::t, s) at a sample of sequences -- each rescan's S and the sequence just
        before it, the lowest and the highest, and committed messages' own sequences -- against the
        reference: per key, its highest committed message at or below s, if an upsert (values, and its
        own sequence in the sequence column)."""
        problems = []
        r = random.Random("%s:as_of" % self.args.seed)
        for table, exp in hist.items():
            meta = TABLES[table]
            keys, cols = meta["keys"], meta["cols"]
            ver = {k: sorted(v.items()) for k, v in exp.items()}
            seqs = sorted({q for v in exp.values() for q in v})
            if not seqs:
                continue
            points = {seqs[0] - 1, seqs[-1]}
            for info in (self.rescanner.rescans if self.rescanner else []):
                if info["table"] == table:
                    points |= {info["S"], info["S"] - 1}
            while len(points) < self.args.as_of_samples + 2 and len(points) < len(seqs) + 2:
                q = r.choice(seqs)
                points.add(q + r.choice([-1, 0, 0, 1]))
            for p in sorted(points):
                want = {}
                for k, vs in ver.items():
                    j = bisect.bisect_right(vs, (p, (chr(0x10FFFF),))) - 1
                    if j >= 0 and vs[j][1][0] == "u":
                        want[k] = ({c: vs[j][1][1].get(c) for c in cols}, vs[j][0])
                got = {}
                for row in conn.execute("SELECT %s, _sdc_sequence, %s FROM sequenced_as_of(NULL::%s, %%s)" %
                                        (", ".join(keys), ", ".join(cols), table), (p,)):
                    nk = len(keys)
                    got[tuple(row[:nk])] = (dict(zip(cols, row[nk + 1:])), row[nk])
                self.stats.add("as_of_points")
                if got != want:
                    diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)]
                    problems.append((table, "sequenced_as_of at %d differs from the reference on %d keys, e.g. %s: "
                                            "%s, expected %s" % (p, len(diff), diff[0], got.get(diff[0]),
                                                                 want.get(diff[0]))))
        return problems

    # -- outcomes and rescans against what had committed before ---------------------------
    @staticmethod
    def winners(call):
        """key -> (index, seq, action, data) of the message a call applies for it (highest sequence;
        between equal ones the first under keep, the last under replace)."""
        replace = TABLES[call["table"]]["on_equal"] == "replace"
        w = {}
        for i, m in enumerate(call["msgs"]):
            k = tuple(m["key"])
            cur = w.get(k)
            if cur is None or m["seq"] > cur[1] or (m["seq"] == cur[1] and replace):
                w[k] = (i, m["seq"], m["a"], m.get("data"))
        return w

    def check_outcomes(self, txns):
        """For the rescanned tables (soak_c: unchanged => 'skip'; soak_d), every committed call's outcome
        per message, and every sequenced_delete_missing, against the transactions that had committed
        before the call began (COMMIT returned before it), whenever no transaction touching the key
        may have committed while it ran (COMMIT sent before it ended and returned after it began: then
        the key is "ambiguous" and not checked).  Holding the key's lock from its decision to its commit,
        a call sees exactly the keys' committed messages, and the highest one is the stored state.

        An applied message is `inserted` (no row), `updated`, or under 'skip' `unchanged` exactly when
        every column holds the stored values; `deleted`; `stale` when the stored sequence is higher;
        `superseded` when another message of the call wins its key.  sequenced_delete_missing(t, S)
        deletes exactly the keys with a live row whose sequence is below S: none that a message at S
        or above (the rescan's own pages, a writer's newer message) touched before it began, and every
        other live one."""
        problems = []
        st = self.stats
        INF = float("inf")
        ev = {t: {} for t in RESCANNED}     # table -> key -> [(cr, cs, seq, action, data)]
        for tx in txns:
            cr = tx.get("cr")
            cr = INF if cr is None else cr
            cs = tx.get("cs", INF)
            for call in tx["calls"]:
                if call["table"] in ev:
                    for k, (i, q, a, d) in self.winners(call).items():
                        ev[call["table"]].setdefault(k, []).append((cr, cs, q, a, d))
        idx = {}
        for t, per in ev.items():
            for k, lst in per.items():
                lst.sort(key=lambda e: e[0])
                crs = [e[0] for e in lst]
                best, cur = [], None
                for e in lst:
                    if cur is None or e[2] > cur[0]:
                        cur = (e[2], e[3], e[4])
                    best.append(cur)
                smin, m = [0.0] * len(lst), INF
                for j in range(len(lst) - 1, -1, -1):
                    m = min(m, lst[j][1])
                    smin[j] = m
                idx[(t, k)] = (crs, best, smin)

        def prior(t, k, c0, c1):
            """(the key's highest message among the transactions committed before c0, ambiguous?)"""
            x = idx.get((t, k))
            if x is None:
                return None, False
            crs, best, smin = x
            j = bisect.bisect_left(crs, c0)
            return (best[j - 1] if j else None), (j < len(crs) and smin[j] <= c1)

        def expect(meta, p, q, a, d):
            if p is None:
                return {"inserted"} if a == "u" else {"deleted"}
            if q < p[0] or (q == p[0] and meta["on_equal"] == "keep"):
                return {"stale"}
            if a == "d":
                return {"deleted"}
            if p[1] == "d":
                # hard: no row; soft: a marked row, or a tombstone when no upsert came before the delete
                return {"inserted", "updated"} if meta["soft"] else {"inserted"}
            if meta.get("skip") and all(p[2].get(c) == d.get(c) for c in meta["cols"]):
                return {"unchanged"}
            return {"updated"}

        nbad = {}

        def bad(t, msg):
            nbad[t] = nbad.get(t, 0) + 1
            if nbad[t] <= 8:
                problems.append((t, msg))

        for tx in txns:
            own = {}        # this transaction's earlier calls: key -> its highest message
            for call in tx["calls"]:
                t = call["table"]
                if t not in ev:
                    continue
                meta = TABLES[t]
                w = self.winners(call)
                c0, c1 = call.get("t", (None, None))
                if call["kind"] == "delete_missing":
                    S = call["S"]
                    deleted = {tuple(m["key"]) for m in call["msgs"]}
                    for k in set(ev[t]) | deleted:
                        p, amb = prior(t, k, c0, c1)
                        if k in own and (p is None or own[k][0] > p[0]):
                            p = own[k]
                        if amb:
                            st.add("dm_keys_ambiguous")
                            continue
                        st.add("dm_keys_checked")
                        live_below = p is not None and p[1] == "u" and p[0] < S
                        if k in deleted and not live_below:
                            bad(t, "sequenced_delete_missing(t, %d) deleted key %s, which was %s before it began" %
                                (S, k, "never written" if p is None else "%s at %d" % (
                                    "live" if p[1] == "u" else "deleted", p[0])))
                        elif k not in deleted and live_below:
                            bad(t, "sequenced_delete_missing(t, %d) left key %s, live at %d before it began and "
                                   "touched by nothing since" % (S, k, p[0]))
                elif call.get("out") is not None:
                    out = call["out"]
                    for k, (i, q, a, d) in w.items():
                        p, amb = prior(t, k, c0, c1)
                        if k in own and (p is None or own[k][0] > p[0]):
                            p = own[k]
                        if amb:
                            st.add("outcomes_ambiguous")
                            continue
                        want = expect(meta, p, q, a, d)
                        st.add("outcomes_checked")
                        if out[i] == "unchanged":
                            st.add("outcomes_unchanged_checked")
                        if out[i] not in want:
                            bad(t, "txn %s call %s message %d (key %s seq %d %s): outcome %s, expected %s (before it: "
                                   "%s)" % (tx["txid"], call["kind"], i + 1, k, q, a, out[i], "/".join(sorted(want)),
                                            None if p is None else (p[0], p[1])))
                    winners_idx = {v[0] for v in w.values()}
                    for i, o in enumerate(out):
                        if i not in winners_idx and o != "superseded":
                            bad(t, "txn %s message %d: outcome %s, expected superseded" % (tx["txid"], i + 1, o))
                for k, (i, q, a, d) in w.items():
                    if k not in own or q > own[k][0]:
                        own[k] = (q, a, d)
        for t, n in nbad.items():
            if n > 8:
                problems.append((t, "... %d outcome or rescan problems in all" % n))
        return problems

    def amcheck(self, conn):
        rels = conn.execute("""
            SELECT c.oid::regclass::text, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE (n.nspname = '_sequenced' OR c.relname LIKE 'soak%%') AND c.relkind IN ('r', 'i')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')""").fetchall()
        nidx = ntab = 0
        for name, kind in rels:
            try:
                if kind == "i":
                    am = conn.execute("SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
                                      "WHERE c.oid = %s::regclass", (name,)).fetchone()[0]
                    if am != "btree":
                        continue
                    conn.execute("SELECT bt_index_check(%s::regclass, true)", (name,))
                    nidx += 1
                else:
                    bad = conn.execute("SELECT count(*) FROM verify_heapam(%s::regclass)", (name,)).fetchone()[0]
                    if bad:
                        self.fail("verify_heapam(%s): %d corruption reports" % (name, bad))
                    ntab += 1
            except psycopg.Error as e:
                self.fail("amcheck %s: %s" % (name, e))
        return "bt_index_check(heapallindexed) on %d indexes, verify_heapam on %d tables" % (nidx, ntab)


def main():
    ap = argparse.ArgumentParser(description="pg_sequenced concurrent soak")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--txns", type=int, default=250, help="transactions per session")
    ap.add_argument("--keys", type=int, default=5000)
    ap.add_argument("--max-batch", type=int, default=1000)
    ap.add_argument("--rollback-rate", type=float, default=0.1)
    ap.add_argument("--max-calls", type=int, default=1,
                    help="calls per transaction (more than 1: two transactions can lock keys in opposite orders "
                         "across their calls, so deadlocks are then possible and only counted)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--rescans", type=int, default=6,
                    help="rescans of soak_c and soak_d (sequenced_delete_missing) spread over the run (0: none)")
    ap.add_argument("--rescan-page", type=int, default=500, help="records per page (transaction) of a rescan")
    ap.add_argument("--as-of-samples", type=int, default=12,
                    help="sequences at which sequenced_as_of is compared with the reference, per history table")
    ap.add_argument("--duration", type=float, default=0, help="stop starting transactions after this many seconds")
    ap.add_argument("--db", default="pg_sequenced_soak")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-feed", action="store_true")
    ap.add_argument("--consumers", type=int, default=3,
                    help="workers sharing one consumer of soak_a, keeping a mirror (0: none)")
    ap.add_argument("--logdir", default=None, help="client log of committed messages (default: a temp dir)")
    ap.add_argument("--crash", choices=["immediate", "kill9", "both"])
    ap.add_argument("--crash-rounds", type=int, default=2)
    ap.add_argument("--crash-interval", type=float, default=20)
    ap.add_argument("--reconnect-timeout", type=float, default=180)
    ap.add_argument("--pgdata", default=os.environ.get("PGTMP_DATA"))
    ap.add_argument("--pglog", default=os.environ.get("PGTMP_LOG"))
    ap.add_argument("--bindir", default=None)
    a = ap.parse_args()
    if a.sessions + (1 if a.rescans else 0) > 32:
        ap.error("at most 31 sessions (and the rescanner): a sequence's low 5 bits are its session")
    if a.logdir is None:
        a.logdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "pg_sequenced-soak-%d" % os.getpid())
    if a.crash:
        if not a.pgdata or not a.pglog:
            ap.error("--crash needs --pgdata and --pglog (or PGTMP_DATA/PGTMP_LOG)")
        if a.bindir is None:
            a.bindir = subprocess.run([os.environ.get("PG_CONFIG", "pg_config"), "--bindir"], stdout=subprocess.PIPE,
                                      text=True).stdout.strip()
    print("client log of committed messages: %s" % a.logdir)
    return Soak(a).run()


if __name__ == "__main__":
    sys.exit(main())
