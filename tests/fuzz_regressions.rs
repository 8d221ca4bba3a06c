//! Inputs found by fuzzing the readers (`tests/fuzz`), each with its documented outcome.

use zsift::ingest::{self, Format};

const NAME: &str = "input";

/// A UTF-8 byte-order mark before a Zeek TSV header is read as usual.
#[test]
fn byte_order_mark_before_a_tsv_header() {
    let plain: &[u8] = b"#fields\ta\n1\n";
    let marked = [b"\xef\xbb\xbf".as_slice(), plain].concat();
    let log = ingest::load_bytes(NAME, &marked).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.files[0].format, Format::Tsv);
    assert_eq!(log.rows(), 1);
    assert_eq!(log.skipped.count, 0);
    let want = ingest::load_bytes(NAME, plain).unwrap();
    assert!(log.frame.equals_missing(&want.frame));
}

/// A UTF-8 byte-order mark before the first JSON line does not make it invalid.
#[test]
fn byte_order_mark_before_a_json_line() {
    let marked: &[u8] = b"\xef\xbb\xbf{\"ts\":1.5,\"uid\":\"a\"}\n";
    let log = ingest::load_bytes(NAME, marked).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.files[0].format, Format::Json);
    assert_eq!(log.rows(), 1, "skipped: {:?}", log.skipped.first);
    assert_eq!(log.skipped.count, 0);
}

/// An empty JSON object is no record: it is skipped like a line that is not an object,
/// rather than loaded as a row with no columns.
#[test]
fn empty_json_object_is_skipped() {
    let e = ingest::load_bytes(NAME, b"{}\nt").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("input: not a Zeek log: no valid records"),
        "{msg}"
    );
    assert!(msg.contains("line 1: JSON object with no fields"), "{msg}");

    let log = ingest::load_bytes(NAME, b"{\"_path\":\"conn\"}\n{\"a\":{}}\n{\"a\":1}\n").unwrap();
    assert_eq!(log.rows(), 1);
    assert_eq!(log.frame.width(), 1);
    let lines: Vec<u64> = log.skipped.first.iter().map(|s| s.line).collect();
    assert_eq!(lines, [1, 2]);
}
