//! The gzip path: the input as a gzip stream, and valid gzip of the input.
#![no_main]

#[path = "common.rs"]
mod common;

use std::io::{Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use zsift::ingest;

/// A gzip member header (deflate, no name, unknown OS) for raw deflate input.
const GZ_HEADER: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// Decompressed text longer than this is not compared (it only costs time).
const MAX_TEXT: u64 = 32 << 20;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // The bytes as a gzip stream (given a gzip header if they lack one).
        let data = if common::is_gzip(rest) {
            rest.to_vec()
        } else {
            [GZ_HEADER, rest].concat()
        };
        let mut text = Vec::new();
        let whole = MultiGzDecoder::new(&data[..])
            .take(MAX_TEXT + 1)
            .read_to_end(&mut text);
        let log = ingest::load_bytes(common::NAME, &data);
        let complete = whole.is_ok() && (text.len() as u64) <= MAX_TEXT;
        common::check_load(&data, complete.then_some(&text[..]), &log);
        match whole {
            Ok(_) if complete && !common::is_gzip(&text) => {
                common::same_load(&log, &ingest::load_bytes(common::NAME, &text))
            }
            Ok(_) => {}
            // A shorter stream is read whole before anything is parsed.
            Err(_) if text.len() < 8 << 20 => {
                let e = log.expect_err("corrupt gzip loaded");
                assert!(e.to_string().contains("gzip"), "{e}");
            }
            Err(_) => {}
        }
    } else {
        // Valid gzip of the bytes, in two members split where the input says.
        let text = rest;
        if common::is_gzip(text) {
            return;
        }
        let cut = usize::from(mode >> 1) * text.len() / 127;
        let level = Compression::new(u32::from(mode >> 1) % 10);
        let mut gz = Vec::new();
        for piece in [&text[..cut], &text[cut..]] {
            let mut enc = GzEncoder::new(Vec::new(), level);
            enc.write_all(piece).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        let zipped = ingest::load_bytes(common::NAME, &gz);
        common::check_load(&gz, Some(text), &zipped);
        if let Ok(log) = &zipped {
            assert!(log.files[0].gzip);
        }
        common::same_load(&zipped, &ingest::load_bytes(common::NAME, text));
    }
});
