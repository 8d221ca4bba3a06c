"""Score a fleet's Zeek conn logs with zsift and a saved model, on Spark.

    spark-submit [--files zsift,model.zsm] score_fleet.py \
        --model model.zsm --zsift zsift --out OUT [--partitions N] [--by-source] \
        [--mode arrow|pipe] INPUT...

INPUT is a file, a directory (read recursively) or a glob, on any file system
Spark reads (local, HDFS, S3...). Each file may be a Zeek TSV log (with its
`#fields` header), Zeek JSON lines, or Parquet, gzipped or not; the format is
told from the content. Each partition goes to one `zsift score --model MODEL
--all --format jsonl -` process (TSV records as they are, after their header
block; JSON lines as they are; Parquet rows, or TSV mixed with other formats,
as JSON objects), and the scored rows come back as a DataFrame. The job writes

    OUT/flagged/  the flagged rows (Parquet): ts, uid, addresses, ports, proto,
                  service, score, votes, flagged, detectors, reasons
    OUT/hosts/    one row per source address (Parquet): rows, flagged, max and
                  mean score, the detectors that flagged its rows most often

and prints one JSON line of counts and timings on standard output.

The zsift binary and the model are shipped to the executors with
SparkContext.addFile (or spark-submit's --files) and found there with
SparkFiles.get, so the job runs the same on local[N], YARN and Kubernetes.

A partition is scored on its own: a model fitted with `--rows-only` and
without context features (`dport.odd`, `src.*`, `dst.*`...) gives each row the
score it gets when the whole log is scored at once. Otherwise the context
features and the hosts' evidence are worked out over the rows of each
partition; `--by-source` puts each source address's rows in one partition,
which keeps the source's own evidence whole (README.md).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from itertools import chain

from pyspark import SparkFiles
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

# The fields of `zsift score --format jsonl`, in the order the job keeps them.
OUT_FIELDS = [
    ("ts", T.StringType()),
    ("uid", T.StringType()),
    ("id.orig_h", T.StringType()),
    ("id.orig_p", T.LongType()),
    ("id.resp_h", T.StringType()),
    ("id.resp_p", T.LongType()),
    ("proto", T.StringType()),
    ("service", T.StringType()),
    ("score", T.DoubleType()),
    ("votes", T.LongType()),
    ("flagged", T.BooleanType()),
    ("detectors", T.ArrayType(T.StringType())),
    ("reasons", T.ArrayType(T.StringType())),
]
OUT_SCHEMA = T.StructType([T.StructField(n, t, True) for n, t in OUT_FIELDS])

# Zeek's types by field name, for a TSV log without a #types line.
KNOWN_TYPES = {
    "ts": "time",
    "duration": "interval",
    "id.orig_p": "port",
    "id.resp_p": "port",
    "orig_bytes": "count",
    "resp_bytes": "count",
    "missed_bytes": "count",
    "orig_pkts": "count",
    "orig_ip_bytes": "count",
    "resp_pkts": "count",
    "resp_ip_bytes": "count",
    "local_orig": "bool",
    "local_resp": "bool",
}

# Microseconds, as Zeek writes times (Spark's default keeps milliseconds).
TO_JSON_OPTIONS = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"}


def q(name):
    """A column by its name, dots and all (`id.orig_h` is one column)."""
    return F.col("`" + name.replace("`", "``") + "`")


# ---------------------------------------------------------------- inputs


def list_files(spark, inputs):
    """Expand files, directories (recursively) and globs with Hadoop's file
    system, so hdfs://, s3a:// and local paths all work."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    files = []
    for pattern in inputs:
        path = jvm.org.apache.hadoop.fs.Path(pattern)
        fs = path.getFileSystem(conf)
        statuses = fs.globStatus(path)
        if statuses is None or len(statuses) == 0:
            raise SystemExit(f"score_fleet: {pattern}: no such file")
        stack = list(statuses)
        while stack:
            st = stack.pop()
            name = st.getPath().getName()
            if st.isDirectory():
                stack.extend(fs.listStatus(st.getPath()))
            elif st.getLen() > 0 and not name.startswith((".", "_")):
                files.append(st.getPath().toString())
    return sorted(set(files))


