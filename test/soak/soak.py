#!/usr/bin/python3
"""
pg_sequenced concurrent soak with a reference check (see test/soak/README.md).

N writer sessions (default 8) run a fixed number of transactions each against
two registered tables over an overlapping key space:

  soak_a  (id int PRIMARY KEY)                   on_equal 'keep',    hard deletes
  soak_b  (k text, part int, PRIMARY KEY (k, part)) on_equal 'replace', soft deletes

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

A feed consumer session follows sequenced_changes() of both tables the whole
time, keeping a replica.

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
  - amcheck: bt_index_check(heapallindexed) on every index of the targets,
    the staging table and the _sequenced tables, verify_heapam on the tables;
  - zero deadlocks (40P01), zero unexpected errors.

Crash under load: --crash immediate|kill9|both --crash-rounds N stops the
server with `pg_ctl stop -m immediate` (and starts it again) or kill -9s the
backend of one writer (the postmaster then restarts every backend) every
--crash-interval seconds while the writers run; they reconnect and go on.

Connection: libpq environment.  The crash needs the data directory and log of
the server (default $PGTMP_DATA and $PGTMP_LOG, from scripts/pgtmp.sh).
"""
import argparse
import json
import os
import random
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
"""

TABLES = {
    "soak_a": dict(keys=["id"], on_equal="keep", soft=False, cols=["v", "n", "j"]),
    "soak_b": dict(keys=["k", "part"], on_equal="replace", soft=True, cols=["v", "n"]),
}

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
    def new_seq(self):
        r = self.r
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
        if table == "soak_a":
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
        d = {"v": "%s/%d" % (tag, seq), "n": r.randint(-(1 << 62), 1 << 62)}
        if table == "soak_a":
            d["j"] = r.choice([None, {"seq": seq, "tag": tag}, [1, "two", None], "s"])
        return d

    def make_call(self, txid, ci):
        """One call: (kind, table, messages, sql parts).  messages: list of
        dicts {a: 'u'|'d', key: [...], seq, data} in input order."""
        r = self.r
        table = "soak_a" if r.random() < 0.6 else "soak_b"
        n = self.batch_size()
        kinds = ["messages", "messages", "data", "delete"] + (["staging", "staging"] if table == "soak_a" else [])
        kind = r.choice(kinds)
        msgs = []
        if kind in ("data", "delete"):
            seq = self.new_seq()
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
                    k, seq = self.key(table), self.new_seq()
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
            cols = ["id", "v", "n", "j", "_sdc_sequence", "_sdc_deleted"]
            vals = []
            for m in msgs:
                d = m.get("data") or {}
                vals.append((m["key"][0], d.get("v"), d.get("n"), None if d.get("j") is None else json.dumps(d["j"]),
                             m["seq"], m["a"] == "d"))
            if self.r.random() < 0.5:
                with c.cursor() as cur:
                    with cur.copy("COPY soak_a_inbox (%s) FROM STDIN" % ", ".join(cols)) as cp:
                        for v in vals:
                            cp.write_row(v)
            else:
                ph = "(" + ", ".join(["%s"] * len(cols)) + ")"
                c.execute("INSERT INTO soak_a_inbox (%s) VALUES %s" % (", ".join(cols), ", ".join([ph] * len(vals))),
                          [x for v in vals for x in v])
            return None
        return [x[0] for x in rows]

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
                out = self.run_call(kind, table, msgs)
                if out is not None and len(out) != len(msgs):
                    self.soak.fail("writer %d: %d messages, %d output rows" % (self.sid, len(msgs), len(out)))
                if undo:
                    c.execute("ROLLBACK TO SAVEPOINT s")
                    st.add("calls_undone")
                    continue
                calls.append({"table": table, "kind": kind, "msgs": msgs})
            if rollback:
                phase = "rollback"
                c.execute("ROLLBACK")
                self.rolledback.append(txid)
                st.add("txns_rolled_back")
                return
            phase = "commit"
            c.execute("COMMIT")
        except CONN_LOST as e:
            if not isinstance(e, psycopg.errors.QueryCanceled) and (self.conn.closed or self.conn.broken):
                st.add("conn_lost")
                if phase == "commit":
                    self.indoubt.append({"txid": txid, "calls": calls})
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
        # committed: log it
        self.log.write(json.dumps({"txid": txid, "calls": calls}) + "\n")
        self.log.flush()
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
        self.writers = [Writer(self, i) for i in range(a.sessions)]
        t0 = now()
        for w in self.writers:
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
        elapsed = now() - t0
        self.stop.set()
        if crasher:
            crasher.join(timeout=300)
        if feed:
            feed.finish.set()
            feed.join(timeout=600)
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
        for w in self.writers:
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
        for w in self.writers:
            for t in w.indoubt:
                indoubt_ids.add(t["txid"])
                if t["txid"] in present:
                    txns.append(t)
                    indoubt_in += 1
                else:
                    indoubt_out += 1
        rolled = {x for w in self.writers for x in w.rolledback}
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
        """table -> key tuple -> (seq, action, data); max seq per table."""
        best = {t: {} for t in TABLES}
        maxseq = {t: None for t in TABLES}
        for tx in txns:
            for ci, call in enumerate(tx["calls"]):
                table = call["table"]
                replace = TABLES[table]["on_equal"] == "replace"
                b = best[table]
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
        return best, maxseq

    def check(self, elapsed, feed, crasher):
        a = self.args
        st = self.stats
        conn = psycopg.connect(dbname=self.dbname, autocommit=True)
        txns = self.committed_log(conn)
        best, maxseq = self.reference(txns)
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
            for k, s in state.items():
                row = actual.get(k)
                if row is not None and s != (row[0], row[2]):
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
                    if row[0] != seq or row[2]:
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
                    ok = fseq == seq and not fdel and rec is not None and \
                        {c: rec.get(c) for c in meta["cols"]} == {c: data.get(c) for c in meta["cols"]}
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
        print("  final: soak_a %d rows %d tombstones (%d key state rows), soak_b %d rows %d tombstones "
              "(%d key state rows)" %
              (st.get("rows_soak_a"), st.get("tombstones_soak_a"), st.get("state_rows_soak_a"),
               st.get("rows_soak_b"), st.get("tombstones_soak_b"), st.get("state_rows_soak_b")))
        if feed:
            print("  feed: %d reads, %d changes received, %d reconnects" % (feed.reads, feed.changes,
                                                                           st.get("feed_reconnects")))
        print("  amcheck: %s" % amcheck)
        print("  mismatches %d, deadlocks %d, unexpected errors %d" %
              (mismatches, st.get("deadlocks"), st.get("unexpected_errors")))
        for k, v in sorted(st.errors.items()):
            print("    error x%d: %s" % (v, k))
        print("RESULT: %s" % ("FAIL" if self.failures else "PASS"))

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
    ap.add_argument("--duration", type=float, default=0, help="stop starting transactions after this many seconds")
    ap.add_argument("--db", default="pg_sequenced_soak")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-feed", action="store_true")
    ap.add_argument("--logdir", default=None, help="client log of committed messages (default: a temp dir)")
    ap.add_argument("--crash", choices=["immediate", "kill9", "both"])
    ap.add_argument("--crash-rounds", type=int, default=2)
    ap.add_argument("--crash-interval", type=float, default=20)
    ap.add_argument("--reconnect-timeout", type=float, default=180)
    ap.add_argument("--pgdata", default=os.environ.get("PGTMP_DATA"))
    ap.add_argument("--pglog", default=os.environ.get("PGTMP_LOG"))
    ap.add_argument("--bindir", default=None)
    a = ap.parse_args()
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
