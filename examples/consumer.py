#!/usr/bin/env python3
"""A pg_sequenced consumer worker (SPEC section 8), with psycopg 3.

It keeps a mirror table equal to a registered table: it receives a batch
of changes, then acknowledges them and applies them to the mirror in one
transaction, so a crash or an error takes the work and the acknowledgement
back together and the changes come again (after the visibility timeout, or
the nack's retry_after) -- each one is applied exactly once.  Run as many
workers of one consumer as you like: they never get the same key at once.

    CONSUMER=mirror SOURCE=customers MIRROR=customers_mirror python3 consumer.py

The mirror needs the source's columns (or some of them) and the same key;
the connection comes from the usual PG* environment variables.

Options (environment):
    CONSUMER      the consumer (made with sequenced_consumer_create)
    MIRROR        the table to keep; KEY its key column (default id)
    BATCH         changes per transaction (default 100)
    WAIT          seconds a receive waits for a change (default 5)
    IDLE_EXIT     exit after that many seconds without a change (default:
                  run for ever)
    RETRY_AFTER   when a batch fails: seconds before it comes again
                  (default 10; the error is printed)
"""
import os
import sys
import time

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb


class Stale(Exception):
    pass


def apply(cur, mirror, key, deleted, record, key_json):
    """One change: the key's current row, or its delete."""
    if deleted:
        cur.execute(
            sql.SQL("DELETE FROM {m} WHERE {k} = "
                    "(pg_catalog.jsonb_populate_record(NULL::{m}, %s)).{k}").format(m=mirror, k=key),
            (Jsonb(key_json),))
        return
    # the row as the source holds it, by column name (columns the mirror
    # lacks are left out)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in mirror_columns(cur, mirror))
    excluded = sql.SQL(", ").join(sql.SQL("EXCLUDED.") + sql.Identifier(c)
                                  for c in mirror_columns(cur, mirror))
    cur.execute(
        sql.SQL("INSERT INTO {m} SELECT * FROM pg_catalog.jsonb_populate_record(NULL::{m}, %s) "
                "ON CONFLICT ({k}) DO UPDATE SET ({cols}) = ROW({excluded})").format(
            m=mirror, k=key, cols=cols, excluded=excluded),
        (Jsonb(record),))


_columns = {}


def mirror_columns(cur, mirror):
    name = mirror.as_string(cur)
    if name not in _columns:
        cur.execute("SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (name,))
        _columns[name] = [r[0] for r in cur.fetchall()]
    return _columns[name]


def main():
    consumer = os.environ.get("CONSUMER", "mirror")
    mirror = sql.Identifier(*os.environ.get("MIRROR", "mirror").split("."))
    key = sql.Identifier(os.environ.get("KEY", "id"))
    batch = int(os.environ.get("BATCH", "100"))
    wait = float(os.environ.get("WAIT", "5"))
    idle_exit = os.environ.get("IDLE_EXIT")
    retry_after = float(os.environ.get("RETRY_AFTER", "10"))
    applied = 0
    idle_since = time.monotonic()

    with psycopg.connect("", autocommit=True) as conn:
        while True:
            # hand me a batch: its keys are mine for the visibility timeout
            # (a receive of its own: were it rolled back, its keys would be
            # handed out again at once, and its deliveries not counted)
            rows = conn.execute(
                "SELECT ack_id, key, deleted, record "
                "FROM sequenced_receive(%s, %s, make_interval(secs => %s))",
                (consumer, batch, wait)).fetchall()
            if not rows:
                if idle_exit is not None and time.monotonic() - idle_since >= float(idle_exit):
                    break
                continue
            idle_since = time.monotonic()
            ack_ids = [r[0] for r in rows]
            try:
                # the acknowledgement and the work commit together, or not at all
                with conn.transaction():
                    with conn.cursor() as cur:
                        # first: a delivery that expired and went to another
                        # worker is not acknowledged -- then the batch is not
                        # ours to apply; and once acknowledged (not yet
                        # committed) no other worker can be handed it
                        cur.execute("SELECT sequenced_ack(%s, %s)", (consumer, ack_ids))
                        if cur.fetchone()[0] != len(ack_ids):
                            raise Stale("some deliveries expired and went to another worker")
                        for ack_id, key_json, deleted, record in rows:
                            apply(cur, mirror, key, deleted, record, key_json)
                applied += len(rows)
            except (psycopg.Error, Stale) as e:
                # rolled back: have the batch come again later
                print(f"consumer.py: batch failed: {e}", file=sys.stderr)
                conn.execute("SELECT sequenced_nack(%s, %s, make_interval(secs => %s))",
                             (consumer, ack_ids, retry_after))
    print(f"consumer.py: {applied} changes applied", file=sys.stderr)


if __name__ == "__main__":
    main()
