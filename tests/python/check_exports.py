#!/usr/bin/env python3
"""Checks that zsift's exports open in pandas and polars without options.

    check_exports.py CSV_DIR PARQUET_DIR

CSV_DIR holds what `zsift export --format csv` wrote, PARQUET_DIR what `--format
parquet` wrote, for the same log and model. Each table is read by pandas
(`read_csv`, `read_parquet`) and by polars (`read_csv`, `read_parquet`) with no
arguments but the path; the two formats must give the same rows, the same columns and
the same verdicts, and Parquet must keep the types (`ts` a timestamp, counts integers,
`score` a float, `flagged` a boolean). Exit status 1 with a message on the first
difference.
"""
import json
import math
import os
import sys

import pandas as pd
import polars as pl


def fail(msg):
    print(f"check_exports: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    csv_dir, pq_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(csv_dir, "clusters.json"), encoding="utf-8") as f:
        json.load(f)
    for table in ("anomalous", "rows"):
        csv_path = os.path.join(csv_dir, f"{table}.csv")
        pq_path = os.path.join(pq_dir, f"{table}.parquet")
        frames = {
            "pandas csv": pd.read_csv(csv_path),
            "pandas parquet": pd.read_parquet(pq_path),
            "polars csv": pl.read_csv(csv_path).to_pandas(),
            "polars parquet": pl.read_parquet(pq_path).to_pandas(),
        }
        rows = {k: len(v) for k, v in frames.items()}
        if len(set(rows.values())) != 1 or rows["pandas csv"] == 0:
            fail(f"{table}: rows differ or are none: {rows}")
        cols = {k: list(v.columns) for k, v in frames.items()}
        if any(c != cols["pandas csv"] for c in cols.values()):
            fail(f"{table}: columns differ: {cols}")
        for name, df in frames.items():
            if "parquet" in name:
                if not pd.api.types.is_datetime64_any_dtype(df["ts"]):
                    fail(f"{table} ({name}): ts is {df['ts'].dtype}, not a timestamp")
                if not pd.api.types.is_integer_dtype(df["id.resp_p"]):
                    fail(f"{table} ({name}): id.resp_p is {df['id.resp_p'].dtype}")
                if table == "rows" and not pd.api.types.is_bool_dtype(df["flagged"]):
                    fail(f"{table} ({name}): flagged is {df['flagged'].dtype}")
        base = frames["pandas csv"]
        for name, df in frames.items():
            if list(df["uid"]) != list(base["uid"]):
                fail(f"{table} ({name}): uids differ")
            for a, b in zip(df["score"], base["score"]):
                if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9):
                    fail(f"{table} ({name}): score {a} != {b}")
        print(f"check_exports: {table}: {rows['pandas csv']} rows, {len(base.columns)} columns, "
              "the same in pandas and polars, CSV and Parquet")


if __name__ == "__main__":
    main()
