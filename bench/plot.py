#!/usr/bin/env python3
"""Draw one bench/run.sh run as two PNG pictures for the README.

    plot.py RESULTS [OUTDIR]

RESULTS is any of
  - the run's work directory (its results.csv, and meta.txt if there),
  - a results.csv exported from the server's results table
    (psql --csv "SELECT * FROM results"; what report.py reads),
  - a RESULTS.md written by report.py (its appendix lists every timed run),
    so the pictures of a past run can be drawn again:
        python3 bench/plot.py bench/RESULTS.md

OUTDIR (default: $BENCH_PLOT_DIR, else this script's directory) receives
  results-throughput.png  messages/s per approach and cell, pass 1 and 2
  results-ratios.png      pg_sequenced / best plain SQL per cell, with 1.0
                          and the issue's targets marked
  results-rescan-history.png  (when the run has them) rescans: records/s per
                          approach; history: messages/s per approach; each
                          with the issue's target (a multiple of the best
                          plain SQL) marked

Like report.py, a cell's rate is the best of its runs (repetitions and
pass-2 replays).  From a RESULTS.md, rates are recomputed from its seconds
(three decimals): a cell that took well under a second (smoke runs) may
come out a few per cent off report.py's figure.  Needs matplotlib (Debian: python3-matplotlib); without it
this prints one line and exits 0: the bench does not fail for want of
pictures.
"""
import csv
import os
import re
import sys


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        # python3 on PATH may be another interpreter (pyenv, a venv) than the
        # one Debian's python3-matplotlib belongs to: try that one once
        alt = "/usr/bin/python3"
        if (os.path.exists(alt) and not os.environ.get("BENCH_PLOT_REEXEC")
                and os.path.realpath(sys.executable) != os.path.realpath(alt)):
            os.environ["BENCH_PLOT_REEXEC"] = "1"
            os.execv(alt, [alt, os.path.abspath(__file__)] + sys.argv[1:])
        print("plot.py: matplotlib is not installed (Debian: apt-get install python3-matplotlib); "
              "no pictures drawn")
        sys.exit(0)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# ------------------------------------------------------------------ input

def read_csv(path):
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f)]


