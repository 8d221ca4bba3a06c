//! Loading real Zeek logs and malformed inputs.

mod common;

use std::io::Write;
use std::path::PathBuf;

use polars::prelude::*;
use zsift::ingest::{self, IngestError, Log};

fn load(rel: &str) -> Log {
    ingest::load(&[common::data(rel)]).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const CONN: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
];

fn has_columns(log: &Log, names: &[&str]) {
    for n in names {
        assert!(
            log.frame.column(n).is_ok(),
            "missing column {n}; have {:?}",
            log.frame.get_column_names()
        );
    }
}

#[test]
fn every_real_log_loads_with_its_row_count() {
    // Row counts as listed in tests/data/SOURCES.md.
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "stratosphere/008-mixed.conn.log.labeled",
            5663,
            &["label", "detailed-label", "service"],
        ),
        (
            "stratosphere/010-mixed.conn.log.labeled",
            5347,
            &["label", "detailed-label"],
        ),
        (
            "stratosphere/001-botnet.conn.log.labeled",
            992,
            &["label", "detailed-label"],
        ),
        (
            "stratosphere/002-portscan.conn.json.log",
            4504,
            &["local_orig"],
        ),
        (
            "stratosphere/005-malicious.conn.log",
            992,
            &["tunnel_parents"],
        ),
        ("zat/conn.log", 360, &["service"]),
        ("zat/conn.json.log", 50, &["service"]),
        ("zat/conn_date_issue.log", 3, &["service"]),
    ];
    for (rel, rows, extra) in cases {
        let log = load(rel);
        assert_eq!(log.rows(), *rows, "{rel}");
        assert_eq!(log.skipped.count, 0, "{rel}: {:?}", log.skipped.first);
        has_columns(&log, CONN);
        has_columns(&log, extra);
        assert!(matches!(
            log.frame.column("ts").unwrap().dtype(),
            DataType::Datetime(TimeUnit::Microseconds, None)
        ));
        // Counts are integers (in 32 bits when every value fits).
        assert!(matches!(
            log.frame.column("orig_bytes").unwrap().dtype(),
            DataType::Int64 | DataType::Int32
        ));
        assert_eq!(
            log.frame.column("duration").unwrap().dtype(),
            &DataType::Float64
        );
    }
    let dns = load("zat/dns.log");
    assert_eq!(dns.rows(), 54);
    has_columns(&dns, &["query", "answers", "TTLs", "rcode_name"]);
    let ssl = load("zed/ssl.log.gz");
    assert_eq!(ssl.rows(), 49474);
    assert!(ssl.files[0].gzip);
    has_columns(&ssl, &["version", "server_name", "validation_status"]);
    let weird = load("zed/weird.log.gz");
    assert_eq!(weird.rows(), 24202);
    has_columns(&weird, &["name", "addl", "notice"]);
}

#[test]
fn labelled_values_are_read() {
    let log = load("stratosphere/008-mixed.conn.log.labeled");
    let labels = zsift::summary::value_counts(&log.frame, "label");
    let get = |v: &str| labels.iter().find(|c| c.value == v).map(|c| c.count);
    assert_eq!(get("Malicious"), Some(4201));
    assert_eq!(get("Benign"), Some(1402));
    assert_eq!(get("Background"), Some(60));
    // IPv6 addresses and relative timestamps.
    let botnet = load("stratosphere/001-botnet.conn.log.labeled");
    let orig = zsift::ingest::cell(&botnet.frame, "id.orig_h", 0);
    assert_eq!(orig, "fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8");
    let ts = botnet
        .frame
        .column("ts")
        .unwrap()
        .as_materialized_series()
        .datetime()
        .unwrap()
        .physical()
        .get(0);
    assert_eq!(ts, Some(19_981_745));
}

#[test]
fn tsv_and_json_of_the_same_dns_records_give_equal_frames() {
    let tsv = load("zed/dns.log.gz");
    let json = load("zed/dns.json.gz");
    assert_eq!(tsv.rows(), 53615);
    assert_eq!(json.rows(), 53615);
    assert_eq!(tsv.files[0].paths, vec!["dns"]);
    assert_eq!(json.files[0].paths, vec!["dns"]);
    assert_eq!(
        tsv.frame.get_column_names(),
        json.frame.get_column_names(),
        "same columns in the same order"
    );
    for name in tsv.frame.get_column_names() {
        let a = tsv.frame.column(name).unwrap().as_materialized_series();
        let b = json.frame.column(name).unwrap().as_materialized_series();
        assert_eq!(a.dtype(), b.dtype(), "{name}");
        assert!(a.equals_missing(b), "column {name} differs:\n{a}\n{b}");
    }
}

