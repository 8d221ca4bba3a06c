//! Format detection: TSV, JSON or refusal, directly and as the loader decides it.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use zsift::ingest;

fuzz_target!(|data: &[u8]| {
    let detected = common::check_detect(data);
    let log = ingest::load_bytes(common::NAME, data);
    common::check_load(data, (!common::is_gzip(data)).then_some(data), &log);
    if common::is_gzip(data) {
        return;
    }
    // A UTF-8 byte-order mark changes nothing.
    if let Some(rest) = data.strip_prefix(b"\xef\xbb\xbf") {
        if !common::is_gzip(rest) {
            common::same_load(&log, &ingest::load_bytes(common::NAME, rest));
        }
    }
    match (detected, &log) {
        (Ok(f), Ok(log)) => assert_eq!(log.files[0].format, f),
        (Ok(_), Err(_)) => {}
        (Err(e), Err(l)) => assert_eq!(e.to_string(), l.to_string()),
        (Err(e), Ok(_)) => panic!("detection refused ({e}) but the loader read it"),
    }
});
