//! Malformed and hostile input through the real binary: every case is written to a file,
//! loaded by `zsift summary --json` and `zsift score`, and must end as the README's
//! malformed-input table says: rows kept with the bad lines skipped and counted (with
//! their line numbers), or refused with exit status 2 and a message naming the file and
//! the reason. Never a panic, and the input file is never changed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

/// Header of a small conn log: 7 header lines, so the first record is line 8.
const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\n";

/// The fields of record `i`, in header order.
fn fields(i: usize) -> Vec<String> {
    vec![
        format!("1600000000.{i:06}"),
        format!("C{i}"),
        format!("10.0.0.{}", i % 5 + 1),
        "5000".into(),
        "10.0.0.200".into(),
        "80".into(),
        "tcp".into(),
        "http".into(),
        format!("0.{i}"),
        format!("{}", i * 7 % 13),
        format!("{}", i * 3),
        "SF".into(),
    ]
}

/// Record `i` with field `k` replaced by `v`.
fn row_with(i: usize, k: usize, v: &str) -> String {
    let mut f = fields(i);
    f[k] = v.to_string();
    f.join("\t") + "\n"
}

fn row(i: usize) -> String {
    fields(i).join("\t") + "\n"
}

/// Records `from..=to`.
fn rows(from: usize, to: usize) -> String {
    (from..=to).map(row).collect()
}

/// A good log of 30 records.
fn good() -> String {
    format!("{HEADER}{}", rows(1, 30))
}

