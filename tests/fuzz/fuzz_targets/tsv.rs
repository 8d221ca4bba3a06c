//! Zeek TSV: header directives and data lines, parsed directly and through the loader.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use zsift::ingest::{self, tsv, Format};

/// A conn header for inputs that do not bring their own.
const HEADER: &[u8] = b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tset[string]\n";

fuzz_target!(|input: &[u8]| {
    let data: Vec<u8> = if input.first() == Some(&b'#') {
        input.to_vec()
    } else {
        [HEADER, input].concat()
    };

    // Header lines first, then the data lines after the last of them.
    let mut state = tsv::HeaderState::default();
    let mut header_lines = 0usize;
    let mut body_start = 0usize;
    let mut header_first = true;
    let mut pos = 0usize;
    for l in data.split_inclusive(|&b| b == b'\n') {
        let line = l.strip_suffix(b"\n").unwrap_or(l);
        if line.first() == Some(&b'#') {
            state.directive(line);
            if body_start != pos {
                header_first = false;
            }
            header_lines += 1;
            body_start = pos + l.len();
        }
        pos += l.len();
    }
    let body = &data[body_start..];
    let header = state.header();
    let part = header.as_ref().map(|h| {
        assert_eq!(h.names.len(), h.types.len());
        assert_eq!(h.widths.iter().sum::<usize>(), h.names.len());
        assert!(h.widths.iter().all(|&w| w >= 1));
        let part = tsv::parse_chunk(body, h);
        assert_eq!(part.columns().len(), h.names.len());
        common::check_part(body, &part);
        part
    });

    let log = ingest::load_bytes(common::NAME, &data);
    common::check_load(&data, Some(&data), &log);
    if let Ok(log) = &log {
        assert_eq!(log.files[0].format, Format::Tsv);
    }
    // One header block before every data line: the loader reads the same rows.
    if header_first && !data.contains(&0) {
        match (&part, &log) {
            (Some(p), Ok(log)) => {
                assert_eq!(p.rows(), log.rows());
                assert_eq!(p.skipped().len() as u64, log.skipped.count);
                if let (Some(a), Some(b)) = (p.skipped().first(), log.skipped.first.first()) {
                    assert_eq!((header_lines + a.0 + 1) as u64, b.line);
                    assert_eq!(a.1, b.reason);
                }
                let names: Vec<&str> = p.columns().iter().map(|c| c.name().as_str()).collect();
                let got: Vec<&str> = log
                    .frame
                    .get_column_names()
                    .iter()
                    .map(|n| n.as_str())
                    .collect();
                assert_eq!(names, got);
            }
            (Some(p), Err(e)) => assert_eq!(p.rows(), 0, "parsed rows but refused: {e}"),
            (None, Ok(_)) => panic!("loaded without a #fields header"),
            (None, Err(_)) => {}
        }
    }
});
