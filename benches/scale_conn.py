#!/usr/bin/env python3
"""Makes a Zeek conn log of any size from a real one, for benchmarks.

Each output row is a row of the input drawn at random (with replacement). It gets a fresh
uid, a timestamp that increases row by row over one day, and its byte, packet and
duration fields multiplied by a random factor in [0.9, 1.1], so that no two rows are
exact copies while the value distributions stay those of the real log. Every other field
(addresses, ports, states, labels) is kept as it is. The output has the input's format:
Zeek TSV with the input's header lines, or JSON lines. A name ending in '.gz' is read or
written gzip-compressed. Standard library only.

  python3 benches/scale_conn.py IN OUT ROWS [--seed 7]
"""
import argparse
import gzip
import json
import random
import string

# Fields that get jittered; duration is a float, the others are counts.
JITTERED = {"duration", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts",
            "orig_ip_bytes", "resp_ip_bytes", "missed_bytes"}
FLOAT_FIELDS = {"duration"}
UID_CHARS = string.ascii_letters + string.digits
FIRST_TS = 1.7e9  # 2023-11-14, seconds since the epoch
SPAN_S = 86400.0
CLOSE_LINE = "#close\t2026-01-01-00-00-00"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="a real conn log (Zeek TSV or JSON lines)")
    ap.add_argument("dst", help="where to write the scaled log")
    ap.add_argument("rows", type=int, help="rows to write")
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    return ap.parse_args()


def open_text(path, mode):
    if path.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8", errors="surrogateescape")
    return open(path, mode, encoding="utf-8", errors="surrogateescape")


def new_uid(rng):
    """A Zeek-style connection uid: 'C' and 17 letters or digits."""
    return "C" + "".join(rng.choices(UID_CHARS, k=17))


def jittered(value, rng):
    return value * rng.uniform(0.9, 1.1)


def timestamp(i, rows):
    """Row i's time: evenly spread over one day."""
    return FIRST_TS + i * SPAN_S / max(rows, 1)


def scale_tsv(lines, out, rows, rng):
    # Header lines are copied but for #close, which is written anew at the end; data
    # lines are the rest. A labelled log may pack extra columns into its last field: only the
    # fields named in #fields are looked at, the rest of a line is copied.
    header = [l for l in lines if l.startswith("#") and not l.startswith("#close")]
    body = [l for l in lines if l and not l.startswith("#")]
    fields = next((h.split("\t")[1:] for h in header if h.startswith("#fields")), [])
    ts_col = fields.index("ts") if "ts" in fields else None
    uid_col = fields.index("uid") if "uid" in fields else None
    jitter_cols = [(i, name in FLOAT_FIELDS) for i, name in enumerate(fields) if name in JITTERED]

    for h in header:
        out.write(h + "\n")
    for i in range(rows):
        cols = rng.choice(body).split("\t")
        if ts_col is not None and ts_col < len(cols):
            cols[ts_col] = f"{timestamp(i, rows):.6f}"
        if uid_col is not None and uid_col < len(cols):
            cols[uid_col] = new_uid(rng)
        for j, is_float in jitter_cols:
            if j >= len(cols) or cols[j] in ("-", "", "(empty)"):
                continue  # unset or empty stays so
            try:
                x = jittered(float(cols[j]), rng)
            except ValueError:
                continue
            cols[j] = f"{x:.6f}" if is_float else str(int(round(x)))
        out.write("\t".join(cols) + "\n")
    out.write(CLOSE_LINE + "\n")


def scale_json(lines, out, rows, rng):
    body = [l for l in lines if l.strip()]
    for i in range(rows):
        rec = json.loads(rng.choice(body))
        rec["ts"] = round(timestamp(i, rows), 6)
        rec["uid"] = new_uid(rng)
        for name in JITTERED & rec.keys():
            v = rec[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue  # null or not a number stays so
            x = jittered(v, rng)
            rec[name] = int(round(x)) if isinstance(v, int) else round(x, 6)
        out.write(json.dumps(rec, separators=(",", ":")) + "\n")


def main():
    a = parse_args()
    rng = random.Random(a.seed)
    with open_text(a.src, "r") as f:
        lines = f.read().splitlines()
    first = next((l for l in lines if l.strip()), "")
    with open_text(a.dst, "w") as out:
        if first.lstrip().startswith("{"):
            scale_json(lines, out, a.rows, rng)
        else:
            scale_tsv(lines, out, a.rows, rng)


if __name__ == "__main__":
    main()