#[test]
fn corrupt_gzip_is_refused_with_the_file_name() {
    let path = common::data("zat/http.log.corrupt.gz");
    match ingest::load(&[path]) {
        Err(e @ IngestError::NotZeek { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("http.log.corrupt.gz"), "{msg}");
            assert!(msg.contains("gzip"), "{msg}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|l| l.rows())),
    }
}

#[test]
fn several_files_load_as_one_with_a_file_column() {
    let a = common::data("zat/conn.log");
    let b = common::data("zat/conn.json.log");
    let log = ingest::load(&[a, b]).unwrap();
    assert_eq!(log.rows(), 410);
    assert_eq!(log.format(), "mixed");
    let files = zsift::summary::value_counts(&log.frame, ingest::FILE_COLUMN);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].count, 360);
    assert!(files[0].value.ends_with("zat/conn.log"));
    assert_eq!(files[1].count, 50);
    // Numbers, times, dictionary codes and lists are held in one piece (read where they
    // are); plain text may stay in the files' pieces.
    let mut one_piece = 0;
    for c in log.frame.columns() {
        if ingest::joined_at_load(c.dtype()) {
            assert_eq!(c.n_chunks(), 1, "{}: {:?}", c.name(), c.dtype());
            one_piece += 1;
        }
    }
    assert!(one_piece >= 10, "{one_piece} columns");
    // The values are those of the file loaded alone.
    let alone = ingest::load(&[common::data("zat/conn.log")]).unwrap();
    for c in alone.frame.columns() {
        let joined = log.frame.column(c.name()).unwrap().head(Some(360));
        let same = c.as_materialized_series().cast(joined.dtype()).unwrap();
        assert!(
            same.equals_missing(joined.as_materialized_series()),
            "{}",
            c.name()
        );
    }
}

const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tset[string]\n";

fn row(i: usize) -> String {
    format!("1600000000.{i:06}\tC{i}\t10.0.0.1\t5000\t10.0.0.2\t80\ttcp\t{i}\t(empty)\n")
}

fn from_bytes(b: &[u8]) -> Result<Log, IngestError> {
    ingest::load_bytes("input", b)
}

/// Rows kept, lines skipped and the first skipped line; or text of the refusal.
type Outcome = Result<(usize, u64, Option<u64>), &'static str>;

