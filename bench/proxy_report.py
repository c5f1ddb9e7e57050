#!/usr/bin/env python3
"""Turn one bench/proxy.sh run (its work directory) into RESULTS-proxy.md."""
import os
import sys

work, out = sys.argv[1], sys.argv[2]

meta = {}
with open(os.path.join(work, "meta.txt")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v

cells = {}      # (config, b, pass) -> list of runs
checks = []
with open(os.path.join(work, "results.txt")) as f:
    for line in f:
        w = line.split()
        if w[0] == "check":
            checks.append(w[1:])
            continue
        c, b, p, rep, msgs, secs, cd, cp, cs, tick = w
        cells.setdefault((c, int(b), int(p)), []).append({
            "rep": int(rep), "msgs": int(msgs), "secs": float(secs),
            "direct": int(cd) / int(tick), "proxy": int(cp) / int(tick), "shards": int(cs) / int(tick)})


def best(c, b, p):
    runs = cells.get((c, b, p), [])
    if not runs:
        return None
    return max(runs, key=lambda r: r["msgs"] / r["secs"] if r["secs"] > 0 else 0)


def rate(r):
    return r["msgs"] / r["secs"]


def k(x):
    return "%.1fk" % (x / 1000)


def us(cpu, r):
    return "%.2f" % (cpu * 1e6 / r["msgs"])


configs = ["direct", "1", "2", "4"]
label = {"direct": "one server, no proxy", "1": "proxy + 1 shard", "2": "proxy + 2 shards", "4": "proxy + 4 shards"}
ok = meta.get("checks_ok") == "yes"

L = []
L.append("# pg_sequenced behind PL/Proxy: benchmark results")
L.append("")
L.append("Written by `bench/proxy.sh` (what it does is at the top of that script). "
         "Messages per second of one client session calling `sequenced_upsert` once per batch "
         "(one transaction each, the batch parsed from text as a client's call is), "
         "through `pg_sequenced_proxy` on a PL/Proxy server to 1, 2 or 4 shard servers, "
         "and directly on one server with pg_sequenced. "
         "Every server runs on this one machine (%s CPUs), the shards reached over TCP on 127.0.0.1. "
         "The best of %s repetitions per cell (cells interleaved); the CPU columns are that repetition's "
         "CPU time (user + system, every process of the server) per message." % (meta.get("cpus"), meta.get("reps")))
L.append("")
L.append("Correctness: " + ("every cell's final table (the union of its shards' tables) equals the "
                            "direct server's (md5 of the rows ordered by id)." if ok else
                            "**FAILED: a cell's final table differs from the direct server's; see the run's output.**"))
L.append("")
L.append("Run: %s; %s; PL/Proxy %s; git %s; pg_sequenced.so md5 %s; load average at start %s, at end %s; %s s in all."
         % (meta.get("started"), meta.get("pg"), meta.get("plproxy"), meta.get("git"), meta.get("so_md5"),
            meta.get("load_start"), meta.get("load_end"), meta.get("seconds")))
L.append("")
L.append("Dataset: bench/gen.py, %s messages over %s ids, %s of them deletes (every 11th message deletes "
         "its key at its own sequence); %s older than one already seen for their id; %s exact duplicates; "
         "%s ties." % (meta.get("messages"), meta.get("ids"), meta.get("deletes"), meta.get("older_than_seen"),
                        meta.get("exact_duplicates"), meta.get("ties")))
L.append("")
for b in (10000, 100):
    for p in (1, 2):
        d = best("direct", b, p)
        L.append("## B=%s, pass %d%s" % ("{:,}".format(b), p, " (empty table)" if p == 1 else " (the same batches again: every message stale)"))
        L.append("")
        L.append("| configuration | msg/s | vs one server | CPU µs/msg: proxy | shards (together) | all servers |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for c in configs:
            r = best(c, b, p)
            if r is None:
                continue
            if c == "direct":
                L.append("| %s | %s | 1.00× | – | %s (the server) | %s |" % (label[c], k(rate(r)), us(r["direct"], r), us(r["direct"], r)))
            else:
                L.append("| %s | %s | %.2f× | %s | %s | %s |" % (
                    label[c], k(rate(r)), rate(r) / rate(d) if d else 0, us(r["proxy"], r), us(r["shards"], r),
                    us(r["proxy"] + r["shards"], r)))
        L.append("")
L.append("## All runs")
L.append("")
L.append("| configuration | B | pass | rep | messages | seconds | msg/s | CPU s: direct | proxy | shards |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for key in sorted(cells, key=lambda x: (configs.index(x[0]), -x[1], x[2])):
    for r in sorted(cells[key], key=lambda r: r["rep"]):
        L.append("| %s | %s | %d | %d | %d | %.3f | %.0f | %.2f | %.2f | %.2f |" % (
            label[key[0]], key[1], key[2], r["rep"], r["msgs"], r["secs"], rate(r), r["direct"], r["proxy"], r["shards"]))
L.append("")
with open(out, "w") as f:
    f.write("\n".join(L))