def read_results_md(path):
    """The appendix of a RESULTS.md: one row per timed run, plus the run's line."""
    rows, info, cols = [], {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^Run: ([^;]+);.*?; git ([^;]+);", line)
            if m:
                info["started"], info["git"] = m.group(1), m.group(2)
            if line.startswith("| profile | approach | B | pass |"):
                cols = [c.strip() for c in line.strip("|").split("|")]
                continue
            if cols is None:
                continue
            if not line.startswith("|"):
                if rows:
                    break
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if len(cells) < len(cols) or set(cells[0]) <= set("-: "):
                continue
            r = dict(zip(cols, cells))
            rows.append({
                "profile": r["profile"], "approach": r["approach"],
                "bsize": r["B"].replace(",", ""), "pass": r["pass"], "rep": r["rep"],
                "messages": r["messages"].replace(",", ""), "seconds": r["seconds"],
                "ok": {"ok": "t", "–": ""}.get(r["check"], "f"), "note": r.get("note", ""),
            })
    if not rows:
        raise ValueError("%s: no table of timed runs found" % path)
    return rows, info


def read_meta(path):
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                meta[k] = v
    return meta


def load(src):
    """(rows, info) from a work directory, a results.csv or a RESULTS.md."""
    if os.path.isdir(src):
        meta = read_meta(os.path.join(src, "meta.txt"))
        return read_csv(os.path.join(src, "results.csv")), meta
    with open(src, encoding="utf-8") as f:
        head = f.readline()
    if head.startswith("#") or src.endswith(".md"):
        return read_results_md(src)
    return read_csv(src), read_meta(os.path.join(os.path.dirname(os.path.abspath(src)), "meta.txt"))


def best_cells(rows):
    """{(profile, approach, bsize, pass): {rate, ok, partial}}: the best run of each cell."""
    cells = {}
    for r in rows:
        try:
            key = (r["profile"], r["approach"], int(r["bsize"]), int(r["pass"]))
            secs, msgs = float(r["seconds"]), int(r["messages"])
        except (KeyError, ValueError):
            continue
        c = cells.setdefault(key, {"rate": 0.0, "ok": True, "partial": False})
        if secs > 0 and msgs / secs > c["rate"]:
            c["rate"] = msgs / secs
        if r.get("ok") == "f":
            c["ok"] = False
        if (r.get("note") or "").startswith("partial"):
            c["partial"] = True
    return cells


# ------------------------------------------------------------------ drawing

# (approach, legend label, colour, hatch)
LOOP = [("sequenced_upsert", "sequenced_upsert", "#1f5fa8", None),
        ("on_conflict", "ON CONFLICT", "#f28e2b", None),
        ("merge", "MERGE", "#59a14f", None),
        ("plpgsql_row", "PL/pgSQL row", "#b07aa1", None)]
STAGING = [("staging_sequenced", "sequenced_apply_staging ('keep')", "#1f5fa8", None),
           ("staging_sequenced_delete", "sequenced_apply_staging (default: delete staged rows; B ≥ 10,000 only)", "#8fb8e3", None),
           ("staging_plain", "plain-SQL trigger (ON CONFLICT)", "#f28e2b", None)]
# the fsync-on panel shows both kinds side by side: staging bars hatched
STAGING_HATCHED = [("staging_sequenced", "staging: sequenced_apply_staging ('keep')", "#1f5fa8", "//"),
                   ("staging_plain", "staging: plain-SQL trigger", "#f28e2b", "//")]
PLAIN = ("on_conflict", "merge", "plpgsql_row")
LOOP_SIZES = (1, 100, 10000)


def target(kind, b, p, n_all):
    """The issue's target for a fsync-off cell, as report.py's headline has them."""
    if kind == "loop":
        return {(10000, 1): 2.0, (10000, 2): 3.0, (100, 1): 2.0, (100, 2): 2.0,
                (1, 1): 1.5, (1, 2): 1.5}.get((b, p))
    return 1.5 if b == 10000 or (b == n_all and b > 10000) else None


def n_fmt(b):
    return "{:,}".format(b)


def rate_fmt(x):
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e4:
        return "%.0fk" % (x / 1e3)
    return "%.1fk" % (x / 1e3)


def staging_sizes(cells, prof):
    return sorted({k[2] for k in cells if k[0] == prof and k[1] in ("staging_sequenced", "staging_plain")})


def staging_label(b, n_all):
    """The staging cell of B rows per COPY; the largest one is all messages in one COPY."""
    if b == n_all and b > 10000:
        return "all %s in\none COPY" % n_fmt(b)
    return "B=%s" % n_fmt(b)


def suptitle(fig, what, info):
    """The figure's title, and under it the run it shows (when known)."""
    from matplotlib.transforms import offset_copy
    parts = [p for p in (info.get("started"), ("git " + info["git"]) if info.get("git") else None) if p]
    fig.text(0.01, 1, "pg_sequenced benchmark: " + what, fontsize=12, va="top",
             transform=offset_copy(fig.transFigure, fig=fig, y=-6, units="points"))
    if parts:
        fig.text(0.01, 1, "run of " + ", ".join(parts), fontsize=8.5, va="top", color="#555555",
                 transform=offset_copy(fig.transFigure, fig=fig, y=-24, units="points"))
    # what tight_layout may use: all but the top 40 points
    return 1 - 40.0 / (72 * fig.get_figheight())


def bars(ax, cells, prof, groups, approaches):
    """Grouped bars: groups = [(label, bsize, pass)], one bar per approach present."""
    present = [a for a in approaches if any((prof, a[0], b, p) in cells for _, b, p in groups)]
    width = 0.8 / max(1, len(present))
    top = 0.0
    partial = False
    for i, (app, label, color, hatch) in enumerate(present):
        for g, (_, b, p) in enumerate(groups):
            c = cells.get((prof, app, b, p))
            if c is None or c["rate"] <= 0:
                continue
            x = g - 0.4 + width * (i + 0.5)
            bad = not c["ok"]
            ax.bar(x, c["rate"], width * 0.92, color=color, edgecolor="#c00000" if bad else "white",
                   hatch="xx" if bad else hatch, linewidth=1.2 if bad else 0)
            ax.text(x, c["rate"] * 1.12, rate_fmt(c["rate"]) + (" FAIL" if bad else "") +
                    (" †" if c["partial"] else ""), rotation=90, ha="center", va="bottom", fontsize=7.5,
                    color="#c00000" if bad else "black")
            top = max(top, c["rate"])
            partial = partial or c["partial"]
        # legend entry, drawn once
        ax.bar(0, 0, 0, color=color, hatch=hatch, edgecolor="white", linewidth=0, label=label)
    ax.set_yscale("log")
    if top > 0:
        ax.set_ylim(bottom=min((cells[(prof, a[0], b, p)]["rate"] for a in present for _, b, p in groups
                                if (prof, a[0], b, p) in cells and cells[(prof, a[0], b, p)]["rate"] > 0)) / 3,
                    top=top * 12)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g[0] for g in groups])
    ax.set_xlim(-0.55, len(groups) - 0.45)
    ax.set_ylabel("messages / s (log scale)")
    ax.grid(axis="y", which="major", color="#dddddd")
    ax.set_axisbelow(True)
    for g in range(1, len(groups)):
        if groups[g][1] != groups[g - 1][1]:
            ax.axvline(g - 0.5, color="#bbbbbb", linewidth=0.8)
    ax.legend(loc="upper left", fontsize=8, ncol=len(present) if len(present) <= 4 else 3,
              frameon=True, framealpha=0.9, edgecolor="none")
    notes = []
    if partial:
        notes.append("† hit the time cap (BENCH_MAX_SECS): rated on the batches it applied")
    if any(not cells[(prof, a[0], b, p)]["ok"] for a in present for _, b, p in groups if (prof, a[0], b, p) in cells):
        notes.append("FAIL: final table differs from the reference")
    if notes:
        ax.text(0.995, 0.985, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=7.5)