/// Each malformed input and its documented outcome: rows kept, lines skipped (and the
/// first skipped line number), or a refusal naming the input.
#[test]
fn malformed_inputs_have_documented_outcomes() {
    let good = format!("{HEADER}{}{}", row(1), row(2));
    // (name, input, Ok((rows, skipped, first skipped line)) or Err(text in the refusal))
    let long_line = format!("{HEADER}{}{}\n{}", row(1), "x".repeat(1 << 20), row(2));
    let cases: Vec<(&str, Vec<u8>, Outcome)> = vec![
        ("good", good.clone().into(), Ok((2, 0, None))),
        (
            "truncated line",
            format!("{HEADER}{}1600000000.5\tCx\t10.0.0.1\n{}", row(1), row(2)).into(),
            Ok((2, 1, Some(9))),
        ),
        (
            "extra field",
            format!(
                "{HEADER}{}{}",
                row(1),
                row(2).replace("(empty)", "(empty)\textra")
            )
            .into(),
            Ok((1, 1, Some(9))),
        ),
        (
            "bad number",
            format!(
                "{HEADER}{}",
                row(1).replace("\t1\t(empty)", "\tlots\t(empty)")
            )
            .into(),
            Err("no valid records"),
        ),
        (
            "bad number among good",
            format!(
                "{HEADER}{}{}",
                row(1).replace("\t1\t(empty)", "\t1x\t(empty)"),
                row(2)
            )
            .into(),
            Ok((1, 1, Some(8))),
        ),
        (
            "negative count",
            format!(
                "{HEADER}{}{}",
                row(1),
                row(2).replace("\t2\t(empty)", "\t-2\t(empty)")
            )
            .into(),
            Ok((1, 1, Some(9))),
        ),
        (
            "bad time",
            format!(
                "{HEADER}{}{}",
                row(1).replace("1600000000.000001", "soon"),
                row(2)
            )
            .into(),
            Ok((1, 1, Some(8))),
        ),
        (
            "time out of range",
            format!(
                "{HEADER}{}{}",
                row(1).replace("1600000000.000001", "1e300"),
                row(2)
            )
            .into(),
            Ok((1, 1, Some(8))),
        ),
        (
            "binary junk",
            vec![0x7f, b'E', b'L', b'F', 0, 0, 1, 2, 3, 0xff, 0xfe],
            Err("binary"),
        ),
        ("empty file", Vec::new(), Err("empty file")),
        ("whitespace only", b"\n\n  \n".to_vec(), Err("empty file")),
        (
            "header only",
            HEADER.as_bytes().to_vec(),
            Err("header only"),
        ),
        (
            "comments only",
            b"#hello\n#world\n".to_vec(),
            Err("no #fields"),
        ),
        (
            "csv",
            b"ts,uid,orig\n1,2,3\n".to_vec(),
            Err("neither Zeek TSV"),
        ),
        (
            "data before #fields",
            b"#separator \\x09\n1\t2\t3\n".to_vec(),
            Err("line 2: data before any #fields"),
        ),
        (
            "crlf endings",
            good.replace('\n', "\r\n").into(),
            Ok((2, 0, None)),
        ),
        (
            "invalid utf-8 in a string",
            format!("{HEADER}{}", row(1))
                .replace("C1", "C\u{1}")
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect(),
            Ok((1, 0, None)),
        ),
        ("a 1 MB line", long_line.into(), Ok((2, 1, Some(9)))),
        (
            "no trailing newline",
            good.trim_end().as_bytes().to_vec(),
            Ok((2, 0, None)),
        ),
        (
            "json invalid line",
            b"{\"ts\":1.5,\"uid\":\"a\"}\n{\"ts\":\n{\"ts\":2.5,\"uid\":\"b\"}\n".to_vec(),
            Ok((2, 1, Some(2))),
        ),
        (
            "json not an object",
            b"{\"ts\":1.5}\n[1,2]\n".to_vec(),
            Ok((1, 1, Some(2))),
        ),
        (
            "json bad ts",
            b"{\"ts\":\"soon\"}\n{\"ts\":3}\n".to_vec(),
            Ok((1, 1, Some(1))),
        ),
    ];
    for (name, input, want) in cases {
        let got = from_bytes(&input);
        match (want, got) {
            (Ok((rows, skipped, first)), Ok(log)) => {
                assert_eq!(log.rows(), rows, "{name}: rows");
                assert_eq!(
                    log.skipped.count, skipped,
                    "{name}: skipped {:?}",
                    log.skipped.first
                );
                assert_eq!(
                    log.skipped.first.first().map(|s| s.line),
                    first,
                    "{name}: first skipped line"
                );
            }
            (Err(text), Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains(text), "{name}: {msg}");
                assert!(msg.starts_with("input:"), "{name}: names the input: {msg}");
            }
            (want, got) => panic!(
                "{name}: wanted {want:?}, got {:?}",
                got.map(|l| (l.rows(), l.skipped))
            ),
        }
    }
}

#[test]
fn escapes_and_separators_are_decoded() {
    let text = "#separator \\x7c\n#set_separator|;\n#empty_field|EMPTY\n#unset_field|NULL\n#fields|uid|note|tags|n\n#types|string|string|set[string]|count\nC1|a\\x7cb\\x1b[31m|x;y|NULL\nC2|EMPTY|EMPTY|7\n";
    let log = from_bytes(text.as_bytes()).unwrap();
    assert_eq!(log.rows(), 2);
    let note = log.frame.column("note").unwrap().str().unwrap().clone();
    assert_eq!(note.get(0), Some("a|b\u{1b}[31m"));
    assert_eq!(note.get(1), Some(""));
    let n = log
        .frame
        .column("n")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let n = n.i64().unwrap();
    assert_eq!(n.get(0), None);
    assert_eq!(n.get(1), Some(7));
    let tags = log.frame.column("tags").unwrap().list().unwrap().clone();
    let first = tags.get_as_series(0).unwrap();
    assert_eq!(first.str().unwrap().get(1), Some("y"));
    assert_eq!(tags.get_as_series(1).unwrap().len(), 0);
}

