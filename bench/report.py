#!/usr/bin/env python3
"""Turn one bench/run.sh run (its work directory) into RESULTS.md."""
import csv
import json
import os
import re
import statistics
import sys

work, out = sys.argv[1], sys.argv[2]

meta = {}
with open(os.path.join(work, "meta.txt")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v

rows = []
with open(os.path.join(work, "results.csv")) as f:
    for r in csv.DictReader(f):
        try:
            r["extra"] = json.loads(r.get("extra") or "null") or {}
        except ValueError:
            r["extra"] = {}
        rows.append(r)

# best (highest) rate per cell over the repetitions; ok only if every rep was
cells = {}
failures = []
for r in rows:
    key = (r["profile"], r["approach"], int(r["bsize"]), int(r["pass"]))
    secs = float(r["seconds"])
    rate = int(r["messages"]) / secs if secs > 0 else 0.0
    c = cells.setdefault(key, {"rate": 0.0, "ok": True, "n": 0, "messages": int(r["messages"]), "secs": secs})
    if rate > c["rate"]:
        c["rate"], c["secs"] = rate, secs
    c["n"] += 1
    if (r.get("note") or "").startswith("partial"):
        c["partial"] = True
    if r["ok"] == "f":
        c["ok"] = False
        failures.append((key, r["rep"], r["note"]))

with open(os.path.join(work, "verdict.txt"), "w") as f:
    f.write("failed=%d\n" % (1 if failures else 0))


def fmt(x):
    if x is None:
        return "–"
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    return "%.1fk" % (x / 1e3)


def rate(prof, app, b, p):
    c = cells.get((prof, app, b, p))
    if not c:
        return None
    return c["rate"]


def mark(prof, app, b, p):
    c = cells.get((prof, app, b, p))
    if c is None:
        return "–"
    return fmt(c["rate"]) + ("" if c["ok"] else " ✗") + (" †" if c.get("partial") else "")


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def rfmt(x):
    return "–" if x is None else "%.2f×" % x


N = int(meta.get("messages", "0"))
B1 = int(meta.get("b1_limit", "0"))
PLAIN = [("on_conflict", "ON CONFLICT"), ("merge", "MERGE"), ("plpgsql_row", "PL/pgSQL row")]
L = []
w = L.append

w("# pg_sequenced benchmark results")
w("")
w("Written by `bench/run.sh` (see `bench/README.md`). Messages per second, "
  "server-side loop, one transaction per batch; the best of %s repetition(s) per cell "
  "for fsync off, one for fsync on; pass 2 (which changes nothing) runs up to %s times "
  "per approach, the approaches interleaved, and the best run counts (an approach whose "
  "run took over 15 s is not run again). **Ratio** = `sequenced_upsert` ÷ the best "
  "plain-SQL approach (ON CONFLICT, MERGE, PL/pgSQL row) of the same cell; every approach "
  "was measured in the same run on the same server."
  % (meta.get("reps", "?"), meta.get("replays", "1")))
w("")
if failures:
    w("## ✗ FAILED RUN: final tables differ from the reference")
    w("")
    for key, rep, note in failures:
        w("- %s %s B=%d pass %d (rep %s): %s" % (key[0], key[1], key[2], key[3], rep, note))
    w("")
else:
    nchecked = sum(1 for r in rows if r["ok"] == "t")
    w("Correctness: all %d checked final tables (md5 of the ordered rows id, name, age, "
      "has_magic, _sdc_sequence) equal the reference `DISTINCT ON (id) … ORDER BY id, "
      "sequence DESC, position`%s." % (nchecked, "" if not any(r["profile"] in ("rescan", "history") for r in rows)
                                       else "; the rescan tables the reference of their snapshot, the history "
                                            "table the reference history, `sequenced_as_of` the newest version "
                                            "at or before its sequence"))
    w("")

w("Run: %s; %s; git %s; pg_sequenced.so md5 %s (built %s)%s; %s CPUs; load average at start %s, at end %s; "
  "%s s in all (fsync off %s s, fsync on %s s)."
  % (meta.get("started"), meta.get("pg"), meta.get("git"), meta.get("so_md5_start"), meta.get("so_mtime"),
     "" if meta.get("so_md5_start") == meta.get("so_md5_end")
     else " — **the .so was reinstalled during the run (now %s): numbers may mix builds**" % meta.get("so_md5_end"),
     meta.get("cpus"), meta.get("load_start"), meta.get("load_end"), meta.get("seconds_total"),
     meta.get("seconds_fsync_off"), meta.get("seconds_fsync_on", "–")))
w("")
w("Dataset: %s messages over %s ids; %s exact duplicates (each inside its batch of 100 and of 10,000); "
  "%s messages (%.1f%%) older than one already seen for their id; %s ties (same id and sequence, "
  "other data; the first in the stream wins). B=1 uses the first %s messages. "
  "Final rows: %s (B=1: %s)."
  % (meta.get("messages"), meta.get("ids"), meta.get("exact_duplicates"), meta.get("older_than_seen"),
     100.0 * int(meta.get("older_than_seen", 0)) / max(1, N), meta.get("ties"), B1,
     meta.get("ref_rows_%d" % N, "?"), meta.get("ref_rows_%d" % B1, "?")))
w("")


def main_table(prof, sizes, passes):
    w("| B | pass | sequenced_upsert | ON CONFLICT | MERGE | PL/pgSQL row | best plain | **ratio** |")
    w("|---:|---:|---:|---:|---:|---:|---|---:|")
    for b in sizes:
        for p in passes:
            s = rate(prof, "sequenced_upsert", b, p)
            if s is None:
                continue
            best = max(((rate(prof, a, b, p) or 0.0, label) for a, label in PLAIN))
            w("| %s | %d | %s | %s | %s | %s | %s | **%s** |"
              % ("{:,}".format(b), p, mark(prof, "sequenced_upsert", b, p),
                 *(mark(prof, a, b, p) for a, _ in PLAIN), best[1], rfmt(ratio(s, best[0]))))
    w("")


def staging_table(prof, sizes, passes):
    w("| B (rows per COPY) | pass | apply_staging ('keep') | plain-SQL trigger | **ratio** | apply_staging (default: delete staged rows) | ratio |")
    w("|---:|---:|---:|---:|---:|---:|---:|")
    for b in sizes:
        for p in passes:
            s = rate(prof, "staging_sequenced", b, p)
            pl = rate(prof, "staging_plain", b, p)
            d = rate(prof, "staging_sequenced_delete", b, p)
            if s is None:
                continue
            w("| %s | %d | %s | %s | **%s** | %s | %s |"
              % ("{:,}".format(b), p, mark(prof, "staging_sequenced", b, p), mark(prof, "staging_plain", b, p),
                 rfmt(ratio(s, pl)), mark(prof, "staging_sequenced_delete", b, p), rfmt(ratio(d, pl))))
    w("")


# ------------------------------------------------------------ headline
w("## Headline: ratios against the targets (fsync off)")
w("")
w("| cell | pg_sequenced | best plain SQL | ratio | target |")
w("|---|---:|---:|---:|---|")


def target_line(label, s, pl, need):
    if s is None and pl is None:
        return  # not measured in this run (BENCH_CORE=0, BENCH_RESCAN=0, ...)
    r = ratio(s, pl)
    ok = r is not None and r >= need
    w("| %s | %s | %s | %s | ≥ %.1f× %s |" % (label, fmt(s), fmt(pl), rfmt(r), need, "✓" if ok else "✗ not met"))


def best_plain(prof, b, p):
    v = [rate(prof, a, b, p) for a, _ in PLAIN]
    v = [x for x in v if x is not None]
    return max(v) if v else None


for b, p, need in [(10000, 1, 2.0), (10000, 2, 3.0), (100, 1, 2.0), (100, 2, 2.0), (1, 1, 1.5), (1, 2, 1.5)]:
    target_line("B=%s, pass %d%s" % ("{:,}".format(b), p, " (all stale)" if p == 2 else ""),
                rate("fsync_off", "sequenced_upsert", b, p), best_plain("fsync_off", b, p), need)
for b in (10000, N):
    for p in (1, 2):
        target_line("staging, %s rows per COPY, pass %d (vs plain trigger)" % ("{:,}".format(b), p),
                    rate("fsync_off", "staging_sequenced", b, p), rate("fsync_off", "staging_plain", b, p), 1.5)

# the rescan and history cells (their own sections below)
RS_PLAIN = [("rescan_plain_skip", "ON CONFLICT … WHERE IS DISTINCT FROM + keys staged, anti-join DELETE"),
            ("rescan_plain_write", "ON CONFLICT (every row rewritten) + DELETE … WHERE _sdc_sequence < S")]
HS_PLAIN = [("hist_plain_before", "BEFORE row trigger, history indexed (id, valid_from)"),
            ("hist_plain_after", "AFTER row trigger, history indexed (id, valid_from)"),
            ("hist_plain_noidx", "BEFORE row trigger, history without index")]
rs_rows = [r for r in rows if r["profile"] == "rescan" and r["approach"] != "setup"]
rs_b = max([int(r["bsize"]) for r in rs_rows] or [0])
hs_rows = [r for r in rows if r["profile"] == "history" and r["approach"].startswith("hist_")]
hs_b = max([int(r["bsize"]) for r in hs_rows] or [0])


def best_of(prof, apps, b):
    v = [(rate(prof, a, b, 1), a) for a in apps]
    v = [x for x in v if x[0] is not None]
    return max(v) if v else (None, None)


rs_rows_total = meta.get("rescan_rows")
if rs_rows:
    target_line("rescan of %s keys (1%% changed, 0.5%% gone) in pages of %s: `unchanged => 'skip'` + "
                "`sequenced_delete_missing` (vs best plain)" % ("{:,}".format(int(rs_rows_total or 0)), "{:,}".format(rs_b)),
                rate("rescan", "rescan_seq_skip", rs_b, 1), best_of("rescan", [a for a, _ in RS_PLAIN], rs_b)[0], 3.0)
    # WAL per rescan (mean over the rescans) against the same plain approach
    _pl_app = best_of("rescan", [a for a, _ in RS_PLAIN], rs_b)[1]
    _wal = {}
    for _a in ("rescan_seq_skip", _pl_app):
        _v = [r["extra"].get("wal_bytes") for r in rs_rows if r["approach"] == _a]
        _v = [x for x in _v if x is not None]
        _wal[_a] = sum(_v) / len(_v) if _v else None
    _r = ratio(_wal.get("rescan_seq_skip"), _wal.get(_pl_app))
    if _r is not None:
        w("| the same rescan: WAL per rescan, `'skip'` ÷ that plain SQL's (%s) | %.1f MB | %.1f MB | %s | ≤ 0.33× %s |"
          % (_pl_app, _wal["rescan_seq_skip"] / 1048576.0, _wal[_pl_app] / 1048576.0, rfmt(_r),
             "✓" if _r <= 1 / 3.0 else "✗ not met"))
if hs_rows:
    target_line("history: pass 1, B=%s, `history => true` (vs best plain history trigger)" % "{:,}".format(hs_b),
                rate("history", "hist_seq_history", hs_b, 1), best_of("history", [a for a, _ in HS_PLAIN], hs_b)[0], 1.5)
    _h, _n = rate("history", "hist_seq_history", hs_b, 1), rate("history", "hist_seq", hs_b, 1)
    if _h and _n:
        w("| the cost of history: `history => true` ÷ pg_sequenced without history, same cell | %s | (without) %s | %s | reported |"
          % (fmt(_h), fmt(_n), rfmt(ratio(_h, _n))))
w("")

# ------------------------------------------------------------ fsync off
if any(c.get("partial") for c in cells.values()):
    w("† partial cell: the timed loop hit the time cap (`BENCH_MAX_SECS`) and stopped early; its rate "
      "covers the batches it applied, and its check compares with the reference of that prefix.")
    w("")
w("## fsync off (headline profile)")
w("")
w("`shared_buffers=1GB, max_wal_size=16GB, checkpoint_timeout=1h, jit=off, autovacuum_naptime=1s (autovacuum on), "
  "fsync=off, synchronous_commit=off, full_page_writes=off`%s" % (
      ". The rescan and history sections below ran on this server too." if meta.get("core") == "0" else
      ". Pass 1: empty target; pass 2: the same batches again (every message stale), after a `VACUUM ANALYZE` "
      "of everything. ✗ marks a final table that differs from the reference."))
w("")
if meta.get("core") == "0":
    w("The standard cells were not run (`BENCH_CORE=0`).")
    w("")
else:
    main_table("fsync_off", [1, 100, 10000], [1, 2])
    w("Staging: one `COPY` (one transaction) per batch file into a staging table whose statement "
      "trigger applies the transition table. Ratio = `sequenced_apply_staging` ÷ the plain-SQL trigger "
      "(which keeps the staged rows; so does `'keep'`).")
    w("")
    staging_table("fsync_off", [1, 100, 10000, N], [1, 2])
cf = cells.get(("fsync_off", "copy_final_rows", 0, 1))
cu = rate("fsync_off", "copy_unindexed", N, 1)
if cf or cu:
    w("Write limits (one COPY, one transaction):")
    w("")
if cf:
    w("- COPY of the %s final rows into an empty table with the primary key: %s rows/s "
      "(%.3f s, i.e. %s of the %s messages per second)%s."
      % ("{:,}".format(cf["messages"]), fmt(cf["rate"]), cf["secs"], fmt(N / cf["secs"]),
         "{:,}".format(N), "" if cf["ok"] else " ✗ table differs"))
    s = rate("fsync_off", "sequenced_upsert", 10000, 1)
    if s:
        w("- `sequenced_upsert` at B=10,000 pass 1 reaches %.0f%% of that rows/s figure "
          "(messages/s ÷ final rows/s)." % (100.0 * s / cf["rate"]))
if cu:
    w("- COPY of all %s messages into an unindexed table without trigger: %s rows/s." % ("{:,}".format(N), fmt(cu)))
w("")

# ------------------------------------------------------------ rescans


def mb(x):
    return "–" if x is None else "%.1f MB" % (x / 1048576.0)


def mean(v):
    v = [x for x in v if x is not None]
    return sum(v) / len(v) if v else None


if rs_rows:
    stats = {}
    sp = os.path.join(work, "rescan_stats.csv")
    if os.path.exists(sp):
        with open(sp) as f:
            for r in csv.DictReader(f):
                stats[int(r["k"])] = r
    ks = sorted({int(r["rep"]) for r in rs_rows})
    w("## Rescans (issue 19)")
    w("")
    w("A table of %s keys `(id int PRIMARY KEY, name text, age int, has_magic boolean)` plus its sequence, "
      "loaded once (untimed: the registered tables through `sequenced_upsert`, page by page; the plain ones by "
      "one INSERT), then %d rescans. Rescan *k* is a full snapshot at a new sequence S: every key not gone, "
      "in key order, in pages of %s records (one jsonb array each, `sequenced_upsert(t, page, S)` or "
      "`jsonb_array_elements`), one transaction per page, then the delete step in one more transaction. "
      "Each rescan finds 1%% of the keys changed (all three columns) and 0.5%% gone (fixed hashes of the "
      "key). **records/s** = the snapshot's records ÷ the time of its pages and its delete step. Before each "
      "rescan of each approach, `VACUUM ANALYZE` of the rescan tables and pg_sequenced's internal ones (what "
      "autovacuum would have done between two rescans; no approach's WAL counts another's vacuum) and a "
      "`CHECKPOINT`; the approaches' order rotates from one rescan to the next. Every final table is compared with the reference of its "
      "snapshot (md5 of the ordered rows): the `'skip'` table and plain SQL that skips unchanged rows keep "
      "the sequence of the rescan that wrote each row's version, the others carry S in every row."
      % ("{:,}".format(int(rs_rows_total or 0)), len(ks), "{:,}".format(rs_b)))
    w("")
    w("- **`unchanged => 'skip'` + `sequenced_delete_missing(t, S, max_fraction => 0.01)`**: an unchanged "
      "record writes no row version and gets no feed position (the key's state still advances to S); "
      "the delete step runs the circuit breaker (missing ≤ 1% of live), then deletes the missing keys "
      "as delete messages at S (tombstones, feed positions).")
    w("- **`unchanged => 'write'` + `sequenced_delete_missing`**: the same with every record written.")
    for a, label in RS_PLAIN:
        w("- **plain SQL, %s**%s" % (label, {
            "rescan_plain_skip": ": `INSERT … ON CONFLICT (id) DO UPDATE … WHERE t._sdc_sequence < "
                                 "EXCLUDED._sdc_sequence AND (t.name, t.age, t.has_magic) IS DISTINCT FROM "
                                 "(EXCLUDED.name, …)` (column-wise: `(t.*) IS DISTINCT FROM (EXCLUDED.*)` "
                                 "would always differ in the sequence), the page's keys inserted into an "
                                 "UNLOGGED, unindexed table by the same statement (a data-modifying CTE), then "
                                 "`DELETE … WHERE _sdc_sequence < S AND NOT EXISTS (… keys …)` and `TRUNCATE` "
                                 "of the keys. `DELETE … WHERE _sdc_sequence < S` alone would delete every "
                                 "unchanged row here, since those keep their old sequence.",
            "rescan_plain_write": ": `INSERT … ON CONFLICT (id) DO UPDATE … WHERE t._sdc_sequence < "
                                  "EXCLUDED._sdc_sequence` (every row rewritten with S), then `DELETE … "
                                  "WHERE _sdc_sequence < S`."}[a]))
    w("")
    w("Neither plain variant has a circuit breaker, tombstones or a changes feed.")
    w("")
    if stats:
        w("Snapshots: " + "; ".join("rescan %d: %s records, %s changed, %s gone" % (
            k, "{:,}".format(int(stats[k]["records"])), "{:,}".format(int(stats[k]["changed"])),
            "{:,}".format(int(stats[k]["gone"]))) for k in ks if k in stats) + ".")
        w("")
    best_pl, best_pl_app = best_of("rescan", [a for a, _ in RS_PLAIN], rs_b)

    def runs_of(a):
        return [r for r in rs_rows if r["approach"] == a and float(r["seconds"]) > 0]

    def wal_mean(a):
        return mean([r["extra"].get("wal_bytes") for r in runs_of(a)])

    w("| approach | records/s (best of %d) | **ratio** to best plain SQL | WAL per rescan (mean) | WAL ÷ plain skip-unchanged's | WAL ÷ plain write-all's | feed positions per rescan (mean) | rows written per rescan (mean) |" % len(ks))
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    wp_skip, wp_write = wal_mean("rescan_plain_skip"), wal_mean("rescan_plain_write")
    for a, label in [("rescan_seq_skip", "pg_sequenced, `unchanged => 'skip'`"),
                     ("rescan_seq_write", "pg_sequenced, `unchanged => 'write'`"),
                     ("rescan_plain_skip", "plain SQL, skip unchanged + anti-join"),
                     ("rescan_plain_write", "plain SQL, write all + `_sdc_sequence < S`")]:
        rr = runs_of(a)
        if not rr and (("rescan", a, rs_b, 1) not in cells):
            continue
        wa = wal_mean(a)
        pos = mean([r["extra"].get("positions") for r in rr])
        wr = mean([r["extra"].get("written") for r in rr])
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label + (" (best plain)" if a == best_pl_app else ""), mark("rescan", a, rs_b, 1),
            ("**%s**" % rfmt(ratio(rate("rescan", a, rs_b, 1), best_pl))) if a.startswith("rescan_seq") else "–",
            mb(wa), rfmt(ratio(wa, wp_skip)), rfmt(ratio(wa, wp_write)),
            "–" if pos is None else "{:,.0f}".format(pos), "–" if wr is None else "{:,.0f}".format(wr)))
    w("")
    w("Targets (issue 19): `'skip'` ≥ 3× the best plain SQL; WAL per rescan ≤ 1/3 of plain SQL's. "
      "Feed positions should be about the real changes (changed + gone). WAL is "
      "`pg_current_wal_insert_lsn()` before and after (this profile: `full_page_writes = off`).")
    w("")
    w("Every rescan:")
    w("")
    w("| rescan | approach | records | records/s | pages s | delete step s | written | deleted | WAL | feed positions | check |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in sorted(rs_rows, key=lambda r: (int(r["rep"]), int(r["id"]))):
        e, secs = r["extra"], float(r["seconds"])
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["rep"], r["approach"], "{:,}".format(int(r["messages"])), fmt(int(r["messages"]) / secs) if secs > 0 else "–",
            "%.3f" % e["pages_seconds"] if "pages_seconds" in e else "–",
            "%.3f" % e["delete_seconds"] if "delete_seconds" in e else "–",
            "{:,}".format(e["written"]) if e.get("written") is not None else "–",
            "{:,}".format(e["deleted"]) if e.get("deleted") is not None else "–",
            mb(e.get("wal_bytes")), "{:,}".format(e["positions"]) if e.get("positions") is not None else "–",
            {"t": "ok", "f": "✗ differs"}.get(r["ok"], "–") + (" " + r["note"].replace("|", "\\|")[:200] if r.get("note") else "")))
    w("")

