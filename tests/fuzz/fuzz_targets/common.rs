//! Invariants shared by the fuzz targets.
#![allow(dead_code)]

use polars::prelude::*;
use zsift::ingest::{self, Format, IngestError, Log, Part, SKIPPED_KEPT};

/// The name every in-memory input is loaded under.
pub const NAME: &str = "fuzz.log";

/// Lines in `text` as the loader counts them: newline-terminated lines plus a last
/// unterminated one.
pub fn line_count(text: &[u8]) -> u64 {
    let n = text.iter().filter(|&&b| b == b'\n').count() as u64;
    n + u64::from(!text.is_empty() && !text.ends_with(b"\n"))
}

pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// Checks what `load_bytes(NAME, _)` returned for an input whose decompressed text is
/// `text` (`None` when it is not known).
pub fn check_load(data: &[u8], text: Option<&[u8]>, got: &Result<Log, IngestError>) {
    match got {
        Ok(log) => {
            assert_eq!(log.files.len(), 1);
            let f = &log.files[0];
            assert_eq!(f.name, NAME);
            assert_eq!(f.gzip, is_gzip(data));
            assert!(f.rows > 0, "a loaded log has rows");
            assert_eq!(f.rows, log.rows(), "file rows = frame rows");
            assert_eq!(log.frame.height(), log.rows());
            assert!(log.frame.width() > 0, "rows without columns");
            for c in log.frame.columns() {
                assert_eq!(c.len(), log.rows(), "column {} length", c.name());
            }
            let s = &log.skipped;
            assert!(s.first.len() <= SKIPPED_KEPT);
            assert_eq!(s.first.len() as u64, s.count.min(SKIPPED_KEPT as u64));
            for w in s.first.windows(2) {
                assert!(
                    w[0].line < w[1].line,
                    "skipped lines in order: {:?}",
                    s.first
                );
            }
            for l in &s.first {
                assert_eq!(l.file, NAME);
                assert!(l.line >= 1);
                assert!(!l.reason.is_empty());
            }
            if let Some(text) = text {
                let lines = line_count(text);
                assert!(
                    log.rows() as u64 + s.count <= lines,
                    "rows {} + skipped {} > lines {lines}",
                    log.rows(),
                    s.count
                );
                if let Some(last) = s.first.last() {
                    assert!(last.line <= lines, "skipped line {} of {lines}", last.line);
                }
            }
        }
        Err(e) => {
            assert!(
                matches!(e, IngestError::NotZeek { .. } | IngestError::Limit { .. }),
                "in-memory input refused other than as not a Zeek log or past a limit: {e:?}"
            );
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("{NAME}: ")),
                "names the input: {msg}"
            );
        }
    }
}

/// Checks one parsed run of lines of `data`.
pub fn check_part(data: &[u8], part: &Part) {
    let lines = data.split(|&b| b == b'\n').count();
    assert!(part.rows() + part.skipped().len() <= lines);
    for c in part.columns() {
        assert_eq!(c.len(), part.rows(), "column {} length", c.name());
    }
    let mut names: Vec<&str> = part.columns().iter().map(|c| c.name().as_str()).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "column names are unique");
    for w in part.skipped().windows(2) {
        assert!(w[0].0 < w[1].0);
    }
    for (i, reason) in part.skipped() {
        assert!(*i < lines);
        assert!(!reason.is_empty());
    }
}

/// Two loads of the same text agree (one of them perhaps through gzip).
pub fn same_load(a: &Result<Log, IngestError>, b: &Result<Log, IngestError>) {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.rows(), b.rows());
            assert_eq!(a.skipped, b.skipped);
            assert_eq!(a.files[0].format, b.files[0].format);
            assert_eq!(a.files[0].paths, b.files[0].paths);
            same_frame(&a.frame, &b.frame);
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!(
            "loads differ: {:?} vs {:?}",
            a.as_ref().map(|l| l.rows()),
            b.as_ref().map(|l| l.rows())
        ),
    }
}

pub fn same_frame(a: &DataFrame, b: &DataFrame) {
    assert_eq!(a.get_column_names(), b.get_column_names());
    assert_eq!(a.height(), b.height());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.dtype(), y.dtype(), "column {}", x.name());
        assert!(
            x.as_materialized_series()
                .equals_missing(y.as_materialized_series()),
            "column {} differs",
            x.name()
        );
    }
}

/// The format the loader must choose for plain (not gzip) input, per the documented rule.
pub fn expected_format(data: &[u8]) -> Result<Format, &'static str> {
    let head = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let sample = &head[..head.len().min(64 << 10)];
    // A NUL in the first line (the README's rule); one further on spoils only its line.
    let first_line = &sample[..sample
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(sample.len())];
    if first_line.contains(&0) {
        return Err("binary data");
    }
    match sample.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err("empty file"),
        Some(b'#') => Ok(Format::Tsv),
        Some(b'{') => Ok(Format::Json),
        Some(_) => Err("neither Zeek TSV"),
    }
}

/// Format detection agrees with the rule, and a refusal names the input.
pub fn check_detect(data: &[u8]) -> Result<Format, IngestError> {
    let got = ingest::detect_format(NAME, data);
    match (&got, expected_format(data)) {
        (Ok(f), Ok(g)) => assert_eq!(*f, g),
        (Err(e), Err(why)) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{NAME}: ")), "{msg}");
            assert!(msg.contains(why), "{msg} (wanted {why})");
        }
        (got, want) => panic!("detect: got {got:?}, wanted {want:?}"),
    }
    got
}