def decode_sep(text):
    """`\\x09` -> tab, as Zeek writes its #separator."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\x", i) and i + 4 <= len(text):
            try:
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            except ValueError:
                pass
        out.append(text[i])
        i += 1
    return "".join(out)


def sniff(spark, path_str, max_header_lines=64):
    """('parquet', None), ('json', None) or ('tsv', header) for one file.

    A TSV header is a TsvHeader of the lines before the first record (its
    first #fields block, which Zeek writes once a file)."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(path_str)
    fs = path.getFileSystem(conf)
    raw = fs.open(path)
    try:
        magic = bytes(raw.read() & 0xFF for _ in range(4))
    finally:
        raw.close()
    if magic == b"PAR1":
        return "parquet", None
    stream = fs.open(path)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        sep, kept = "\t", []
        for _ in range(max_header_lines):
            line = reader.readLine()
            if line is None:
                break
            line = line.lstrip("\ufeff").rstrip("\r")
            if not line.strip():
                continue
            if line.startswith("{"):
                return "json", None
            if not line.startswith("#"):
                break
            if line.startswith("#separator "):
                sep = decode_sep(line[len("#separator ") :]) or "\t"
                kept.append(line)
            elif line.split(sep, 1)[0] in ("#set_separator", "#empty_field", "#unset_field", "#fields", "#types"):
                kept.append(line)
        header = TsvHeader(tuple(kept))
        if header.fields is None:
            raise SystemExit(
                f"score_fleet: {path_str}: neither Zeek TSV (no #fields header) nor JSON lines nor Parquet"
            )
        return "tsv", header
    finally:
        reader.close()


class TsvHeader:
    """The header lines of a Zeek TSV log that say how to read its records."""

    def __init__(self, lines):
        self.lines = lines
        self.sep, self.fields, self.types, self.unset, self.empty = "\t", None, None, "-", "(empty)"
        for line in lines:
            if line.startswith("#separator "):
                self.sep = decode_sep(line[len("#separator ") :]) or "\t"
                continue
            key, _, value = line.partition(self.sep)
            if key == "#fields":
                self.fields = value.split(self.sep)
            elif key == "#types":
                self.types = value.split(self.sep)
            elif key == "#unset_field":
                self.unset = value
            elif key == "#empty_field":
                self.empty = value
        if self.fields is not None and (self.types is None or len(self.types) != len(self.fields)):
            self.types = [KNOWN_TYPES.get(f, "string") for f in self.fields]

    def text(self):
        return "".join(line + "\n" for line in self.lines)

    def __eq__(self, other):
        return isinstance(other, TsvHeader) and self.lines == other.lines

    def __hash__(self):
        return hash(self.lines)

    def __repr__(self):
        return repr(self.lines)


def tsv_column(c, zeek_type, empty):
    """One TSV column (read as text, unset already null) as a typed column."""
    if zeek_type in ("time", "interval", "double"):
        d = F.expr(f"try_cast(`{c}` AS DOUBLE)")
        return F.when(F.isnan(d) | (F.abs(d) == float("inf")), None).otherwise(d)
    if zeek_type in ("count", "int", "port"):
        return F.expr(f"try_cast(`{c}` AS BIGINT)")
    if zeek_type == "bool":
        return F.when(F.col(c) == "T", True).when(F.col(c) == "F", False)
    return F.when(F.col(c) == empty, "").otherwise(F.col(c))


def read_tsv_lines(spark, files, header, hdr):
    """TSV records as they are, tagged with their header's number: zsift reads
    Zeek TSV itself (each partition gets the header block before its lines)."""
    lines = spark.read.text(files).where((F.col("value") != "") & ~F.col("value").startswith("#"))
    if "id.orig_h" in header.fields:
        i = header.fields.index("id.orig_h")
        field = F.split("value", re.escape(header.sep)).getItem(i)
        src = F.when(field == header.unset, None).otherwise(field)
    else:
        src = F.lit(None).cast("string")
    return lines.select(F.col("value").alias("line"), F.lit(hdr).alias("hdr"), src.alias("src"))


def read_tsv_as_json(spark, files, header):
    """TSV records as JSON objects, to go with JSON lines or Parquet inputs."""
    names = [f"c{i}" for i in range(len(header.fields))]
    df = (
        spark.read.schema(T.StructType([T.StructField(n, T.StringType()) for n in names]))
        .option("sep", header.sep)
        .option("header", "false")
        .option("comment", "#")
        .option("quote", "")  # Zeek TSV has no quoting
        .option("escape", "\u0000")
        .option("nullValue", header.unset)
        .option("mode", "DROPMALFORMED")
        .csv(files)
    )
    fields, types = header.fields, header.types
    cols = [tsv_column(n, t, header.empty).alias(f) for n, f, t in zip(names, fields, types)]
    if "id.orig_h" in fields:
        src = F.col(names[fields.index("id.orig_h")])
    else:
        src = F.lit(None).cast("string")
    return df.select(
        F.to_json(F.struct(*cols), TO_JSON_OPTIONS).alias("line"), F.lit(-1).alias("hdr"), src.alias("src")
    )


def read_json_lines(spark, files):
    """JSON lines go to zsift as they are: zsift reads Zeek's JSON itself."""
    lines = spark.read.text(files).where(F.trim("value") != "")
    src = F.coalesce(
        F.get_json_object("value", "$['id.orig_h']"),
        F.get_json_object("value", "$.id.orig_h"),
    )
    return lines.select(F.col("value").alias("line"), F.lit(-1).alias("hdr"), src.alias("src"))


def read_parquet(spark, files):
    df = spark.read.option("mergeSchema", "true").parquet(*files)
    src = q("id.orig_h").cast("string") if "id.orig_h" in df.columns else F.lit(None).cast("string")
    return df.select(
        F.to_json(F.struct(*[q(c) for c in df.columns]), TO_JSON_OPTIONS).alias("line"),
        F.lit(-1).alias("hdr"),
        src.alias("src"),
    )


def load(spark, inputs):
    """All inputs as one DataFrame of (line, hdr, src): a record as zsift reads
    it, the number of its TSV header in the returned list (-1 for a JSON
    object), and its source address.

    When every input is TSV, records go to zsift as they are, each partition's
    lines after their header block (zsift reads several blocks as one log).
    With JSON lines or Parquet among the inputs, TSV records are turned into
    JSON objects, so that one zsift input never mixes the two."""
    groups = {}
    for f in list_files(spark, inputs):
        kind, header = sniff(spark, f)
        groups.setdefault((kind, header), []).append(f)
    if not groups:
        raise SystemExit("score_fleet: no input files")
    all_tsv = all(kind == "tsv" for kind, _ in groups)
    frames, headers = [], []
    for (kind, header), files in sorted(groups.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))):
        if kind == "tsv" and all_tsv:
            frames.append(read_tsv_lines(spark, files, header, len(headers)))
            headers.append(header.text())
        elif kind == "tsv":
            frames.append(read_tsv_as_json(spark, files, header))
        elif kind == "json":
            frames.append(read_json_lines(spark, files))
        else:
            frames.append(read_parquet(spark, files))
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other)
    return df, headers, sum(len(v) for v in groups.values())


