//! Zeek logs stored as Parquet (written by Spark and by pandas through pyarrow: the
//! fixtures of `tests/data/parquet`, made by its `make_fixtures.py`) load as the TSV log
//! they were made from, and `export --format parquet` writes tables that load back with
//! every value as it was.

mod common;

use std::process::Command;

use polars::prelude::*;
use zsift::ingest::text::Texts;
use zsift::ingest::{Format, Log};

fn load(rel: &str) -> Log {
    zsift::ingest::load(&[common::data(rel)]).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every column of `want` (but those named in `skip`) is in `got`, with the same type and
/// values (nulls where it has nulls).
fn assert_same_columns(got: &DataFrame, want: &DataFrame, skip: &[&str], what: &str) {
    assert_eq!(got.height(), want.height(), "{what}: rows");
    for c in want.columns() {
        let name = c.name().as_str();
        if skip.contains(&name) {
            continue;
        }
        let g = got
            .column(name)
            .unwrap_or_else(|_| panic!("{what}: no column {name}"));
        // Text is text whether held as strings or as a dictionary (which a load chooses
        // by how often the values repeat).
        if let (Some(g), Some(c)) = (Texts::of(g), Texts::of(c)) {
            assert_eq!(g.to_vec(), c.to_vec(), "{what}: values of {name}");
            continue;
        }
        assert_eq!(g.dtype(), c.dtype(), "{what}: type of {name}");
        assert!(
            g.as_materialized_series()
                .equals_missing(c.as_materialized_series()),
            "{what}: values of {name}"
        );
    }
}

#[test]
fn parquet_from_spark_and_pyarrow_loads_as_the_log_it_was_made_from() {
    let tsv = load("zat/conn.log");
    for rel in ["parquet/conn.spark.parquet", "parquet/conn.pyarrow.parquet"] {
        let pq = load(rel);
        assert_eq!(pq.files[0].format, Format::Parquet, "{rel}");
        assert_eq!(pq.skipped.count, 0);
        // The TSV's `table[string]` stays text; Parquet's list is a list.
        assert_same_columns(&pq.frame, &tsv.frame, &["tunnel_parents"], rel);
        let lists = pq.frame.column("tunnel_parents").unwrap();
        assert!(matches!(lists.dtype(), DataType::List(_)), "{rel}");
    }
}

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

fn stdout(args: &[&std::ffi::OsStr]) -> String {
    let out = zsift().args(args).output().unwrap();
    common::assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// The same rows give the same verdicts, whichever format holds them.
#[test]
fn a_parquet_log_scores_as_its_tsv() {
    let score = |rel: &str| {
        stdout(&[
            "score".as_ref(),
            "--all".as_ref(),
            "--format".as_ref(),
            "jsonl".as_ref(),
            common::data(rel).as_os_str(),
        ])
    };
    let tsv = score("zat/conn.log");
    assert_eq!(tsv.lines().count(), 360);
    assert_eq!(score("parquet/conn.spark.parquet"), tsv);
    assert_eq!(score("parquet/conn.pyarrow.parquet"), tsv);
}

/// `export --format parquet`: the tables hold the log's columns as loaded (times as
/// timestamps, counts as integers, nulls as nulls) and the verdicts of the CSV export,
/// and zsift reads them back.
#[test]
fn parquet_exports_hold_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = common::data("stratosphere/008-mixed.conn.log.labeled");
    for format in ["csv", "parquet"] {
        let out = dir.path().join(format);
        stdout(&[
            "export".as_ref(),
            "--no-umap".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            log_path.as_os_str(),
        ]);
    }
    let log = zsift::ingest::load(std::slice::from_ref(&log_path)).unwrap();
    // The log's integers are written as 64-bit integers, as Zeek's counts and ports are,
    // however zsift holds them (32 bits when they fit): a file's types do not depend on
    // its values.
    let file = std::fs::File::open(dir.path().join("parquet/rows.parquet")).unwrap();
    let raw = ParquetReader::new(file).finish().unwrap();
    for name in ["id.orig_p", "id.resp_p", "orig_bytes", "resp_pkts"] {
        assert_eq!(
            raw.column(name).unwrap().dtype(),
            &DataType::Int64,
            "{name}"
        );
    }
    assert_eq!(raw.column("cluster").unwrap().dtype(), &DataType::Int32);
    let rows = zsift::ingest::load(&[dir.path().join("parquet/rows.parquet")]).unwrap();
    assert_same_columns(&rows.frame, &log.frame, &[], "rows.parquet");
    let csv = CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(dir.path().join("csv/rows.csv")))
        .unwrap()
        .finish()
        .unwrap();
    for name in ["score", "votes", "cluster"] {
        let a = rows
            .frame
            .column(name)
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap();
        let b = csv.column(name).unwrap().cast(&DataType::Float64).unwrap();
        let (a, b) = (a.f64().unwrap(), b.f64().unwrap());
        for i in 0..a.len() {
            let (x, y) = (a.get(i).unwrap(), b.get(i).unwrap());
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{name}: {x} {y}");
        }
    }
    let flagged = rows.frame.column("flagged").unwrap().bool().unwrap().sum();
    let anomalous = zsift::ingest::load(&[dir.path().join("parquet/anomalous.parquet")]).unwrap();
    assert_eq!(Some(anomalous.rows() as IdxSize), flagged);
    assert!(anomalous.rows() > 0);
}

/// A Parquet file cut short, or one that only starts like one, is refused with its name.
#[test]
fn broken_parquet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(common::data("parquet/conn.spark.parquet")).unwrap();
    for (name, bytes) in [
        ("cut.parquet", whole[..whole.len() / 2].to_vec()),
        (
            "fake.parquet",
            b"PAR1 and then no Parquet at all PAR1".to_vec(),
        ),
        ("head.parquet", b"PAR1".to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = zsift::ingest::load(std::slice::from_ref(&p)).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        let out = zsift().arg("summary").arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
}

/// Several logs load as one frame of several chunks (one per file, and a `_file` column
/// of one): the Parquet export cuts every column at the same rows.
#[test]
fn parquet_export_of_several_logs() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::data("stratosphere/008-mixed.conn.log.labeled");
    let b = common::data("stratosphere/010-mixed.conn.log.labeled");
    stdout(&[
        "export".as_ref(),
        "--no-umap".as_ref(),
        "--format".as_ref(),
        "parquet".as_ref(),
        "--out".as_ref(),
        dir.path().as_os_str(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    let both = zsift::ingest::load(&[a, b]).unwrap();
    let rows = zsift::ingest::load(&[dir.path().join("rows.parquet")]).unwrap();
    assert_same_columns(&rows.frame, &both.frame, &[], "rows.parquet of two logs");
}