/// An integer column whose values all fit 32 bits is held in 32 bits, with the same
/// values (unset kept unset); one with a larger value keeps 64 bits and its values; the
/// rows print as the log wrote them either way.
#[test]
fn integer_columns_are_held_in_32_bits_when_they_fit() {
    let text =
        "#separator \\x09\n#fields\tuid\tsmall\tbig\tneg\n#types\tstring\tcount\tcount\tint\n\
                C1\t2147483647\t2147483648\t-2147483648\nC2\t-\t5\t-7\n";
    let log = from_bytes(text.as_bytes()).unwrap();
    let f = &log.frame;
    assert_eq!(f.column("small").unwrap().dtype(), &DataType::Int32);
    assert_eq!(f.column("neg").unwrap().dtype(), &DataType::Int32);
    assert_eq!(f.column("big").unwrap().dtype(), &DataType::Int64);
    let values = |c: &str| -> Vec<Option<i64>> {
        let s = f.column(c).unwrap().cast(&DataType::Int64).unwrap();
        s.i64().unwrap().iter().collect()
    };
    assert_eq!(values("small"), vec![Some(2147483647), None]);
    assert_eq!(values("big"), vec![Some(2147483648), Some(5)]);
    assert_eq!(values("neg"), vec![Some(-2147483648), Some(-7)]);
    for (c, want) in [
        ("small", ["2147483647", "-"]),
        ("neg", ["-2147483648", "-7"]),
    ] {
        let cells = ingest::Cells::of(f, c);
        assert_eq!([cells.get(0), cells.get(1)], want.map(String::from), "{c}");
        assert_eq!(ingest::cell(f, c, 0), want[0], "{c}");
    }
}

#[test]
fn concatenated_logs_with_different_fields_join_by_name() {
    let a = "#separator \\x09\n#fields\tts\tuid\tx\n#types\ttime\tstring\tcount\n1.0\tA\t1\n";
    let b = "#separator \\x09\n#fields\tts\tuid\ty\n#types\ttime\tstring\tstring\n2.0\tB\tq\n";
    let log = from_bytes(format!("{a}{b}").as_bytes()).unwrap();
    assert_eq!(log.rows(), 2);
    let x = log
        .frame
        .column("x")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let x = x.i64().unwrap();
    assert_eq!((x.get(0), x.get(1)), (Some(1), None));
    let y = log.frame.column("y").unwrap().str().unwrap().clone();
    assert_eq!((y.get(0), y.get(1)), (None, Some("q")));
}

#[test]
fn iot23_combined_label_column_is_split_and_aliases_map() {
    let text = "#separator \\x09\n#fields\tts\tsourceAddress\tdestinationPort\tprotocol\ttunnel_parents   label   detailed-label\n#types\ttime\taddr\tport\tenum\tset[string]   string   string\n1.0\t10.0.0.1\t23\ttcp\t-   Malicious   PartOfAHorizontalPortScan\n2.0\t10.0.0.2\t80\ttcp\t(empty)   Benign   -\n";
    let log = from_bytes(text.as_bytes()).unwrap();
    assert_eq!(log.rows(), 2);
    let names: Vec<String> = log
        .frame
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "ts",
            "id.orig_h",
            "id.resp_p",
            "proto",
            "tunnel_parents",
            "label",
            "detailed-label"
        ]
    );
    let label = log.frame.column("label").unwrap().str().unwrap().clone();
    assert_eq!(
        (label.get(0), label.get(1)),
        (Some("Malicious"), Some("Benign"))
    );
    let det = log
        .frame
        .column("detailed-label")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert_eq!(
        (det.get(0), det.get(1)),
        (Some("PartOfAHorizontalPortScan"), None)
    );
}