# ------------------------------------------------------------ history
if hs_rows:
    hreps = sorted({int(r["rep"]) for r in hs_rows})
    w("## History (issue 20)")
    w("")
    w("Pass 1 of the standard dataset (%s messages) at B=%s, one transaction per batch, into empty tables, "
      "the best of %d repetition(s) (approaches in rotating order): `sequenced_upsert` into a table registered "
      "with `history => true` (every message of a key with a distinct sequence becomes a version in "
      "`<table>_history`, late ones put in their place), the same without history, and the plain-SQL way "
      "history is built today: the main cells' `ON CONFLICT` statement into a table with a row trigger `UPDATE "
      "OR DELETE` copying the old row into a history table with its validity range [old sequence, new "
      "sequence) — the temporal-tables pattern. A trigger sees only the updates ON CONFLICT applies, so a late "
      "record never reaches its history (and the plain histories are not checked); pg_sequenced's history is "
      "checked against the reference (one version per id and sequence, the first message of it, valid until "
      "the id's next sequence)." % ("{:,}".format(N), "{:,}".format(hs_b), len(hreps)))
    w("")
    hs_best_pl, hs_best_app = best_of("history", [a for a, _ in HS_PLAIN], hs_b)
    hist = rate("history", "hist_seq_history", hs_b, 1)
    nohist = rate("history", "hist_seq", hs_b, 1)

    def hist_rows_of(a):
        v = [r["extra"].get("history_rows") for r in hs_rows if r["approach"] == a]
        v = [x for x in v if x is not None]
        return "{:,}".format(v[-1]) if v else "–"

    w("| approach | msg/s | `history => true` ÷ this | history rows |")
    w("|---|---:|---:|---:|")
    for a, label in [("hist_seq_history", "pg_sequenced, `history => true`"),
                     ("hist_seq", "pg_sequenced, no history")] + \
                    [(a, "plain SQL: ON CONFLICT + " + l) for a, l in HS_PLAIN]:
        if ("history", a, hs_b, 1) not in cells:
            continue
        w("| %s | %s | %s | %s |" % (label + (" (best plain)" if a == hs_best_app else ""),
                                     mark("history", a, hs_b, 1),
                                     "–" if a == "hist_seq_history" else
                                     ("**%s**" % rfmt(ratio(hist, rate("history", a, hs_b, 1)))),
                                     hist_rows_of(a)))
    w("")
    r1, r2 = ratio(hist, hs_best_pl), ratio(hist, nohist)
    w("- `history => true` ÷ the best plain history trigger: **%s** (target ≥ 1.5×: %s)."
      % (rfmt(r1), "✓" if r1 is not None and r1 >= 1.5 else "✗ not met"))
    if r2 is not None:
        w("- The cost of history: with ÷ without = **%s** (%.0f%% of the rate without it)." % (rfmt(r2), 100 * r2))
    if ("fsync_off", "sequenced_upsert", hs_b, 1) in cells:
        w("- For reference, the main cell `sequenced_upsert` B=%s pass 1 earlier in this run: %s."
          % ("{:,}".format(hs_b), fmt(rate("fsync_off", "sequenced_upsert", hs_b, 1))))
    w("")
    # the reads
    aso = [r for r in rows if r["profile"] == "history" and r["approach"] == "as_of" and float(r["seconds"]) > 0]
    asp = [r for r in rows if r["profile"] == "history" and r["approach"] == "as_of_plain" and float(r["seconds"]) > 0]
    one = [r for r in rows if r["profile"] == "history" and r["approach"] == "history_one_key" and float(r["seconds"]) > 0]
    if aso:
        e = aso[0]["extra"]
        ms = [1000 * float(r["seconds"]) for r in aso]
        w("### `sequenced_as_of` over the history")
        w("")
        w("After the loops (`VACUUM ANALYZE`, `CHECKPOINT`), on the history `history => true` made: %s versions "
          "(heap %s, indexes %s: the index on `(id, _sdc_valid_from)`)." % (
              "{:,}".format(int(e.get("versions", 0))), mb(e.get("history_bytes")), mb(e.get("history_index_bytes"))))
        w("")
        w("- `SELECT count(*) FROM sequenced_as_of(NULL::t, s)` for one point in time (s = %s, the median "
          "sequence of the messages): **%.1f ms** (best of %d: %s ms), %s rows; the answer %s the reference "
          "(newest version at or before s per id)." % (
              e.get("seq"), min(ms), len(ms), ", ".join("%.1f" % x for x in ms), "{:,}".format(int(aso[0]["messages"])),
              "equals" if all(r["ok"] == "t" for r in aso) else "**differs from**"))
        if asp:
            ep = asp[0]["extra"]
            pms = [1000 * float(r["seconds"]) for r in asp]
            w("- The same question to the plain BEFORE-trigger history (its table's rows with sequence ≤ s "
              "`UNION ALL` its history rows valid at s; %s history rows): %.1f ms (best of %d), %s rows, of "
              "which **%s differ from the reference** (%s) — the late records the trigger never saw." % (
                  "{:,}".format(int(ep.get("versions", 0))), min(pms), len(pms),
                  "{:,}".format(int(asp[0]["messages"])), "{:,}".format(int(ep.get("differ", 0))),
                  "ids missing, extra or with other values"))
        if one:
            oms = [1000 * float(r["seconds"]) for r in one]
            w("- `sequenced_history(t, '{\"id\": %s}')`, the key with the most versions (%s): %.2f ms (best of %d)%s."
              % (one[0]["extra"].get("id"), one[0]["messages"], min(oms), len(oms),
                 "" if all(r["ok"] == "t" for r in one) else " ✗ count differs"))
        w("")
        ep = os.path.join(work, "history_explain.txt")
        if os.path.exists(ep) and os.path.getsize(ep) > 0:
            w("What they read (`auto_explain` of the statements the two functions run, `log_analyze`, "
              "`log_buffers`): an all-keys question at one point in time reads the whole history (the "
              "index serves one key's versions):")
            w("")
            w("```")
            with open(ep) as f:
                w(f.read().rstrip())
            w("```")
            w("")

