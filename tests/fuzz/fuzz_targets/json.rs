//! Zeek JSON lines, parsed directly and through the loader.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use polars::prelude::*;
use zsift::ingest::{self, json, Format};

fuzz_target!(|data: &[u8]| {
    // The loader drops a leading byte-order mark before parsing.
    let text = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let part = json::parse_chunk(text, usize::MAX);
    common::check_part(text, &part);
    for c in part.columns() {
        assert!(
            c.name() != "_path" && c.name() != "_write_ts",
            "metadata key as a column"
        );
    }

    let log = ingest::load_bytes(common::NAME, data);
    common::check_load(data, Some(data), &log);
    if common::is_gzip(data) || common::expected_format(data) != Ok(Format::Json) {
        return;
    }
    // JSON input: the loader's frame is the parsed run's columns.
    match &log {
        Ok(log) => {
            assert_eq!(log.files[0].format, Format::Json);
            assert_eq!(part.rows(), log.rows());
            assert_eq!(part.skipped().len() as u64, log.skipped.count);
            if let (Some(a), Some(b)) = (part.skipped().first(), log.skipped.first.first()) {
                assert_eq!((a.0 + 1) as u64, b.line);
                assert_eq!(a.1, b.reason);
            }
            // The parsed run names columns by their keys; the loader gives them Zeek's
            // names once the file is read.
            let keys: Vec<&str> = part.columns().iter().map(|c| c.name().as_str()).collect();
            let names = ingest::json_column_names(&keys);
            let cols: Vec<Column> = part
                .columns()
                .iter()
                .zip(&names)
                .map(|(c, n)| c.clone().with_name(n.as_str().into()).into())
                .collect();
            let frame = DataFrame::new(part.rows(), cols).expect("parsed columns make a frame");
            common::same_frame(&frame, &log.frame);
        }
        Err(e) => assert_eq!(part.rows(), 0, "parsed rows but refused: {e}"),
    }
});
