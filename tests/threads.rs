//! No result depends on the number of cores: the same inputs loaded and scored with
//! `RAYON_NUM_THREADS` 1, 2 and 8 give the same output, byte for byte. Logs are parsed in
//! pieces whose boundaries follow the thread count, and the detectors, the host scores
//! and the clustering run in parallel.

mod common;

use std::path::Path;
use std::process::Command;

/// `zsift ARGS` with `threads` worker threads: its standard output (exit status 0).
fn output(threads: usize, args: &[&str], log: &Path) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_zsift"))
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(args)
        .arg(log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} with {threads} threads: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every output of `args` on `log` is the same with 1, 2 and 8 threads.
fn same_for_any_core_count(args: &[&str], log: &Path) {
    let one = output(1, args, log);
    assert!(!one.is_empty());
    for threads in [2, 8] {
        let other = output(threads, args, log);
        assert!(
            other == one,
            "{args:?} on {}: {threads} threads differ from 1",
            log.display()
        );
    }
}

/// A JSON log over several parsing pieces (2 MB) where records use the alias `protocol`
/// for a while before others bring `proto` too: which key becomes which column must not
/// depend on where the pieces start.
fn alias_log(dir: &Path) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..14_000u32 {
        let proto = match i {
            i if i < 5_000 => "\"protocol\":\"tcp\"".to_string(),
            i if i % 2 == 0 => "\"proto\":\"udp\",\"protocol\":\"tcp\"".to_string(),
            _ => "\"protocol\":\"tcp\",\"proto\":\"udp\"".to_string(),
        };
        text.push_str(&format!(
            "{{\"ts\":{}.{:06},\"uid\":\"C{i:08}\",\"id.orig_h\":\"10.0.{}.{}\",\"id.orig_p\":{},\"id.resp_h\":\"192.168.0.{}\",\"id.resp_p\":{},{proto},\"duration\":{}.5,\"orig_bytes\":{},\"resp_bytes\":{},\"conn_state\":\"SF\"}}\n",
            1_600_000_000 + i / 10,
            i % 1000,
            i % 7,
            i % 251,
            1024 + i % 5000,
            i % 13,
            [80, 443, 53, 22][i as usize % 4],
            i % 17,
            i * 37 % 9001,
            i * 11 % 4001,
        ));
    }
    let path = dir.join("alias.json");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn json_columns_do_not_depend_on_the_core_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = alias_log(dir.path());
    same_for_any_core_count(&["summary", "--json"], &log);
    // Every record's `protocol` is in one column; `proto`, where given, in another.
    let v: serde_json::Value =
        serde_json::from_slice(&output(2, &["summary", "--json"], &log)).unwrap();
    let names: Vec<&str> = common::column_names(&v);
    assert!(
        names.contains(&"proto") && names.contains(&"protocol"),
        "{names:?}"
    );
    same_for_any_core_count(&["score", "--format", "csv"], &log);
}

#[test]
fn scores_and_hosts_do_not_depend_on_the_core_count() {
    for rel in [
        "stratosphere/002-portscan.conn.json.log",
        "stratosphere/008-mixed.conn.log.labeled",
    ] {
        let log = common::data(rel);
        same_for_any_core_count(&["score", "--format", "csv", "--all"], &log);
        same_for_any_core_count(&["hosts", "--json"], &log);
    }
}
