#!/usr/bin/python3
"""scripts/import_client.py: a client of sequenced_import (SPEC section 5).

    import_client.py [--dsn DSN] FILE        (FILE "-": standard input)

FILE holds newline-delimited batch bodies, one JSON object per line, as a
hosted import API receives them:

    {"table_name": ..., "key_names": [...], "schema": {...}, "messages": [...]}

Each batch is sent to sequenced_import(batch) in its own transaction, so a
batch that fails leaves nothing behind and does not stop the next one.  One
line per batch on standard output:

    batch 1 (line 1) customers: 3 messages: inserted=2 superseded=1
    batch 4 (line 4) customers: ERROR 42804: property "name" of table ...

then a summary line.  Exit status: 0 when every batch was applied, 1 when
at least one failed, 2 when the file or the server cannot be used.

The connection comes from --dsn, else from the libpq environment (PGHOST,
PGPORT, PGUSER, PGDATABASE, ...).  Needs psycopg 3 (Debian: python3-psycopg).
"""

import argparse
import json
import sys

import psycopg

OUTCOMES = ("inserted", "updated", "deleted", "stale", "superseded")

# One round trip per batch; the body goes as a parameter, never into the SQL.
QUERY = "SELECT outcome, count(*) FROM sequenced_import(%s::jsonb) GROUP BY outcome"


def read_batches(f):
    """(line number, text, parsed body or None, parse error or None) per non-blank line."""
    for lineno, line in enumerate(f, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            body = json.loads(text)
        except ValueError as e:
            yield lineno, text, None, "line is not JSON: %s" % e
            continue
        if not isinstance(body, dict):
            yield lineno, text, None, "line is not a JSON object"
            continue
        yield lineno, text, body, None


def describe(counts):
    total = sum(counts.values())
    parts = ["%s=%d" % (o, counts[o]) for o in OUTCOMES if counts.get(o)]
    parts += ["%s=%d" % (o, n) for o, n in sorted(counts.items()) if o not in OUTCOMES]
    return "%d message%s: %s" % (total, "" if total == 1 else "s", " ".join(parts))


def run(conn, f, out):
    batches = applied = failed = 0
    for lineno, text, body, problem in read_batches(f):
        batches += 1
        table = body.get("table_name") if body else None
        label = "batch %d (line %d) %s" % (batches, lineno, table if isinstance(table, str) else "?")
        if problem:
            failed += 1
            print("%s: ERROR client: %s" % (label, problem), file=out)
            continue
        try:
            with conn.transaction():
                rows = conn.execute(QUERY, (text,)).fetchall()
        except psycopg.errors.Error as e:
            if conn.closed or conn.broken:
                raise
            failed += 1
            msg = e.diag.message_primary or str(e).strip()
            print("%s: ERROR %s: %s" % (label, e.sqlstate or "?", msg), file=out)
            continue
        applied += 1
        print("%s: %s" % (label, describe({o: n for o, n in rows})), file=out)
    print("batches: %d, applied: %d, failed: %d" % (batches, applied, failed), file=out)
    return failed


def main(argv=None):
    ap = argparse.ArgumentParser(description="Send newline-delimited import batches to sequenced_import.")
    ap.add_argument("file", help='file of batch bodies, one JSON object per line ("-": stdin)')
    ap.add_argument("--dsn", default="", help="libpq connection string (default: the PG* environment)")
    args = ap.parse_args(argv)

    try:
        f = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as e:
        print("import_client: %s" % e, file=sys.stderr)
        return 2
    try:
        with f, psycopg.connect(args.dsn, autocommit=True) as conn:
            failed = run(conn, f, sys.stdout)
    except psycopg.Error as e:
        print("import_client: %s" % str(e).strip(), file=sys.stderr)
        return 2
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