# ---------------------------------------------------------------- scoring


def zsift_command(zsift_name, model_name):
    """Runs on an executor: the shipped binary and model, found with SparkFiles."""
    zsift = SparkFiles.get(zsift_name)
    if not os.access(zsift, os.X_OK):
        try:
            os.chmod(zsift, 0o755)
        except OSError:
            pass
    return [zsift, "score", "--model", SparkFiles.get(model_name), "--all", "--format", "jsonl", "-"]


def check_exit(proc, cmd, err):
    rc = proc.wait()
    if rc != 0:
        err.seek(0)
        msg = err.read().decode("utf-8", "replace").strip()
        raise RuntimeError(f"{' '.join(cmd)} exited with status {rc}: {msg}")


def score_arrow(zsift_name, model_name, headers):
    """mapInArrow: each partition's lines go to one zsift process, written
    straight from the Arrow batches' buffers; zsift's output is parsed back
    with pyarrow's JSON reader. No Python work per row."""

    def run(batches):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as paj

        schema = pa.schema(
            [
                ("ts", pa.string()),
                ("uid", pa.string()),
                ("id.orig_h", pa.string()),
                ("id.orig_p", pa.int64()),
                ("id.resp_h", pa.string()),
                ("id.resp_p", pa.int64()),
                ("proto", pa.string()),
                ("service", pa.string()),
                ("score", pa.float64()),
                ("votes", pa.int64()),
                ("flagged", pa.bool_()),
                ("detectors", pa.list_(pa.string())),
                ("reasons", pa.list_(pa.string())),
            ]
        )
        proc = cmd = None
        current = -1  # the TSV header block in force in zsift's input
        err = tempfile.TemporaryFile()

        def write_lines(col):
            lines = pc.binary_join_element_wise(col, pa.scalar(""), pa.scalar("\n"))
            width = 8 if pa.types.is_large_string(lines.type) else 4
            offsets = lines.buffers()[1]
            start, end = lines.offset, lines.offset + len(lines)
            first = int.from_bytes(offsets[start * width : (start + 1) * width], "little")
            last = int.from_bytes(offsets[end * width : (end + 1) * width], "little")
            proc.stdin.write(memoryview(lines.buffers()[2])[first:last])

        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if proc is None:  # an empty partition starts no process
                    cmd = zsift_command(zsift_name, model_name)
                    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
                line, hdr = batch.column(0), batch.column(1).to_numpy()
                # runs of rows under one header (one run unless files meet here)
                cuts = [0, *(np.flatnonzero(np.diff(hdr)) + 1).tolist(), len(hdr)]
                try:
                    for a, b in zip(cuts, cuts[1:]):
                        h = int(hdr[a])
                        if h != current and h >= 0:
                            proc.stdin.write(headers[h].encode("utf-8"))
                        current = h
                        write_lines(line.slice(a, b - a).drop_null())
                except BrokenPipeError:
                    break  # zsift refused the input: its message comes below
            if proc is None:
                return
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                reader = paj.open_json(
                    proc.stdout,
                    read_options=paj.ReadOptions(block_size=16 << 20),
                    parse_options=paj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
                )
            except pa.ArrowInvalid:  # no output: zsift's status says why
                check_exit(proc, cmd, err)
                return
            for out in reader:
                yield out
            check_exit(proc, cmd, err)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
            err.close()

    return run