# ------------------------------------------------------------ fsync on
if any(k[0] == "fsync_on" for k in cells):
    w("## fsync on (smaller profile)")
    w("")
    w("Same settings with `fsync=on, synchronous_commit=on, full_page_writes=on`; pass 1 only, "
      "one repetition; B=1 over the first %s messages (every batch is a commit flush)." % B1)
    w("")
    main_table("fsync_on", [1, 100, 10000], [1])
    staging_table("fsync_on", [1, 100, 10000], [1])

# ------------------------------------------------------------ scaling
sp = os.path.join(work, "scaling.txt")
if os.path.exists(sp):
    sb = int(meta.get("scale_batch", "1000"))
    data = {}
    with open(sp) as f:
        for line in f:
            parts = line.split()
            # approach, clients, rep, tps[, autovacuum naptime: runs before it was recorded are "1s"]
            if len(parts) >= 4 and parts[3]:
                av = parts[4] if len(parts) > 4 else "1s"
                data.setdefault((av, parts[0], int(parts[1])), {})[int(parts[2])] = float(parts[3]) * sb
    w("## Concurrency: 2 sessions on disjoint keys vs 1")
    w("")
    w("pgbench (`-M prepared`, fsync off), each client applies its own batches of %d messages "
      "(client 0: ids ≤ %d, client 1: the rest; %s batches per client, one per transaction) to an empty "
      "table; `-c1` runs client 0 alone, `-c2` both at once. %s alternating repetitions; "
      "ratio = median over repetitions of (messages/s with 2 sessions ÷ with 1). Measured twice: "
      "under the profile's `autovacuum_naptime = 1s`, then under PostgreSQL's default `1min`. "
      "With `1s`, autovacuum works on the growing tables all through a run: a single session "
      "has it on the idle second core, two sessions share both cores with it."
      % (sb, int(meta.get("ids", "0")) // 2, meta.get("scale_batches_per_client"),
         meta.get("scale_reps", "3")))
    w("")
    w("| autovacuum_naptime | approach | 1 session msg/s (reps) | 2 sessions msg/s (reps) | **scaling** |")
    w("|---|---|---|---|---:|")
    for av, avlabel in (("1s", "1s (profile)"), ("default", "1min (default)")):
        for s, label in (("seq", "sequenced_upsert"), ("oc", "plain ON CONFLICT")):
            one, two = data.get((av, s, 1), {}), data.get((av, s, 2), {})
            if not one and not two:
                continue
            rs = [two[r] / one[r] for r in one if r in two and one[r] > 0]
            w("| %s | %s | %s | %s | **%s** |" % (
                avlabel, label, ", ".join(fmt(one[r]) for r in sorted(one)),
                ", ".join(fmt(two[r]) for r in sorted(two)),
                rfmt(statistics.median(rs)) if rs else "–"))
    w("")
    w("Target: sequenced_upsert ≥ 1.7× with 2 sessions.")
    w("")

