//! The `zsift` binary: exit statuses, JSON output, messages on stderr.

mod common;

use std::process::Command;

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

#[test]
fn summary_json_has_the_documented_keys() {
    let log = common::data("stratosphere/010-mixed.conn.log.labeled");
    let out = zsift()
        .arg("summary")
        .arg("--json")
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 5347);
    assert_eq!(v["skipped"]["count"], 0);
    assert_eq!(v["format"], "tsv");
    let cols: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        cols.contains(&"id.orig_h") && cols.contains(&"label"),
        "{cols:?}"
    );
    let services = v["services"].as_array().unwrap();
    let total: u64 = services.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 5347);
}

#[test]
fn summary_of_the_demo_log() {
    let out = zsift().args(["summary", "--demo"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("rows"), "{text}");
    assert!(
        text.contains("10.0.1.66"),
        "the port scanner is the top source:\n{text}"
    );
}

#[test]
fn unusable_input_exits_2_with_the_file_named() {
    let bad = common::data("zat/http.log.corrupt.gz");
    let out = zsift().arg("summary").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http.log.corrupt.gz") && err.contains("gzip"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = zsift()
        .args(["summary", "/nonexistent.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = zsift()
        .args(["summary", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stdin_is_read_with_a_dash() {
    use std::io::Write;
    let text = std::fs::read(common::data("zat/conn.json.log")).unwrap();
    let mut child = zsift()
        .args(["summary", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 50);
    assert_eq!(v["format"], "json");
}

#[test]
fn control_characters_from_a_log_never_reach_the_terminal_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.log");
    let text = "#separator \\x09\n#fields\tts\tid.orig_h\tservice\n#types\ttime\taddr\tstring\n1.0\t10.0.0.1\tx\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x9b\n";
    std::fs::write(&path, text).unwrap();
    let out = zsift().arg("summary").arg(&path).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        !s.chars()
            .any(|c| c != '\n' && zsift::sanitize::is_unsafe(c)),
        "{s:?}"
    );
    assert!(s.contains("x\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J"), "{s}");
}