def score_pipe(zsift_name, model_name, headers):
    """RDD pipe: what RDD.pipe does (a thread writes the partition's lines to
    the process, its output lines are read back), with the command made on the
    executor from SparkFiles (RDD.pipe takes a command fixed on the driver, where
    the shipped files have another path), empty partitions skipped, each TSV
    header block written before its lines, and zsift's message kept on failure."""

    def run(rows):
        it = iter(rows)
        first = next(it, None)
        if first is None:
            return
        cmd = zsift_command(zsift_name, model_name)
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)

        def feed():
            current = -1
            try:
                write = proc.stdin.write
                for line, hdr in chain([first], it):
                    if hdr != current and hdr >= 0:
                        write(headers[hdr].encode("utf-8"))
                    current = hdr
                    if line is not None:
                        write((line + "\n").encode("utf-8"))
            except BrokenPipeError:
                pass
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            for line in proc.stdout:
                yield line.rstrip(b"\n").decode("utf-8")
            writer.join()
            check_exit(proc, cmd, err)
        finally:
            if proc.poll() is None:
                proc.kill()
            err.close()

    return run


def ship(sc, path):
    """addFile(path) unless spark-submit --files already ships a file of that
    name (spark.files, or spark.yarn.dist.files on YARN); returns the name
    SparkFiles.get finds it by."""
    name = os.path.basename(path)
    conf = sc.getConf()
    listed = ",".join(conf.get(k, "") for k in ("spark.files", "spark.yarn.dist.files"))
    shipped = [os.path.basename(f.split("#")[0]) for f in listed.split(",") if f]
    if name not in shipped:
        sc.addFile(os.path.abspath(path) if "://" not in path else path)
    return name