/// 30 JSON records.
fn json_rows() -> String {
    (1..=30)
        .map(|i| {
            format!(
                "{{\"ts\":{}.5,\"uid\":\"J{i}\",\"id.orig_h\":\"10.0.0.{}\",\"id.orig_p\":5000,\"id.resp_h\":\"10.0.0.9\",\"id.resp_p\":443,\"proto\":\"tcp\",\"service\":\"ssl\",\"duration\":{i}.25,\"orig_bytes\":{},\"resp_bytes\":{},\"conn_state\":\"SF\"}}\n",
                1_600_000_000 + i,
                i % 5,
                i * 3,
                i * 7 % 11
            )
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Deterministic bytes that look like binary data.
fn junk(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// What a case must end in.
#[derive(Debug, Clone)]
enum Want {
    /// Loaded: rows kept, lines skipped, the first skipped lines' numbers, and a text
    /// in the first skipped line's reason.
    Kept {
        rows: u64,
        skipped: u64,
        lines: Vec<u64>,
        reason: &'static str,
    },
    /// Refused with exit status 2: a text in the message (after `zsift: FILE: `).
    Refused(&'static str),
}

fn kept(rows: u64, skipped: u64, lines: &[u64], reason: &'static str) -> Want {
    Want::Kept {
        rows,
        skipped,
        lines: lines.to_vec(),
        reason,
    }
}

struct Case {
    name: &'static str,
    /// File name in the temporary folder (its ending tells nothing to zsift).
    file: &'static str,
    data: Vec<u8>,
    want: Want,
}

fn case(name: &'static str, file: &'static str, data: impl Into<Vec<u8>>, want: Want) -> Case {
    Case {
        name,
        file,
        data: data.into(),
        want,
    }
}

fn cases() -> Vec<Case> {
    let good = good();
    let head = |s: &str| format!("{HEADER}{s}");
    let mut v = vec![
        case("good log", "good.log", good.clone(), kept(30, 0, &[], "")),
        case(
            "a line with too few fields",
            "few.log",
            head(&format!("{}1600000000.5\tCx\t10.0.0.1\n{}", row(1), rows(2, 30))),
            kept(30, 1, &[9], "expected 12 fields, found 3"),
        ),
        case(
            "a line with too many fields",
            "many.log",
            head(&format!(
                "{}{}",
                rows(1, 29),
                row(30).replace("\tSF\n", "\tSF\textra\tmore\n")
            )),
            kept(29, 1, &[37], "expected 12 fields, found 14"),
        ),
        case(
            "a line with no tab at all",
            "notab.log",
            head(&format!("{}garbage\n{}", rows(1, 10), rows(11, 30))),
            kept(30, 1, &[18], "found 1"),
        ),
        case(
            "a 10 MB field",
            "hugefield.log",
            head(&format!(
                "{}{}",
                row_with(1, 1, &"U".repeat(10 << 20)),
                rows(2, 30)
            )),
            kept(30, 0, &[], ""),
        ),
        case(
            "a 17 MiB line that ends within the same read",
            "longline17.log",
            head(&format!(
                "{}{}",
                row_with(1, 1, &"U".repeat(17 << 20)),
                rows(2, 30)
            )),
            kept(29, 1, &[8], "line longer than 16777216 bytes"),
        ),
        case(
            "a 40 MiB line with no separator",
            "longline40.log",
            head(&format!("{}{}\n{}", row(1), "x".repeat(40 << 20), rows(2, 30))),
            kept(30, 1, &[9], "line longer than 16777216 bytes"),
        ),
        case(
            "nan and inf in an interval",
            "nan_interval.log",
            head(&format!(
                "{}{}{}{}",
                row_with(1, 8, "nan"),
                row_with(2, 8, "inf"),
                row_with(3, 8, "-inf"),
                rows(4, 30)
            )),
            kept(30, 0, &[], ""),
        ),
        case(
            "nan, inf, a negative, an exponent and an overflow in a count",
            "bad_counts.log",
            head(&format!(
                "{}{}{}{}{}{}",
                row_with(1, 9, "nan"),
                row_with(2, 9, "inf"),
                row_with(3, 9, "-3"),
                row_with(4, 9, "1e3"),
                row_with(5, 9, "99999999999999999999"),
                rows(6, 30)
            )),
            kept(25, 5, &[8, 9, 10, 11, 12], "bad integer \"nan\""),
        ),
        case(
            "a negative port",
            "neg_port.log",
            head(&format!("{}{}", row_with(1, 5, "-80"), rows(2, 30))),
            kept(29, 1, &[8], "negative"),
        ),
        case(
            "timestamps outside years 0-9999, nan and unparsable",
            "bad_ts.log",
            head(&format!(
                "{}{}{}{}{}{}{}",
                row_with(1, 0, "253402300800"),
                row_with(2, 0, "-62167219201"),
                row_with(3, 0, "1e20"),
                row_with(4, 0, "nan"),
                row_with(5, 0, "yesterday"),
                row_with(6, 0, "-"),
                rows(7, 30)
            )),
            kept(25, 5, &[8, 9, 10, 11, 12], "bad time"),
        ),
        case(
            "a second header block with other fields",
            "two_headers.log",
            format!(
                "{good}{}{}",
                HEADER.replace("\tconn_state\n", "\tnote\n"),
                row_with(31, 11, "hello")
            ),
            kept(31, 0, &[], ""),
        ),
        case(
            "a second header block that retypes a column",
            "retyped.log",
            format!(
                "{good}{}{}",
                HEADER.replace("count\tcount\tstring\n", "count\tcount\tcount\n"),
                row_with(31, 11, "7")
            ),
            kept(31, 0, &[], ""),
        ),
        case(
            "#fields with no #types",
            "no_types.log",
            HEADER
                .lines()
                .filter(|l| !l.starts_with("#types"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                + &rows(1, 30),
            kept(30, 0, &[], ""),
        ),
        case(
            "a #separator change and a new header mid-file",
            "sep_change.log",
            format!(
                "{good}#separator \\x7c\n#fields|ts|uid|orig_bytes\n#types|time|string|count\n1600000001.0|P1|5\n1600000002.0|P2|x\n"
            ),
            kept(31, 1, &[42], "bad integer \"x\""),
        ),
        case(
            "#close in the middle, then more records",
            "close_mid.log",
            format!(
                "{HEADER}{}#close\t2020-09-13-12-27-00\n{}",
                rows(1, 10),
                rows(11, 30)
            ),
            kept(30, 0, &[], ""),
        ),
        case(
            "a record cut short by a #close on its line",
            "cut_by_close.log",
            format!(
                "{HEADER}{}1600000000.5\tCcut\t10.0#close\t2020-09-13-12-27-00\n{}",
                rows(1, 10),
                rows(11, 30)
            ),
            kept(30, 1, &[18], "expected 12 fields, found 4"),
        ),
        case(
            "comments only",
            "comments.log",
            "#hello\n#world\n# more\n",
            Want::Refused("not a Zeek log: no #fields header"),
        ),
        case(
            "a header with no records",
            "header_only.log",
            HEADER,
            Want::Refused("not a Zeek log: no records (header only)"),
        ),
        case(
            "every record malformed",
            "all_bad.log",
            head(&"1\t2\t3\n".repeat(5)),
            Want::Refused("no valid records: all 5 data lines are malformed (line 8:"),
        ),
        case(
            "records before any #fields",
            "data_first.log",
            format!("#separator \\x09\n#path\tconn\n{}", rows(1, 3)),
            Want::Refused("not a Zeek log: line 3: data before any #fields header"),
        ),
        case(
            "invalid UTF-8 in a string",
            "bad_utf8.log",
            head(&format!("{}{}{}", row(1), row_with(2, 1, "XQ"), rows(3, 30)))
                .into_bytes()
                .into_iter()
                .map(|b| if b == b'Q' { 0xff } else { b })
                .collect::<Vec<u8>>(),
            kept(30, 0, &[], ""),
        ),
        case(
            "invalid UTF-8 in a count",
            "bad_utf8_count.log",
            [
                HEADER.as_bytes(),
                &row_with(1, 9, "Z").into_bytes(),
                rows(2, 30).as_bytes(),
            ]
            .concat()
            .into_iter()
            .map(|b| if b == b'Z' { 0xfe } else { b })
            .collect::<Vec<u8>>(),
            kept(29, 1, &[8], "bad integer"),
        ),
        case(
            "NUL bytes in a record",
            "nul_line.log",
            head(&format!("{}{}{}", rows(1, 5), row_with(6, 1, "C\0\0\0"), rows(7, 30))),
            kept(29, 1, &[13], "NUL byte"),
        ),
        case(
            "a run of NUL bytes after a crash",
            "nul_run.log",
            [
                head(&rows(1, 20)).into_bytes(),
                vec![0; 4096],
                b"\n".to_vec(),
                rows(21, 30).into_bytes(),
            ]
            .concat(),
            kept(30, 1, &[28], "NUL byte"),
        ),
        case(
            "NUL bytes in the first line",
            "nul_first.log",
            [b"\0\0\0".as_slice(), good.as_bytes()].concat(),
            Want::Refused("not a Zeek log: binary data (NUL bytes)"),
        ),
        case(
            "binary garbage",
            "garbage.bin",
            [b"\x7fELF\x02\x01\x01\0".as_slice(), &junk(4000, 1)].concat(),
            Want::Refused("not a Zeek log: binary data"),
        ),
        case(
            "a truncated gzip",
            "truncated.log.gz",
            {
                let g = gzip(good.as_bytes());
                g[..g.len() / 2].to_vec()
            },
            Want::Refused("not a Zeek log: corrupt or truncated gzip data"),
        ),
        case(
            "a 0-byte .gz",
            "empty.log.gz",
            Vec::new(),
            Want::Refused("not a Zeek log: empty file"),
        ),
        case(
            "garbage behind the gzip magic",
            "magic.gz",
            [b"\x1f\x8b".as_slice(), &junk(300, 2)].concat(),
            Want::Refused("not a Zeek log: corrupt or truncated gzip data"),
        ),
        case(
            "a gzip of garbage",
            "garbage.gz",
            gzip(&[b"\0".as_slice(), &junk(3000, 3)].concat()),
            Want::Refused("not a Zeek log: binary data"),
        ),
        case(
            "a gzip of an empty file",
            "nothing.gz",
            gzip(b""),
            Want::Refused("not a Zeek log: empty file"),
        ),
        case(
            "concatenated gzip members",
            "members.log.gz",
            [
                gzip(head(&rows(1, 10)).as_bytes()),
                gzip(head(&rows(11, 30)).as_bytes()),
            ]
            .concat(),
            kept(30, 0, &[], ""),
        ),
        case(
            "CRLF line ends",
            "crlf.log",
            good.replace('\n', "\r\n"),
            kept(30, 0, &[], ""),
        ),
        case(
            "a UTF-8 byte-order mark",
            "bom.log",
            format!("\u{feff}{good}"),
            kept(30, 0, &[], ""),
        ),
        case(
            "a byte-order mark, CRLF and JSON",
            "bom.json",
            format!("\u{feff}{}", json_rows().replace('\n', "\r\n")),
            kept(30, 0, &[], ""),
        ),
        case(
            "no final newline",
            "no_eol.log",
            good.trim_end(),
            kept(30, 0, &[], ""),
        ),
        case(
            "an empty file",
            "empty.log",
            "",
            Want::Refused("not a Zeek log: empty file"),
        ),
        case(
            "blank lines only",
            "blank.log",
            "\n\n   \n\t\n",
            Want::Refused("not a Zeek log: empty file"),
        ),
        case(
            "CSV",
            "conn.csv",
            "ts,uid,orig_bytes\n1,C1,3\n",
            Want::Refused("not a Zeek log: neither Zeek TSV (no #fields header) nor JSON lines"),
        ),
        case(
            "escapes and terminal control sequences in values",
            "escapes.log",
            head(&format!(
                "{}{}",
                row_with(1, 7, "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x09tab"),
                rows(2, 30)
            )),
            kept(30, 0, &[], ""),
        ),
        case(
            "IoT-23's combined column with a part missing",
            "iot23.log",
            "#separator \\x09\n#fields\tts\tid.orig_h\torig_bytes\ttunnel_parents   label   detailed-label\n#types\ttime\taddr\tcount\tset[string]   string   string\n1.0\t10.0.0.1\t5\t-   Benign   -\n2.0\t10.0.0.2\t6\t-   Malicious\n3.0\t10.0.0.3\t7\t-   Benign   -\n",
            kept(2, 1, &[5], "three spaces"),
        ),
        case(
            "more malformed lines than are listed",
            "many_bad.log",
            head(&format!("{}{}", "x\n".repeat(25), rows(1, 30))),
            kept(30, 25, &(8..28).collect::<Vec<u64>>(), "expected 12 fields"),
        ),
        case(
            "JSON values of the wrong type",
            "types.json",
            format!(
                "{}{}{}{}{}",
                json_rows(),
                "{\"ts\":1600000099,\"uid\":\"W1\",\"orig_bytes\":\"lots\"}\n",
                "{\"ts\":1600000099,\"uid\":\"W2\",\"duration\":[1,2]}\n",
                "{\"ts\":1600000099,\"uid\":\"W3\",\"resp_bytes\":true}\n",
                "{\"ts\":1600000099,\"uid\":4,\"service\":5,\"orig_bytes\":\"12\"}\n"
            ),
            kept(31, 3, &[31, 32, 33], "bad number in orig_bytes: \"lots\""),
        ),
        case(
            "JSON nested objects",
            "nested.json",
            format!(
                "{}{}",
                "{\"ts\":1600000000.5,\"id\":{\"orig_h\":\"10.0.0.1\",\"resp_h\":\"10.0.0.9\",\"deep\":{\"x\":{\"y\":1}}},\"orig_bytes\":1}\n",
                json_rows()
            ),
            kept(31, 0, &[], ""),
        ),
        case(
            "JSON nested 100,000 deep",
            "deep.json",
            format!(
                "{}{}{}\n",
                json_rows(),
                "{\"a\":".repeat(100_000),
                "}".repeat(100_000)
            ),
            kept(30, 1, &[31], "recursion limit"),
        ),
        case(
            "JSON with a truncated last line",
            "truncated.json",
            format!("{}{{\"ts\":1600000099,\"uid\":\"T\",\"orig_", json_rows()),
            kept(30, 1, &[31], "invalid JSON: EOF"),
        ),
        case(
            "JSON lines that are not objects",
            "arrays.json",
            format!("{}[1,2]\n\"text\"\n42\nnull\n", json_rows()),
            kept(30, 4, &[31, 32, 33, 34], "not a JSON object"),
        ),
        case(
            "JSON negative counts, huge numbers and times out of range",
            "numbers.json",
            format!(
                "{}{}",
                json_rows(),
                "{\"ts\":1600000099,\"orig_bytes\":-5}\n{\"ts\":1600000099,\"orig_pkts\":-0.5}\n{\"ts\":1600000099,\"duration\":1e400}\n{\"ts\":1e20}\n{\"ts\":-1e12}\n{\"ts\":\"10000-01-01T00:00:00Z\"}\n"
            ),
            kept(30, 6, &[31, 32, 33, 34, 35, 36], "bad count (negative) in orig_bytes"),
        ),
        case(
            "Zeek TSV records inside a JSON log",
            "mixed.json",
            format!("{}{}", json_rows(), rows(1, 2)),
            kept(30, 2, &[31, 32], "invalid JSON"),
        ),
    ];
    // Past the loading limits (README: "Limits"): refused, never loaded until memory
    // runs out.
    let wide_header: String = (0..300).map(|i| format!("\tf{i}")).collect();
    v.push(case(
        "a TSV header of 300 fields",
        "wide.log",
        format!(
            "#separator \\x09\n#fields\tts{wide_header}\n1.0{}\n",
            "\t1".repeat(300)
        ),
        Want::Refused("more than 256 distinct fields"),
    ));
    v.push(case(
        "JSON records each with a new key",
        "keys.json",
        (0..400)
            .map(|i| format!("{{\"ts\":{}.0,\"uid\":\"C{i}\",\"k{i}\":{i}}}\n", 1 + i))
            .collect::<String>(),
        Want::Refused("more than 256 distinct fields within its first 400 lines"),
    ));
    v.push(case(
        "header blocks each adding a field",
        "blocks.log",
        (0..300)
            .map(|i| {
                let extra: String = (0..i).map(|j| format!("\tx{j}")).collect();
                format!(
                    "#separator \\x09\n#fields\tts{extra}\n1.0{}\n",
                    "\t1".repeat(i)
                )
            })
            .collect::<String>(),
        Want::Refused("more than 256 distinct fields"),
    ));
    // 70 MB of one repeated record: gzip packs it about 1,000 times.
    let record = "{\"ts\":1.0,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\",\"id.resp_h\":\"10.0.0.2\",\"proto\":\"tcp\"}\n";
    v.push(case(
        "a gzip bomb",
        "bomb.json.gz",
        gzip(record.repeat((70 << 20) / record.len()).as_bytes()),
        Want::Refused("a decompression bomb, not a log (--max-gzip-ratio"),
    ));
    // A separator that cannot be one: the tab stays (the records load), or, where the
    // header then cannot be read, the message says why.
    v.push(case(
        "a #separator escape that does not decode, tab-separated records",
        "sep-x.log",
        good.replacen("#separator \\x09", "#separator \\x", 1),
        kept(30, 0, &[], ""),
    ));
    v.push(case(
        "a line end as #separator",
        "sep-nl.log",
        "#separator \\x0a\n#fields ts uid\n1.0 C1\n",
        Want::Refused("bad #separator \"\\\\x0a\""),
    ));
    v.push(case(
        "the smallest int",
        "min.log",
        "#separator \\x09\n#fields\tts\tuid\tn\n#types\ttime\tstring\tint\n1.0\tC1\t-9223372036854775808\n2.0\tC2\t5\n",
        kept(2, 0, &[], ""),
    ));
    // Zeek JSON with a raw control byte inside a string.
    v.push(case(
        "JSON with a raw NUL inside a string",
        "nul.json",
        format!("{}{{\"ts\":1.5,\"uid\":\"a\0b\"}}\n", json_rows()),
        kept(30, 1, &[31], "invalid JSON"),
    ));
    v
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    let out = zsift().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "zsift {args:?} panicked: {err}"
    );
    assert!(
        out.status.code().is_some(),
        "zsift {args:?} was killed by a signal: {err}"
    );
    out
}

/// The bytes and modification time of a file, to show it was not touched.
fn fingerprint(p: &Path) -> (Vec<u8>, SystemTime) {
    let m = std::fs::metadata(p).unwrap();
    (std::fs::read(p).unwrap(), m.modified().unwrap())
}

/// Checks a refusal: exit 2, nothing on stdout, `zsift: FILE: REASON` on stderr.
fn assert_refused(name: &str, out: &Output, path: &Path, text: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {err}");
    assert!(out.stdout.is_empty(), "{name}: stdout not empty");
    let prefix = format!("zsift: {}: ", path.display());
    assert!(err.starts_with(&prefix), "{name}: names the file: {err}");
    assert!(err.contains(text), "{name}: wanted {text:?} in {err}");
    assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
}

/// Checks `zsift score --format json --all` output: valid JSON (so no NaN or infinity), one
/// object per row, every score a number in [0, 1].
fn assert_score_json(name: &str, out: &Output, rows: u64) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{name}: score: {err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: score output is not JSON: {e}"));
    let a = v.as_array().unwrap();
    assert_eq!(a.len() as u64, rows, "{name}: score rows");
    for r in a {
        let s = r["score"].as_f64();
        assert!(s.is_some_and(|s| (0.0..=1.0).contains(&s)), "{name}: {r}");
        assert!(r["votes"].as_u64().is_some(), "{name}: {r}");
    }
}

#[test]
fn every_bad_input_has_its_documented_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    assert!(cases.len() >= 40, "{}", cases.len());
    for c in &cases {
        let path = dir.path().join(c.file);
        std::fs::write(&path, &c.data).unwrap();
        // An old modification time, so that a write during the run would show.
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let before = fingerprint(&path);
        let summary = run(&["summary".as_ref(), "--json".as_ref(), path.as_os_str()]);
        let score = run(&[
            "score".as_ref(),
            path.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
            "--all".as_ref(),
        ]);
        match &c.want {
            Want::Refused(text) => {
                assert_refused(c.name, &summary, &path, text);
                assert_refused(c.name, &score, &path, text);
            }
            Want::Kept {
                rows,
                skipped,
                lines,
                reason,
            } => {
                let err = String::from_utf8_lossy(&summary.stderr);
                assert_eq!(summary.status.code(), Some(0), "{}: {err}", c.name);
                let v: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
                assert_eq!(v["rows"], *rows, "{}: rows", c.name);
                assert_eq!(
                    v["skipped"]["count"], *skipped,
                    "{}: skipped {}",
                    c.name, v["skipped"]
                );
                let first = v["skipped"]["first"].as_array().unwrap();
                let got: Vec<u64> = first.iter().map(|s| s["line"].as_u64().unwrap()).collect();
                assert_eq!(&got, lines, "{}: skipped lines {}", c.name, v["skipped"]);
                for s in first {
                    assert_eq!(s["file"], path.display().to_string(), "{}", c.name);
                }
                if let Some(s) = first.first() {
                    let r = s["reason"].as_str().unwrap();
                    assert!(r.contains(reason), "{}: reason {r:?}", c.name);
                }
                assert_score_json(c.name, &score, *rows);
            }
        }
        assert!(
            before == fingerprint(&path),
            "{}: the input changed",
            c.name
        );
    }
}

/// Values the table above only counts: what the kept rows hold.
#[test]
fn kept_rows_hold_the_right_values() {
    let dir = tempfile::tempdir().unwrap();
    let by_name = |file: &str| cases().into_iter().find(|c| c.file == file).unwrap();
    let csv_of = |file: &str| -> Vec<Vec<String>> {
        let c = by_name(file);
        let path = dir.path().join(file);
        std::fs::write(&path, &c.data).unwrap();
        let out = run(&[
            "export".as_ref(),
            path.as_os_str(),
            "--out".as_ref(),
            dir.path().join(format!("{file}.out")).as_os_str(),
            "--no-umap".as_ref(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{file}");
        let text =
            std::fs::read_to_string(dir.path().join(format!("{file}.out/rows.csv"))).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let mut out = vec![h];
        out.extend(
            r.records()
                .map(|x| x.unwrap().iter().map(String::from).collect()),
        );
        out
    };
    let col = |t: &[Vec<String>], name: &str| -> Vec<String> {
        let i = t[0].iter().position(|h| h == name).unwrap();
        t[1..].iter().map(|r| r[i].clone()).collect()
    };
    // nan and inf in an interval are unset: empty in the CSV, and the rows are kept.
    let t = csv_of("nan_interval.log");
    let d = col(&t, "duration");
    assert_eq!(&d[..4], ["", "", "", "0.4"], "{d:?}");
    // The byte-order mark does not end up in the first column's name.
    let t = csv_of("bom.log");
    assert_eq!(t[0][0], "ts");
    assert_eq!(col(&t, "uid")[0], "C1");
    // Invalid UTF-8 in a string becomes U+FFFD.
    let t = csv_of("bad_utf8.log");
    assert_eq!(col(&t, "uid")[1], "X\u{fffd}");
    // A number written as a string in JSON is read as the number; a number where text is
    // expected is read as text.
    let t = csv_of("types.json");
    let uid = col(&t, "uid");
    let last = uid.iter().position(|u| u == "4").expect("uid 4 as text");
    assert_eq!(col(&t, "orig_bytes")[last], "12");
    assert_eq!(col(&t, "service")[last], "5");
    // A second header block's new column is null before it, and its records are kept.
    let t = csv_of("two_headers.log");
    let note = col(&t, "note");
    assert_eq!((note[0].as_str(), note[30].as_str()), ("", "hello"));
}

/// Control characters from a log never reach a terminal through the score table.
#[test]
fn escapes_in_values_never_reach_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let c = cases()
        .into_iter()
        .find(|c| c.file == "escapes.log")
        .unwrap();
    let path = dir.path().join(c.file);
    std::fs::write(&path, &c.data).unwrap();
    let out = run(&["score".as_ref(), path.as_os_str(), "--all".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        !s.chars()
            .any(|c| c != '\n' && zsift::sanitize::is_unsafe(c)),
        "{s:?}"
    );
    assert!(s.contains("\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J"), "{s}");
}

#[test]
fn a_directory_a_missing_file_and_one_bad_file_among_good_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).unwrap();
    for cmd in ["summary", "score", "stats", "eval"] {
        let out = run(&[cmd.as_ref(), sub.as_os_str()]);
        // An empty directory: nothing in it to load.
        assert_refused(
            cmd,
            &out,
            &sub,
            "not a Zeek log: a directory with no conn, dns, http or ssl log in it",
        );
        let missing = dir.path().join("missing.log");
        let out = run(&[cmd.as_ref(), missing.as_os_str()]);
        assert_refused(cmd, &out, &missing, "cannot read: No such file");
    }
    let good = dir.path().join("good.log");
    let bad = dir.path().join("bad.log");
    std::fs::write(&good, self::good()).unwrap();
    std::fs::write(&bad, HEADER).unwrap();
    let out = run(&[
        "summary".as_ref(),
        good.as_os_str(),
        bad.as_os_str(),
        good.as_os_str(),
    ]);
    assert_refused("one bad file", &out, &bad, "header only");
}

/// Standard input is read like a file and named `-` in messages.
#[test]
fn bad_standard_input_is_refused_as_dash() {
    let mut child = zsift()
        .args(["summary", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(HEADER.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("zsift: -: not a Zeek log"), "{err}");
}

/// A log that grows while zsift reads it (Zeek still writing): zsift reads it up to its
/// size when opened. Every record appended is whole, so none is skipped, and the rows are
/// at least those written before the start and at most all.
#[test]
fn a_log_growing_while_it_is_read_loads_what_was_there_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("live.log");
    // Big enough that reading takes a while: 200,000 records, ~15 MB.
    let start = 200_000;
    let mut text = String::from(HEADER);
    for i in 1..=start {
        text.push_str(&row(i));
    }
    std::fs::write(&path, &text).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let path = path.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::options().append(true).open(&path).unwrap();
            let mut n = start;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // One write per batch of whole records, about 4 MB/s.
                let batch: String = (n + 1..=n + 100).map(row).collect();
                f.write_all(batch.as_bytes()).unwrap();
                n += 100;
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };
    let out = run(&["summary".as_ref(), "--json".as_ref(), path.as_os_str()]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_u64().unwrap() as usize;
    assert!(
        (start..=written).contains(&rows),
        "{rows} rows, {start} before and {written} after"
    );
    // An append is not atomic for a reader: the size taken when the file is opened can
    // fall inside a record the writer is still writing. That one record, the last line
    // read, is then skipped as malformed (the README says so); no other.
    let skipped = v["skipped"]["count"].as_u64().unwrap();
    assert!(skipped <= 1, "{}", v["skipped"]);
    if skipped == 1 {
        let line = v["skipped"]["first"][0]["line"].as_u64().unwrap() as usize;
        let header_lines = HEADER.lines().count();
        assert_eq!(line, header_lines + rows + 1, "{}", v["skipped"]);
    }
    assert!(written > start, "the writer appended while zsift read");
}

/// Endless input with no line end (`/dev/zero`, as a file and as standard input) is
/// refused as binary from its first bytes, not read forever.
#[test]
fn endless_binary_input_is_refused() {
    let out = run(&["summary".as_ref(), "/dev/zero".as_ref()]);
    assert_refused("/dev/zero", &out, Path::new("/dev/zero"), "binary data");
    let out = zsift()
        .args(["summary", "-"])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    assert_refused("stdin", &out, Path::new("-"), "binary data");
}

/// Files that report a size of 0 but have content (those under /proc) are read to
/// their end, not called empty.
#[test]
fn files_that_report_no_size_are_read() {
    let out = run(&["summary".as_ref(), "/proc/self/status".as_ref()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("neither Zeek TSV"), "{err}");
}

/// A log with its own `_file` field, loaded with another file: both columns are kept
/// (the log's own under `_file_2`) and every row is loaded.
#[test]
fn a_log_with_its_own_file_column_loads_with_others() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(
        &a,
        "{\"ts\":1.0,\"uid\":\"C1\",\"_file\":\"x\",\"id.orig_h\":\"10.0.0.1\",\"id.resp_h\":\"10.0.0.2\"}\n",
    )
    .unwrap();
    std::fs::write(&b, json_rows()).unwrap();
    let out = run(&[
        "summary".as_ref(),
        "--json".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 31);
    let names: Vec<&str> = common::column_names(&v);
    assert!(
        names.contains(&"_file") && names.contains(&"_file_2"),
        "{names:?}"
    );
}

/// Durations near the largest double (`1e308`, `1.7e308`): statistics, cluster files and
/// reasons hold finite numbers, never `inf`, `NaN` or `null` where a number belongs.
#[test]
fn huge_finite_values_give_numbers_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(HEADER);
    for i in 1..=60 {
        let v = match i {
            1 => "1e308".to_string(),
            2 => "1.7e308".to_string(),
            _ => format!("0.{i}"),
        };
        text.push_str(&row_with(i, 8, &v));
    }
    let log = dir.path().join("huge.log");
    std::fs::write(&log, text).unwrap();
    let bad = |s: &str| {
        s.contains("inf") && !s.contains("info") || s.contains("NaN") || s.contains("null")
    };
    let out = run(&["stats".as_ref(), "--json".as_ref(), log.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stats = v["stats"].to_string();
    assert!(!bad(&stats), "{stats}");
    assert!(stats.contains("duration"), "{stats}");
    let export = dir.path().join("out");
    let out = run(&[
        "export".as_ref(),
        "--no-umap".as_ref(),
        "--out".as_ref(),
        export.as_os_str(),
        log.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    for f in ["clusters.json", "clusters.txt"] {
        let t = std::fs::read_to_string(export.join(f)).unwrap();
        assert!(!bad(&t), "{f}: {t}");
    }
    let out = run(&[
        "score".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        log.as_os_str(),
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["reasons"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("duration")),
        "{reasons:?}"
    );
    for r in &reasons {
        assert!(!bad(r) && r.len() < 200, "{r}");
    }
}