# ------------------------------------------------------------ memory
if "mem_payload_bytes" in meta:
    w("## Peak backend memory, one call with all %s messages" % "{:,}".format(N))
    w("")
    pb = int(meta["mem_payload_bytes"])
    w("Payload: %.1f MB as jsonb (`pg_column_size`, stored uncompressed), %.1f MB as JSON text. "
      "VmHWM and RssShmem read from `/proc/<backend>/status` in the same session before and after "
      "the call; the backend is fresh. RssShmem growth is shared buffers the backend touched "
      "(counted in VmHWM, but not private memory)."
      % (pb / 1048576.0, int(meta.get("mem_payload_text_bytes", 0)) / 1048576.0))
    w("")
    w("| statement | time | VmHWM growth | RssShmem growth | VmHWM − RssShmem growth | ÷ payload (raw / private) | same final table |")
    w("|---|---:|---:|---:|---:|---:|---|")
    for s, label in (("seq", "`sequenced_upsert(t, all messages)`"), ("oc", "plain ON CONFLICT over all messages")):
        try:
            hb, ha = int(meta["mem_%s_hwm_before_kb" % s]), int(meta["mem_%s_hwm_after_kb" % s])
            sbf, saf = int(meta["mem_%s_shmem_before_kb" % s]), int(meta["mem_%s_shmem_after_kb" % s])
        except (KeyError, ValueError):
            continue
        g, sh = (ha - hb) * 1024, (saf - sbf) * 1024
        w("| %s | %s s | %.1f MB | %.1f MB | %.1f MB | %.2f× / %.2f× | %s |"
          % (label, meta.get("mem_%s_seconds" % s), g / 1048576.0, sh / 1048576.0, (g - sh) / 1048576.0,
             g / pb, (g - sh) / pb, "yes" if meta.get("mem_%s_ok" % s) == "t" else "**NO**"))
    w("")
    w("Target: peak backend memory ≤ 3× the payload's size.")
    w("")