def host_summary(scored):
    src = q("id.orig_h")
    per_host = scored.groupBy(src.alias("id.orig_h")).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("flagged").cast("long")).alias("flagged"),
        F.max("score").alias("max_score"),
        F.avg("score").alias("mean_score"),
    )
    dets = (
        scored.where("flagged")
        .select(src.alias("id.orig_h"), F.explode("detectors").alias("detector"))
        .groupBy("`id.orig_h`", "detector")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    rank = F.row_number().over(Window.partitionBy("`id.orig_h`").orderBy(F.desc("n"), "detector"))
    top = (
        dets.withColumn("rank", rank)
        .where(F.col("rank") <= 3)
        .groupBy("`id.orig_h`")
        .agg(F.sort_array(F.collect_list(F.struct("rank", "detector", "n"))).alias("top"))
        .select(
            "`id.orig_h`",
            F.transform("top", lambda t: F.struct(t["detector"].alias("detector"), t["n"].alias("flagged"))).alias(
                "top_detectors"
            ),
        )
    )
    return per_host.join(top, "id.orig_h", "left").orderBy(F.desc("flagged"), F.desc("max_score"), "`id.orig_h`")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model file saved by `zsift fit --save` (or its name in --files)")
    ap.add_argument("--zsift", default="zsift", help="the zsift binary (or its name in --files)")
    ap.add_argument("--out", required=True, help="output directory (overwritten)")
    ap.add_argument("--partitions", type=int, default=0, help="repartition to N partitions (default: as read)")
    ap.add_argument(
        "--by-source",
        action="store_true",
        help="partition by source address (id.orig_h): each source's rows are scored together",
    )
    ap.add_argument("--mode", choices=["arrow", "pipe"], default="arrow", help="how rows reach zsift (default arrow)")
    ap.add_argument("inputs", nargs="+", help="logs: files, directories or globs (TSV, JSON lines, Parquet)")
    args = ap.parse_args(argv)

    spark = (
        SparkSession.builder.appName("zsift-score-fleet")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "50000")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    sc = spark.sparkContext
    t0 = time.time()
    zsift_name = ship(sc, args.zsift)
    model_name = ship(sc, args.model)

    rows, headers, n_files = load(spark, args.inputs)
    if args.by_source:
        n = args.partitions or rows.rdd.getNumPartitions()
        rows = rows.repartition(n, "src")
    elif args.partitions:
        rows = rows.repartition(args.partitions)
    rows = rows.select("line", "hdr")

    if args.mode == "arrow":
        scored = rows.mapInArrow(score_arrow(zsift_name, model_name, headers), OUT_SCHEMA)
    else:
        lines = rows.rdd.mapPartitions(score_pipe(zsift_name, model_name, headers))
        scored = spark.read.schema(OUT_SCHEMA).json(lines)
    # Each partition is scored once: both outputs read the cached rows.
    scored = scored.withColumn("ts", F.expr("try_cast(ts AS TIMESTAMP)")).persist()

    out = args.out.rstrip("/")
    scored.where("flagged").write.mode("overwrite").parquet(out + "/flagged")
    hosts = host_summary(scored)
    hosts.coalesce(1).write.mode("overwrite").parquet(out + "/hosts")
    totals = spark.read.parquet(out + "/hosts").agg(F.sum("rows"), F.sum("flagged"), F.count(F.lit(1))).first()
    seconds = time.time() - t0
    n_rows = int(totals[0] or 0)
    report = {
        "files": n_files,
        "rows": n_rows,
        "flagged": int(totals[1] or 0),
        "sources": int(totals[2]),
        "mode": args.mode,
        "partitions": rows.rdd.getNumPartitions(),
        "seconds": round(seconds, 3),
        "rows_per_s": round(n_rows / seconds, 1) if seconds > 0 else None,
        "out": out,
    }
    scored.unpersist()
    print(json.dumps(report), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
