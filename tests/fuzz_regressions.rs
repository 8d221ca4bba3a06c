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

/// Headers as the `header` fuzz target makes them, from a seeded generator: repeated,
/// empty and huge names, `#types` lines longer or shorter than the fields, up to 30,000
/// fields. Every one loads with one uniquely named column per field, or is refused past
/// the column limit (raised here, so that wide headers load), within a bound that a
/// quadratic or cubic header handling would break (4,000 copies of one name took 22 s).
#[test]
fn generated_headers_load_with_unique_names_in_bounded_time() {
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(23);
    let pool = [
        "x",
        "",
        "ts",
        "uid",
        "proto",
        "protocol",
        "x_2",
        "id.orig_h",
        "a b",
    ];
    let limits = ingest::Limits {
        max_columns: 40_000,
        ..ingest::Limits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    for case in 0..60 {
        let base: Vec<String> = (0..rng.gen_range(1..8))
            .map(|_| match rng.gen_range(0..10) {
                0 => "n".repeat(rng.gen_range(1..5_000)),
                _ => pool[rng.gen_range(0..pool.len())].to_string(),
            })
            .collect();
        let copies = if case % 10 == 0 {
            4_000
        } else {
            rng.gen_range(1..200)
        };
        let names: Vec<&String> = std::iter::repeat_n(&base, copies).flatten().collect();
        let types: Vec<&str> = (0..rng.gen_range(0..names.len() + 3))
            .map(|_| ["count", "string", "interval", "set[string]", "bogus"][rng.gen_range(0..5)])
            .collect();
        let fields: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let mut text = format!("#separator \\x09\n#fields\tts\t{}\n", fields.join("\t"));
        if !types.is_empty() {
            text.push_str(&format!("#types\ttime\t{}\n", types.join("\t")));
        }
        let ones: Vec<&str> = names.iter().map(|_| "1").collect();
        text.push_str(&format!("1.0\t{}\n", ones.join("\t")));
        let path = dir.path().join(format!("h{case}.log"));
        std::fs::write(&path, &text).unwrap();
        let t = Instant::now();
        let got = ingest::load_with(&[path], &limits);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "case {case}: {} fields took {took:?}",
            names.len()
        );
        match got {
            Ok(log) => {
                assert_eq!(log.frame.width(), names.len() + 1, "case {case}");
                let mut seen: Vec<&str> = log
                    .frame
                    .get_column_names()
                    .into_iter()
                    .map(|n| n.as_str())
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), names.len() + 1, "case {case}: unique names");
            }
            // A type that does not parse where a value must (`1` for a set is fine, for
            // a bogus type the column is text): no refusal other than the limit.
            Err(e) => panic!("case {case}: {e}"),
        }
    }
}

/// Found by the `json` target: a key that is an alias of a Zeek field (`detailedlabel`)
/// loads under the Zeek name (`detailed-label`), as the same key in a TSV header does.
#[test]
fn json_alias_keys_take_the_zeek_name() {
    let log = ingest::load_bytes(
        NAME,
        b"{\"ts\":1.5,\"uid\":\"a\",\"detailedlabel\":\"C&C\"}\n{\"ts\":2.5,\"uid\":\"b\"}\n",
    )
    .unwrap();
    let names: Vec<&str> = log
        .frame
        .get_column_names()
        .into_iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(names, ["ts", "uid", "detailed-label"]);
    assert_eq!(
        ingest::json_column_names(&["protocol", "proto", "detailedlabel"]),
        ["protocol", "proto", "detailed-label"]
    );
}

/// Found by the `header` target: the column limit counts columns, and a field written as
/// three-space-separated parts (IoT-23's combined last column) is three of them.
#[test]
fn combined_fields_count_as_their_columns_against_the_limit() {
    let fields: Vec<String> = (0..90).map(|i| format!("a{i}   b{i}   c{i}")).collect();
    let values: Vec<&str> = (0..90).map(|_| "1   2   3").collect();
    let text = format!(
        "#separator \\x09\n#fields\tts\t{}\n1.0\t{}\n",
        fields.join("\t"),
        values.join("\t")
    );
    let e = ingest::load_bytes(NAME, text.as_bytes()).unwrap_err();
    assert!(
        e.to_string().contains("more than 256 distinct fields"),
        "{e}"
    );
    // 1 + 85 × 3 = 256 columns: at the limit, loaded.
    let ok: Vec<String> = (0..85).map(|i| format!("a{i}   b{i}   c{i}")).collect();
    let ones: Vec<&str> = (0..85).map(|_| "1   2   3").collect();
    let text = format!(
        "#separator \\x09\n#fields\tts\t{}\n1.0\t{}\n",
        ok.join("\t"),
        ones.join("\t")
    );
    let log = ingest::load_bytes(NAME, text.as_bytes()).unwrap();
    assert_eq!(log.frame.width(), 1 + 85 * 3);
}
