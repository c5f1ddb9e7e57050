#!/usr/bin/env python3
"""Deterministic dataset for the pg_sequenced benchmark (stdlib only).

Writes into OUTDIR:
  msgs.tsv            pos <TAB> message-as-JSON, one line per message (COPY text)
  stg/B<b>/<n>.tsv    the same messages as staging rows (id, name, age,
                      has_magic, _sdc_sequence), one file per batch of b
  stats.txt           what was generated (key=value lines)

The stream: MESSAGES messages over IDS distinct ids (every id occurs), in
chunks of 100 of which 95 are distinct events and 5 are exact copies of an
event of the same chunk, placed after it (so every duplicate is inside the
same batch for B=100 and B=10,000).  Of the events for an id already seen,
OOO_SHARE carry a sequence older than the newest already seen for that id
(arriving out of order), TIE_SHARE carry exactly that newest sequence with
different data (a tie: the first one in the stream wins), the rest carry
the stream's clock (newer than everything before).  Same seed, same bytes.
"""
import argparse
import os
import random


def b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--ids", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=20240615)
    ap.add_argument("--out-of-order", type=float, default=0.30,
                    help="target share of all messages that are out of order")
    ap.add_argument("--ties", type=float, default=0.005,
                    help="share of all messages: same id and sequence, other data")
    ap.add_argument("--batch-sizes", default="1:20000,100,10000",
                    help="staging files: B or B:limit (first limit messages)")
    ap.add_argument("outdir")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    n = a.messages
    nchunks = (n + 99) // 100
    # distinct events per chunk: 95 of 100 (a partial last chunk: 95%)
    chunk_sizes = [min(100, n - 100 * c) for c in range(nchunks)]
    chunk_events = [s - s // 20 for s in chunk_sizes]
    nevents = sum(chunk_events)
    if nevents < a.ids:
        raise SystemExit("fewer events than ids")

    ids = list(range(1, a.ids + 1)) + [rng.randint(1, a.ids) for _ in range(nevents - a.ids)]
    rng.shuffle(ids)
    seen_events = nevents - a.ids          # events whose id was seen before
    # exact duplicates copy their event's lateness: aim at the share of events
    p_ooo = min(1.0, a.out_of_order * nevents / seen_events)
    p_tie = min(1.0 - p_ooo, a.ties * n / seen_events)

    clock = 1_700_000_000_000
    newest = {}
    events = []                            # (id, seq, name, age, magic)
    n_ooo = n_tie = 0
    for i in ids:
        clock += rng.randint(1, 20)
        r = rng.random()
        if i in newest and r < p_ooo:
            seq = newest[i] - rng.randint(1, 200_000)
            n_ooo += 1
        elif i in newest and r < p_ooo + p_tie:
            seq = newest[i]
            n_tie += 1
        else:
            seq = clock
        if seq > newest.get(i, -1):
            newest[i] = seq
        events.append((i, seq, "n%d_%s" % (i, b36(rng.randrange(36 ** 6))),
                       rng.randint(0, 99), rng.random() < 0.5))

    stream = []
    e = 0
    n_dup = 0
    for c in range(nchunks):
        chunk = list(range(e, e + chunk_events[c]))
        e += chunk_events[c]
        ndup = chunk_sizes[c] - chunk_events[c]
        for orig in sorted(rng.sample(chunk[:], ndup)):
            at = chunk.index(orig)
            chunk.insert(rng.randint(at + 1, len(chunk)), orig)
            n_dup += 1
        stream.extend(chunk)
    assert len(stream) == n

    os.makedirs(a.outdir, exist_ok=True)
    with open(os.path.join(a.outdir, "msgs.tsv"), "w") as f:
        for pos, ev in enumerate(stream, 1):
            i, seq, name, age, magic = events[ev]
            f.write('%d\t{"action":"upsert","sequence":%d,"data":{"id":%d,"name":"%s","age":%d,"has_magic":%s}}\n'
                    % (pos, seq, i, name, age, "true" if magic else "false"))

    for spec in a.batch_sizes.split(","):
        b, _, lim = spec.partition(":")
        b = int(b)
        lim = min(int(lim), n) if lim else n
        d = os.path.join(a.outdir, "stg", "B%d" % b)
        os.makedirs(d, exist_ok=True)
        for bn in range((lim + b - 1) // b):
            with open(os.path.join(d, "%d.tsv" % (bn + 1)), "w") as f:
                for ev in stream[bn * b:min(lim, (bn + 1) * b)]:
                    i, seq, name, age, magic = events[ev]
                    f.write("%d\t%s\t%d\t%s\t%d\n" % (i, name, age, "t" if magic else "f", seq))

    # how many messages are older than one already seen for their id, in
    # stream order (duplicates are equal, not older)
    best = {}
    older = 0
    for ev in stream:
        i, seq = events[ev][0], events[ev][1]
        if i in best and seq < best[i]:
            older += 1
        if seq > best.get(i, -1):
            best[i] = seq
    with open(os.path.join(a.outdir, "stats.txt"), "w") as f:
        f.write("messages=%d\nids=%d\nseed=%d\nevents=%d\nexact_duplicates=%d\n"
                "out_of_order=%d\nties=%d\nolder_than_seen=%d\n"
                % (n, len(best), a.seed, nevents, n_dup, n_ooo, n_tie, older))


if __name__ == "__main__":
    main()
