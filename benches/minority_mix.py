#!/usr/bin/env python3
"""Makes an unlabelled-incident test log from a labelled Zeek conn log (TSV).

An operator's log has no labels and its attacks are usually a minority. From a labelled
log this keeps every row that is not malicious and a seeded random sample of the
malicious rows, so that they make SHARE of the result; rows keep their order, header
lines are copied as they are. The labels stay in the file (zsift ignores them unless
asked), so that the result can still be scored against them.

Labels are read from a `label` column, or from the last column when a release packs
`tunnel_parents   label   detailed-label` into one field separated by three spaces.

    benches/minority_mix.py IN OUT SHARE [SEED]     (SEED defaults to 7)

The sample is Python's `random.Random(SEED).sample` over the malicious rows in file
order, so a given input, share and seed always give the same file.
"""

import argparse
import random
import sys


def label_reader(fields):
    """A function giving a data line's label, for the `#fields` names `fields`."""
    last = fields[-1]
    if last.startswith("tunnel_parents") and "label" in last:
        # One tab column holding three values separated by three spaces.
        return lambda line: line.split("\t")[-1].split("   ")[1]
    lower = [f.lower() for f in fields]
    if "label" not in lower:
        sys.exit("minority_mix.py: the log has no label column")
    at = lower.index("label")
    return lambda line: line.split("\t")[at]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="labelled Zeek conn log (TSV)")
    ap.add_argument("dst", help="where to write the mixed log")
    ap.add_argument("share", type=float, help="share of malicious rows in the result, 0 to 1")
    ap.add_argument("seed", type=int, nargs="?", default=7, help="sampling seed (default 7)")
    args = ap.parse_args()
    if not 0.0 <= args.share < 1.0:
        sys.exit("minority_mix.py: SHARE must be at least 0 and below 1")

    # Bytes that are not UTF-8 pass through unchanged.
    with open(args.src, encoding="utf-8", errors="surrogateescape") as f:
        lines = f.read().split("\n")
    header = next((l for l in lines if l.startswith("#fields")), None)
    if header is None:
        sys.exit("minority_mix.py: no #fields line (is it a Zeek TSV log?)")
    label = label_reader(header.split("\t")[1:])

    rows = [i for i, l in enumerate(lines) if l and not l.startswith("#")]
    malicious = [i for i in rows if label(lines[i]).lower().startswith("malicious")]
    others = len(rows) - len(malicious)
    # m / (others + m) = share  =>  m = share * others / (1 - share)
    wanted = int(round(args.share * others / (1.0 - args.share)))
    kept = set(random.Random(args.seed).sample(malicious, min(wanted, len(malicious))))
    dropped = set(malicious) - kept

    with open(args.dst, "w", encoding="utf-8", errors="surrogateescape") as out:
        for i, line in enumerate(lines):
            if i in dropped:
                continue
            # The split leaves an empty last piece after a final newline: not a line.
            if line or i < len(lines) - 1:
                out.write(line + "\n")
    total = others + len(kept)
    print(f"{args.dst}: {others} other rows + {len(kept)} malicious ({len(kept) / total:.3f})")


if __name__ == "__main__":
    main()
