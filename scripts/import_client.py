#!/usr/bin/python3
"""scripts/import_client.py: a client of sequenced_import (SPEC section 5).

    import_client.py [--dsn DSN] [--quiet] FILE        (FILE "-": standard input)

FILE holds newline-delimited batch bodies, one JSON object per line, as a
hosted import API receives them:

    {"table_name": ..., "key_names": [...], "schema": {...}, "messages": [...]}

Each batch is sent to sequenced_import(batch) in its own transaction, so a
batch that fails leaves nothing behind and does not stop the next one.  One
line per batch on standard output:

    batch 1 (line 1) customers: 3 messages: inserted=2 superseded=1
    batch 4 (line 4) customers: ERROR 42804: property "name" of table ...

then a summary line.  On standard error, while it runs and only when
standard error is a terminal, one line updated in place (carriage return)
shows the batches sent, messages per second and the outcomes so far
(--quiet: not that line); at the end, always, one plain line totals the run:

    import_client: 7 batches sent (5 applied, 2 failed), 17 messages (15 applied) in 0.02 s, 850 messages/s: inserted=7 updated=1 deleted=1 stale=3 superseded=3

(messages: those in the batch bodies sent, failed batches included; the
outcomes, every word the server returned with its count, cover the applied
batches, and add up to their messages).  Exit status: 0 when every batch
was applied, 1 when at least one failed, 2 when the file or the server
cannot be used.

The connection comes from --dsn, else from the libpq environment (PGHOST,
PGPORT, PGUSER, PGDATABASE, ...).  Needs psycopg 3 (Debian: python3-psycopg).
"""

import argparse
import json
import os
import sys
import time

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


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def outcome_words(counts):
    """word=count for every outcome, the usual ones in their usual order first."""
    parts = ["%s=%d" % (o, counts[o]) for o in OUTCOMES if counts.get(o)]
    parts += ["%s=%d" % (o, n) for o, n in sorted(counts.items()) if o not in OUTCOMES and n]
    return " ".join(parts) if parts else "none"


class Progress:
    """The run's totals; on a terminal, one line on stderr updated in place."""

    INTERVAL = 0.1      # seconds between redraws

    def __init__(self, err=None, out=None, live=None):
        self.err = err if err is not None else sys.stderr
        self.live = _isatty(self.err) if live is None else live
        # when the per-batch lines go to the same terminal, the progress line
        # is taken away before each of them and drawn again after
        self.shares = self.live and out is not None and _isatty(out)
        self.start = time.monotonic()
        self.batches = self.applied = self.failed = 0
        self.messages = self.applied_messages = 0
        self.counts = {}
        self.drawn = 0          # length of the line on screen, 0: none
        self.last = None

    def batch(self, body, counts=None):
        """One batch sent: counts is {outcome: n} when it was applied, None when it failed."""
        self.batches += 1
        msgs = body.get("messages") if isinstance(body, dict) else None
        self.messages += len(msgs) if isinstance(msgs, list) else 0
        if counts is None:
            self.failed += 1
            return
        self.applied += 1
        for o, n in counts.items():
            o = "unknown" if o is None else str(o)
            self.counts[o] = self.counts.get(o, 0) + n
            self.applied_messages += n

    def rate(self):
        secs = time.monotonic() - self.start
        return secs, (self.messages / secs if secs > 0 else 0.0)

    def clear(self):
        if self.drawn:
            self.err.write("\r" + " " * self.drawn + "\r")
            self.err.flush()
            self.drawn = 0

    def draw(self):
        if not self.live:
            return
        now = time.monotonic()
        if not self.shares and self.last is not None and now - self.last < self.INTERVAL:
            return
        self.last = now
        secs, rate = self.rate()
        line = "import_client: %d batch%s sent (%d failed), %d message%s, %.0f messages/s: %s" % (
            self.batches, "" if self.batches == 1 else "es", self.failed,
            self.messages, "" if self.messages == 1 else "s", rate, outcome_words(self.counts))
        try:
            width = os.get_terminal_size(self.err.fileno()).columns
        except (AttributeError, ValueError, OSError):
            width = 0
        if width < 20:          # unknown (a pty without a size says 0)
            width = 80
        line = line[:max(10, width - 1)]       # never wrap: \r only returns within one row
        self.err.write("\r" + line + " " * max(0, self.drawn - len(line)))
        self.err.flush()
        self.drawn = len(line)

    def summary(self):
        """The plain last line, always printed."""
        self.clear()
        secs, rate = self.rate()
        return "import_client: %d batch%s sent (%d applied, %d failed), %d message%s (%d applied) in %.2f s, %.0f messages/s: %s" % (
            self.batches, "" if self.batches == 1 else "es", self.applied, self.failed,
            self.messages, "" if self.messages == 1 else "s", self.applied_messages, secs, rate,
            outcome_words(self.counts))


def run(conn, f, out, progress=None):
    if progress is None:
        progress = Progress(out=out, live=False)     # totals only
    batches = applied = failed = 0

    def say(line):
        if progress.shares:
            progress.clear()
        print(line, file=out)

    for lineno, text, body, problem in read_batches(f):
        batches += 1
        table = body.get("table_name") if body else None
        label = "batch %d (line %d) %s" % (batches, lineno, table if isinstance(table, str) else "?")
        if problem:
            failed += 1
            progress.batch(body)
            say("%s: ERROR client: %s" % (label, problem))
            progress.draw()
            continue
        try:
            with conn.transaction():
                rows = conn.execute(QUERY, (text,)).fetchall()
        except psycopg.errors.Error as e:
            if conn.closed or conn.broken:
                raise
            failed += 1
            progress.batch(body)
            msg = e.diag.message_primary or str(e).strip()
            say("%s: ERROR %s: %s" % (label, e.sqlstate or "?", msg))
            progress.draw()
            continue
        applied += 1
        counts = {o: n for o, n in rows}
        progress.batch(body, counts)
        say("%s: %s" % (label, describe(counts)))
        progress.draw()
    say("batches: %d, applied: %d, failed: %d" % (batches, applied, failed))
    return failed


def main(argv=None):
    ap = argparse.ArgumentParser(description="Send newline-delimited import batches to sequenced_import.")
    ap.add_argument("file", help='file of batch bodies, one JSON object per line ("-": stdin)')
    ap.add_argument("--dsn", default="", help="libpq connection string (default: the PG* environment)")
    ap.add_argument("--quiet", "-q", action="store_true",
                    help="no progress line on a terminal (the summary line is still printed)")
    args = ap.parse_args(argv)

    try:
        f = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as e:
        print("import_client: %s" % e, file=sys.stderr)
        return 2
    progress = None
    try:
        with f, psycopg.connect(args.dsn, autocommit=True) as conn:
            progress = Progress(out=sys.stdout, live=False if args.quiet else None)
            failed = run(conn, f, sys.stdout, progress)
        status = 1 if failed else 0
    except psycopg.Error as e:
        if progress is not None:
            progress.clear()
        print("import_client: %s" % str(e).strip(), file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        print("import_client: interrupted (the batch in progress was rolled back)", file=sys.stderr)
        status = 130
    sys.stdout.flush()
    if progress is not None:
        # the totals of what was sent, after a broken connection too
        print(progress.summary(), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
