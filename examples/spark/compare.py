"""Check that the Spark job flagged the same rows, with the same scores, as
`zsift score --model MODEL --format jsonl LOG` run once on the whole log.

    python compare.py OUT/flagged ZSIFT.jsonl [--rtol 1e-9]

Both sides are written as `uid<TAB>score` lines, sorted with sort(1) and
walked side by side, so memory stays flat whatever the number of rows.
Exit status 0 when they agree, 1 with the first differences otherwise.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.json as paj


def write_pairs(batches, path):
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for b in batches:
            uids = b.column("uid").to_pylist()
            scores = b.column("score").to_pylist()
            f.writelines(f"{u}\t{s!r}\n" for u, s in zip(uids, scores))
            n += len(uids)
    return n


def spark_batches(flagged_dir):
    return ds.dataset(flagged_dir, format="parquet").to_batches(columns=["uid", "score"])


def zsift_batches(jsonl):
    if os.path.getsize(jsonl) == 0:
        return
    schema = pa.schema([("uid", pa.string()), ("score", pa.float64())])
    reader = paj.open_json(
        jsonl,
        read_options=paj.ReadOptions(block_size=16 << 20),
        parse_options=paj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )
    yield from reader


def sort_file(path, tmp):
    env = dict(os.environ, LC_ALL="C")
    subprocess.run(["sort", "-S", "1G", "-T", tmp, "-o", path, path], check=True, env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("flagged_dir")
    ap.add_argument("zsift_jsonl")
    ap.add_argument("--rtol", type=float, default=1e-9)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="zsift-compare-") as tmp:
        a, b = os.path.join(tmp, "spark.tsv"), os.path.join(tmp, "zsift.tsv")
        na = write_pairs(spark_batches(args.flagged_dir), a)
        nb = write_pairs(zsift_batches(args.zsift_jsonl), b)
        sort_file(a, tmp)
        sort_file(b, tmp)
        only_spark = only_zsift = common = differ = 0
        worst, examples = 0.0, []

        def pairs(f):
            for line in f:
                uid, score = line.rstrip("\n").split("\t")
                yield uid, float(score)

        with open(a, encoding="utf-8") as fa, open(b, encoding="utf-8") as fb:
            ia, ib = pairs(fa), pairs(fb)
            x, y = next(ia, None), next(ib, None)
            while x is not None or y is not None:
                if y is None or (x is not None and x[0] < y[0]):
                    only_spark += 1
                    if len(examples) < 5:
                        examples.append(f"{x[0]} flagged by the job only (score {x[1]!r})")
                    x = next(ia, None)
                elif x is None or y[0] < x[0]:
                    only_zsift += 1
                    if len(examples) < 5:
                        examples.append(f"{y[0]} flagged by zsift only (score {y[1]!r})")
                    y = next(ib, None)
                else:
                    common += 1
                    rel = abs(x[1] - y[1]) / max(abs(x[1]), abs(y[1]), 1e-300)
                    worst = max(worst, rel)
                    if rel > args.rtol:
                        differ += 1
                        if len(examples) < 5:
                            examples.append(f"{x[0]}: score {x[1]!r} (job) against {y[1]!r} (zsift)")
                    x, y = next(ia, None), next(ib, None)
        summary = (
            f"flagged rows: {na} by the job, {nb} by zsift; {common} by both "
            f"({differ} with scores apart by more than {args.rtol:g}, largest relative "
            f"difference {worst:.3g}), {only_spark} by the job only, {only_zsift} by zsift only"
        )
        if only_spark or only_zsift or differ:
            print("MISMATCH: " + summary, file=sys.stderr)
            for e in examples:
                print("  " + e, file=sys.stderr)
            sys.exit(1)
        print("equal: " + summary)


if __name__ == "__main__":
    main()