def throughput(plt, cells, info, path):
    panels = []
    loop_groups = [("B=%s\npass %d" % (n_fmt(b), p), b, p) for b in LOOP_SIZES for p in (1, 2)
                   if ("fsync_off", "sequenced_upsert", b, p) in cells]
    if loop_groups:
        panels.append(("fsync off: one call per batch of B messages, one transaction per batch "
                       "(pass 1: empty table; pass 2: the same batches again, all stale)",
                       "fsync_off", loop_groups, LOOP))
    sizes = staging_sizes(cells, "fsync_off")
    stg_groups = [("%s\npass %d" % (staging_label(b, sizes[-1]), p), b, p) for b in sizes
                  for p in (1, 2) if any(("fsync_off", a[0], b, p) in cells for a in STAGING)]
    if stg_groups:
        panels.append(("fsync off: staging table, one COPY of B rows per transaction, "
                       "its statement trigger applies them", "fsync_off", stg_groups, STAGING))
    on_groups = [("B=%s\npass 1" % n_fmt(b), b, 1) for b in LOOP_SIZES
                 if any(("fsync_on", a[0], b, 1) in cells for a in LOOP + STAGING_HATCHED)]
    if on_groups:
        panels.append(("fsync on (fsync, synchronous_commit, full_page_writes on): pass 1, one call "
                       "or one COPY of B rows per transaction (staging hatched)", "fsync_on", on_groups,
                       LOOP + STAGING_HATCHED))
    if not panels:
        return False
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 4.6 * len(panels)), squeeze=False)
    for ax, (title, prof, groups, apps) in zip(axes[:, 0], panels):
        bars(ax, cells, prof, groups, apps)
        ax.set_title(title, fontsize=10, loc="left")
    top = suptitle(fig, "messages per second, best run of each cell (higher is better)", info)
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def ratios(plt, cells, info, path):
    def best_plain(prof, b, p):
        v = [cells[(prof, a, b, p)]["rate"] for a in PLAIN if (prof, a, b, p) in cells]
        v = [x for x in v if x > 0]
        return max(v) if v else None

    def ratio(kind, prof, b, p):
        if kind == "loop":
            s, c = cells.get((prof, "sequenced_upsert", b, p)), best_plain(prof, b, p)
        else:
            s = cells.get((prof, "staging_sequenced", b, p))
            pl = cells.get((prof, "staging_plain", b, p))
            c = pl["rate"] if pl and pl["rate"] > 0 else None
        if not s or not c or s["rate"] <= 0:
            return None
        return s["rate"] / c

    sizes = staging_sizes(cells, "fsync_off")
    n_all = sizes[-1] if sizes else 0
    groups = [("B=%s" % n_fmt(b), "loop", b) for b in LOOP_SIZES]
    groups += [("staging,\n" + staging_label(b, n_all), "staging", b) for b in sizes]
    series = [("fsync_off", 1, "pass 1 (empty table)", "#7aa6d6", None),
              ("fsync_off", 2, "pass 2 (all stale)", "#1f5fa8", None),
              ("fsync_on", 1, "pass 1, fsync on", "#cccccc", "//")]
    series = [s for s in series if any(ratio(k, s[0], b, s[1]) is not None for _, k, b in groups)]
    groups = [g for g in groups if any(ratio(g[1], s[0], g[2], s[1]) is not None for s in series)]
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(12, 5.2))
    width = 0.8 / len(series)
    top, target_drawn = 1.0, False
    for i, (prof, p, label, color, hatch) in enumerate(series):
        for g, (_, kind, b) in enumerate(groups):
            r = ratio(kind, prof, b, p)
            if r is None:
                continue
            x = g - 0.4 + width * (i + 0.5)
            ax.bar(x, r, width * 0.92, color=color, hatch=hatch, edgecolor="#888888" if hatch else "none",
                   linewidth=0.6 if hatch else 0)
            ax.text(x, r + 0.04, "%.2f×" % r, ha="center", va="bottom", fontsize=8,
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.8))
            top = max(top, r)
            need = target(kind, b, p, n_all) if prof == "fsync_off" else None
            if need:
                ax.plot([x - width * 0.5, x + width * 0.5], [need, need], color="#c00000", linewidth=2.2,
                        solid_capstyle="butt", label=None if target_drawn else "issue 6 target (at least), fsync off")
                target_drawn = True
                top = max(top, need)
        ax.bar(0, 0, 0, color=color, hatch=hatch, edgecolor="#888888" if hatch else "none", label=label)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--", label="1.0: as fast as the best plain SQL")
    ax.set_xticks(range(len(groups)))
    ticks = []
    for label, kind, b in groups:
        needs = [target(kind, b, p, n_all) for p in (1, 2)]
        if needs[0] and needs[0] == needs[1]:
            label += "\ntarget ≥%g×" % needs[0]
        elif any(needs):
            label += "\ntarget " + " / ".join("–" if t is None else "≥%g×" % t for t in needs) + "\n(pass 1 / 2)"
        ticks.append(label)
    ax.set_xticklabels(ticks)
    ax.set_xlim(-0.55, len(groups) - 0.45)
    ax.set_ylim(0, top * 1.22)
    ax.set_ylabel("pg_sequenced ÷ best plain SQL")
    ax.grid(axis="y", color="#dddddd")
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", fontsize=8.5, ncol=3, frameon=False)
    ax.set_title("Ratio per cell (same run, same server); best plain SQL = the fastest of ON CONFLICT, MERGE "
                 "and PL/pgSQL row; staging: against the plain-SQL trigger", fontsize=9.5, loc="left")
    top = suptitle(fig, "pg_sequenced ÷ best plain SQL per cell (above 1: pg_sequenced is faster)", info)
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