#[test]
fn missing_file_and_directory_are_refused() {
    let e = ingest::load(&[PathBuf::from("/nonexistent/conn.log")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/conn.log: cannot read"),
        "{e}"
    );
    let dir = std::env::temp_dir();
    let e = ingest::load(std::slice::from_ref(&dir)).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
}

#[test]
fn gzip_input_reads_like_plain_and_the_input_is_not_written() {
    let text = format!("{HEADER}{}{}", row(1), row(2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let before = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let log = ingest::load(std::slice::from_ref(&path)).unwrap();
    assert_eq!(log.rows(), 2);
    assert!(log.files[0].gzip);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    // A truncated gzip is refused.
    let cut = &before[..before.len() / 2];
    let e = ingest::load_bytes("cut.gz", cut).unwrap_err();
    assert!(e.to_string().contains("gzip"), "{e}");
}

#[test]
fn over_long_lines_are_skipped_with_their_own_line_numbers() {
    // Twice the limit: a line is dropped unread once the reader holds more than the
    // limit of it without its end.
    let long = "x".repeat(2 * ingest::MAX_LINE);
    // Header lines 1-7, rows on lines 8, 10 and 12, over-long lines 9 and 11.
    let text = format!("{HEADER}{}{long}\n{}{long}\n{}", row(1), row(2), row(3));
    let log = from_bytes(text.as_bytes()).unwrap();
    assert_eq!(log.rows(), 3);
    let lines: Vec<u64> = log.skipped.first.iter().map(|s| s.line).collect();
    assert_eq!(lines, [9, 11]);
    assert!(log.skipped.first[0].reason.contains("longer than"));

    // One at the very end, with no newline after it, is counted too.
    let text = format!("{HEADER}{}{long}", row(1));
    let log = from_bytes(text.as_bytes()).unwrap();
    assert_eq!(log.rows(), 1);
    assert_eq!(log.skipped.count, 1);
    assert_eq!(log.skipped.first[0].line, 9);

    // A file of nothing else is refused as having no valid records, not as empty.
    let e = from_bytes(format!("{long}\n").as_bytes()).unwrap_err();
    assert!(e.to_string().contains("no valid records"), "{e}");
}

/// A column's cells read through `Cells` (a chunk found by search) are those `cell`
/// writes, on a frame of several chunks with times, lists, numbers and text.
#[test]
fn cells_read_by_chunk_are_the_cells() {
    let log = ingest::load(&[
        common::data("zat/dns.log"),
        common::data("zed/dns.log.gz"),
        common::data("zat/dns.log"),
    ])
    .unwrap();
    let chunks = |f: &polars::prelude::DataFrame, c: &str| {
        f.column(c).unwrap().as_materialized_series().n_chunks()
    };
    // Plain text stays in the files' pieces (numbers and times are joined); stacked on
    // itself, every column of the frame is in pieces.
    assert!(chunks(&log.frame, "uid") >= 3);
    let stacked = log.frame.vstack(&log.frame).unwrap();
    assert!(chunks(&stacked, "ts") >= 2);
    for frame in [&log.frame, &stacked] {
        for name in frame.get_column_names() {
            let cells = ingest::Cells::of(frame, name.as_str());
            let rows = frame.height();
            for r in (0..rows).step_by(37).chain([0, rows - 1]) {
                assert_eq!(
                    cells.get(r),
                    ingest::cell(frame, name.as_str(), r),
                    "{name} {r}"
                );
            }
        }
    }
    assert_eq!(ingest::Cells::of(&log.frame, "nope").get(0), "-");
}

#[test]
fn repeated_text_is_held_as_a_dictionary_with_every_value_as_written() {
    let rel = "stratosphere/010-mixed.conn.log.labeled";
    let log = load(rel);
    // The file's own fields, split by hand: the values the log wrote.
    let text = std::fs::read_to_string(common::data(rel)).unwrap();
    let names: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), log.rows());
    for name in [
        "proto",
        "service",
        "conn_state",
        "history",
        "id.resp_h",
        "label",
    ] {
        let col = log.frame.column(name).unwrap();
        assert!(
            matches!(col.dtype(), DataType::Categorical(..)),
            "{name} is held as a dictionary, not {:?}",
            col.dtype()
        );
        let j = names.iter().position(|n| *n == name).unwrap();
        let want: Vec<Option<&str>> = rows
            .iter()
            .map(|r| match r[j] {
                "-" => None,
                "(empty)" => Some(""),
                v => Some(v),
            })
            .collect();
        let got = zsift::ingest::text::Texts::of(col).unwrap().to_vec();
        assert_eq!(got, want, "{name}");
        // And cell by cell, as the views and exports read it.
        for i in [0, rows.len() / 2, rows.len() - 1] {
            assert_eq!(
                zsift::ingest::cell(&log.frame, name, i),
                want[i].unwrap_or("-"),
                "{name} row {i}"
            );
        }
    }
    // Unique values (uids) stay strings: a dictionary of them would only add.
    assert_eq!(log.frame.column("uid").unwrap().dtype(), &DataType::String);
}
