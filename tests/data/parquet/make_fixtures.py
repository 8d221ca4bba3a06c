#!/usr/bin/env python3
"""Makes the Parquet fixtures of the tests from zat's conn.log (tests/data/zat/conn.log).

    python3 tests/data/parquet/make_fixtures.py   # needs pyspark, pyarrow and pandas

Writes, beside this script:
- conn.spark.parquet: written by Spark (one part file of `DataFrame.write.parquet`, snappy),
  as zat's Spark path leaves a conn log: dots in names made underscores (`id_orig_h`),
  `ts` a timestamp, counts and ports 64-bit integers, `duration` a double, unset values
  null, `tunnel_parents` an array of strings.
- conn.pyarrow.parquet: written by pandas through pyarrow, with Zeek's own names
  (`id.orig_h`), `ts` as seconds since the epoch (a double), counts as nullable
  integers, `local_orig` a nullable boolean.
Both hold every row of the log in its order.
"""
import glob
import os
import shutil
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "zat", "conn.log")


def read_zeek_tsv(path):
    """The fields and the rows (lists of str or None) of a Zeek TSV log."""
    fields, types, rows = None, None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            elif line.startswith("#types"):
                types = line.split("\t")[1:]
            elif line.startswith("#"):
                continue
            elif line:
                rows.append([None if v == "-" else v for v in line.split("\t")])
    return fields, types, rows


def value(v, t):
    if v is None:
        return None
    if t in ("count", "port", "int"):
        return int(v)
    if t in ("interval", "double", "time"):
        return float(v)
    if t == "bool":
        return v == "T"
    if t.startswith(("set[", "table[", "vector[")):
        return [] if v == "(empty)" else v.split(",")
    return v


def main():
    import datetime

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields, types, rows = read_zeek_tsv(SOURCE)
    records = [[value(v, t) for v, t in zip(r, types)] for r in rows]

    # pandas / pyarrow, Zeek's names, ts in seconds.
    cols = {}
    for j, (f, t) in enumerate(zip(fields, types)):
        col = [r[j] for r in records]
        if t in ("count", "port", "int"):
            cols[f] = pd.array(col, dtype="Int64")
        elif t == "bool":
            cols[f] = pd.array(col, dtype="boolean")
        elif t.startswith(("set[", "table[", "vector[")):
            cols[f] = pd.Series(col, dtype="object")
        else:
            cols[f] = col
    df = pd.DataFrame(cols)
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, os.path.join(HERE, "conn.pyarrow.parquet"))

    # Spark, zat's Spark names, ts a timestamp.
    os.environ.setdefault("PYSPARK_PYTHON", "python3")
    from pyspark.sql import SparkSession
    from pyspark.sql import types as T

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("zsift-fixtures")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )

    def spark_type(t):
        if t in ("count", "port", "int"):
            return T.LongType()
        if t in ("interval", "double"):
            return T.DoubleType()
        if t == "time":
            return T.TimestampType()
        if t == "bool":
            return T.BooleanType()
        if t.startswith(("set[", "table[", "vector[")):
            return T.ArrayType(T.StringType())
        return T.StringType()

    schema = T.StructType(
        [T.StructField(f.replace(".", "_"), spark_type(t), True) for f, t in zip(fields, types)]
    )
    utc = datetime.timezone.utc
    spark_rows = [
        [
            datetime.datetime.fromtimestamp(v, utc) if (t == "time" and v is not None) else v
            for v, t in zip(r, types)
        ]
        for r in records
    ]
    sdf = spark.createDataFrame(spark_rows, schema)
    out = tempfile.mkdtemp()
    try:
        sdf.coalesce(1).write.mode("overwrite").parquet(os.path.join(out, "conn"))
        (part,) = glob.glob(os.path.join(out, "conn", "part-*.parquet"))
        shutil.copyfile(part, os.path.join(HERE, "conn.spark.parquet"))
    finally:
        shutil.rmtree(out)
        spark.stop()


if __name__ == "__main__":
    main()