RESCAN = [("rescan_seq_skip", "pg_sequenced\nunchanged => 'skip'\n+ delete_missing", "#1f5fa8"),
          ("rescan_seq_write", "pg_sequenced\nunchanged => 'write'\n+ delete_missing", "#8fb8e3"),
          ("rescan_plain_skip", "plain: ON CONFLICT\nWHERE IS DISTINCT FROM\n+ anti-join DELETE", "#f28e2b"),
          ("rescan_plain_write", "plain: ON CONFLICT\n(all rows written)\n+ DELETE seq < S", "#f7c08a")]
HISTORY = [("hist_seq_history", "pg_sequenced\nhistory => true", "#1f5fa8"),
           ("hist_seq", "pg_sequenced\nno history", "#8fb8e3"),
           ("hist_plain_before", "plain: ON CONFLICT\n+ BEFORE trigger\n(history indexed)", "#f28e2b"),
           ("hist_plain_after", "plain: ON CONFLICT\n+ AFTER trigger\n(history indexed)", "#f7c08a"),
           ("hist_plain_noidx", "plain: ON CONFLICT\n+ BEFORE trigger\n(no index)", "#fbe0c3")]


def rescan_history(plt, cells, info, path):
    """Rescans (issue 19) and history (issue 20): one panel each, linear scale."""
    panels = []
    for prof, apps, ours, plains, need, title in (
            ("rescan", RESCAN, "rescan_seq_skip", ("rescan_plain_skip", "rescan_plain_write"), 3.0,
             "rescan (1% changed, 0.5% gone): snapshot records/s incl. the delete step"),
            ("history", HISTORY, "hist_seq_history", ("hist_plain_before", "hist_plain_after", "hist_plain_noidx"),
             1.5, "history: pass 1 of the standard dataset, messages/s")):
        sizes = sorted({k[2] for k in cells if k[0] == prof and k[1] in [a[0] for a in apps]})
        if sizes:
            panels.append((prof, apps, ours, plains, need, title, sizes[-1]))
    if not panels:
        return False
    from matplotlib.ticker import FuncFormatter
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 5.6), squeeze=False,
                             gridspec_kw={"width_ratios": [len(p[1]) for p in panels]})
    for ax, (prof, apps, ours, plains, need, title, b) in zip(axes[0], panels):
        present = [a for a in apps if (prof, a[0], b, 1) in cells]
        best = max([cells[(prof, a, b, 1)]["rate"] for a in plains if (prof, a, b, 1) in cells] or [0])
        top = 0.0
        for i, (app, label, color) in enumerate(present):
            c = cells[(prof, app, b, 1)]
            bad = not c["ok"]
            ax.bar(i, c["rate"], 0.7, color=color, edgecolor="#c00000" if bad else "white",
                   hatch="xx" if bad else None, linewidth=1.2 if bad else 0)
            txt = rate_fmt(c["rate"])
            if app in (ours, "rescan_seq_write") and best > 0:
                txt += "\n%.2f× best plain" % (c["rate"] / best)
            if bad:
                txt += "\nFAIL"
            ax.text(i, c["rate"] * 1.02, txt, ha="center", va="bottom", fontsize=8,
                    color="#c00000" if bad else "black")
            top = max(top, c["rate"])
        if best > 0:
            ax.axhline(need * best, color="#c00000", linewidth=1.5, linestyle="--",
                       label="target: %g× the best plain SQL" % need)
            ax.axhline(best, color="black", linewidth=0.8, linestyle=":", label="best plain SQL")
            top = max(top, need * best)
            ax.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9, edgecolor="none")
        ax.set_xticks(range(len(present)))
        ax.set_xticklabels([a[1] for a in present], fontsize=7.5)
        ax.set_ylim(0, top * 1.25)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: rate_fmt(v) if v > 0 else "0"))
        ax.set_ylabel("per second (B=%s)" % n_fmt(b))
        ax.grid(axis="y", color="#dddddd")
        ax.set_axisbelow(True)
        ax.set_title(title, fontsize=9.5, loc="left")
    top = suptitle(fig, "rescans (issue 19) and history (issue 20), best run of each (higher is better)", info)
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print("usage: plot.py RESULTS [OUTDIR]   (RESULTS: a bench work directory, results.csv or RESULTS.md)",
              file=sys.stderr)
        return 2
    plt = _matplotlib()
    src = argv[1]
    outdir = argv[2] if len(argv) == 3 else (os.environ.get("BENCH_PLOT_DIR")
                                              or os.path.dirname(os.path.abspath(__file__)))
    try:
        rows, info = load(src)
    except (OSError, ValueError, KeyError, csv.Error) as e:
        print("plot.py: cannot read %s: %s" % (src, e), file=sys.stderr)
        return 1
    cells = best_cells(rows)
    os.makedirs(outdir, exist_ok=True)
    wrote = []
    for name, draw in (("results-throughput.png", throughput), ("results-ratios.png", ratios),
                       ("results-rescan-history.png", rescan_history)):
        path = os.path.join(outdir, name)
        if draw(plt, cells, info, path):
            wrote.append(path)
    if not wrote:
        print("plot.py: no cells to draw in %s" % src, file=sys.stderr)
        return 1
    print("plot.py: wrote %s" % ", ".join(wrote))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
