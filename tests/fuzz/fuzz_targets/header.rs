//! Zeek TSV headers: repeated, empty and huge field names, `#types` lines that do not
//! match the fields, many copies of one header, all through the loader with a bound on
//! the time each input takes (header handling was once cubic in repeated names).
#![no_main]

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use zsift::ingest::{self, schema, IngestError, Limits};

/// The input as a header: the first byte repeats the field list (0 to 255 extra copies),
/// the rest splits at newlines into the field names (separated by `,`) and the types.
fn header(input: &[u8]) -> (Vec<String>, Vec<String>) {
    let Some((&repeat, rest)) = input.split_first() else {
        return (Vec::new(), Vec::new());
    };
    let mut parts = rest.splitn(2, |&b| b == b'\n');
    let text = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .split(',')
            .map(|s| s.replace(['\t', '\n', '\r'], " "))
            .collect()
    };
    let names = text(parts.next().unwrap_or_default());
    let types = text(parts.next().unwrap_or_default());
    let copies = usize::from(repeat) + 1;
    let names = std::iter::repeat_n(names, copies).flatten().collect();
    (names, types)
}

fuzz_target!(|input: &[u8]| {
    let (names, types) = header(input);
    if names.is_empty() {
        return;
    }
    // Unique names, each a field's own or its next free suffix, in time linear in the
    // header.
    let t = Instant::now();
    let canonical = schema::canonical_names(names.iter().map(String::as_str));
    assert_eq!(canonical.len(), names.len());
    let mut sorted = canonical.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), canonical.len(), "unique names");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{} names",
        names.len()
    );

    let mut text = format!("#separator \\x09\n#fields\tts\t{}\n", names.join("\t"));
    if !types.is_empty() {
        text.push_str(&format!("#types\ttime\t{}\n", types.join("\t")));
    }
    let values: Vec<&str> = names.iter().map(|_| "1").collect();
    text.push_str(&format!("1.0\t{}\n", values.join("\t")));
    // Columns as the header makes them: a field with three-space-separated parts (the
    // IoT-23 combined column) is three.
    let mut state = zsift::ingest::tsv::HeaderState::default();
    for l in text.lines().take_while(|l| l.starts_with('#')) {
        state.directive(l.as_bytes());
    }
    let columns = state.header().map_or(0, |h| h.names.len());
    let t = Instant::now();
    let log = ingest::load_bytes(common::NAME, text.as_bytes());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{} fields",
        names.len()
    );
    common::check_load(text.as_bytes(), Some(text.as_bytes()), &log);
    match &log {
        Ok(log) => {
            assert!(columns <= Limits::DEFAULT.max_columns);
            assert_eq!(log.frame.width(), columns, "one column per field");
        }
        Err(IngestError::Limit { reason, .. }) => {
            assert!(columns > Limits::DEFAULT.max_columns, "{reason}");
            assert!(reason.contains("--max-columns"), "{reason}");
        }
        Err(_) => {}
    }
});
