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