# ------------------------------------------------------------ profile
p1 = os.path.join(work, "perf_self_1.txt")
if os.path.exists(p1):
    w("## Profile: sequenced_upsert at B=10,000")
    w("")
    w("`perf record -F 997 -g -p <backend>` over the whole timed loop (fsync off, fresh table), "
      "self time by shared object and symbol (postgres is stripped: only its exported symbols "
      "resolve). Pass 1 = empty table, pass 2 = all stale.")
    w("")
    for p in (1, 2):
        for kind, title in (("dso", "by shared object"), ("self", "top symbols (self)"), ("children", "inclusive time of pg_sequenced's own functions (frame-pointer call chains; inlined static functions do not appear)")):
            fp = os.path.join(work, "perf_%s_%d.txt" % (kind, p))
            if os.path.exists(fp):
                w("Pass %d, %s:" % (p, title))
                w("")
                w("```")
                with open(fp) as f:
                    w("\n".join(re.sub(r"\s+-\s+-\s*$", "", l.rstrip()) for l in f.read().rstrip().split("\n")))
                w("```")
                w("")

# ------------------------------------------------------------ statements
if os.path.exists(os.path.join(work, "pgss_1.csv")):
    w("## Statement breakdown: sequenced_upsert at B=10,000")
    w("")
    w("The same loop once more with `pg_stat_statements.track = all` (the server restarted with it "
      "preloaded; this run is not part of the rates above): the SQL statements that "
      "`sequenced_upsert` runs through SPI, their total execution time and their share of the "
      "time of the `sequenced_upsert` calls. The rest of a call is C work (parsing, dedup, "
      "output rows) and SPI overhead.")
    w("")
    for p in (1, 2):
        fp = os.path.join(work, "pgss_%d.csv" % p)
        if not os.path.exists(fp):
            continue
        calls, tot = "?", "?"
        tp = os.path.join(work, "pgss_total_%d.txt" % p)
        if os.path.exists(tp):
            with open(tp) as f:
                parts = f.read().split()
            if len(parts) == 2:
                calls, tot = parts
        w("Pass %d%s; the %s calls took %s ms in all:" % (p, " (all stale)" if p == 2 else " (empty table)", calls, tot))
        w("")
        w("| calls | rows | ms | % of the calls | statement |")
        w("|---:|---:|---:|---:|---|")
        with open(fp) as f:
            for row in csv.DictReader(f):
                q = row["query"].replace("|", "\\|")
                w("| %s | %s | %s | %s | `%s` |" % (row["calls"], row["rows"], row["ms"], row["pct_of_call"], q))
        w("")

# ------------------------------------------------------------ every run
w("## Appendix: every timed run")
w("")
w("(`as_of`, `as_of_plain`, `history_one_key`: messages = rows returned.)")
w("")
w("| profile | approach | B | pass | rep | messages | seconds | msg/s | check | note |")
w("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
for r in rows:
    secs = float(r["seconds"])
    w("| %s | %s | %s | %s | %s | %s | %.3f | %s | %s | %s |" % (
        r["profile"], r["approach"], "{:,}".format(int(r["bsize"])), r["pass"], r["rep"],
        "{:,}".format(int(r["messages"])), secs, fmt(int(r["messages"]) / secs) if secs > 0 else "–",
        {"t": "ok", "f": "✗ differs"}.get(r["ok"], "–"), (r.get("note") or "").replace("|", "\\|")[:300]))
w("")

os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
with open(out, "w") as f:
    f.write("\n".join(L) + "\n")
