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

#[test]
fn score_outputs_parse_and_agree() {
    let json = zsift()
        .args(["score", "--demo", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["flagged"] == true));
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "most anomalous first"
    );
    assert!(rows[0]["id.resp_p"].is_u64());
    assert!(!rows[0]["reasons"].as_array().unwrap().is_empty());
    let csv = zsift()
        .args(["score", "--demo", "--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,score,votes,flagged,detectors,reasons");
    assert_eq!(lines.count(), rows.len());
    let all = zsift()
        .args([
            "score",
            "--demo",
            "--format",
            "json",
            "--all",
            "--service",
            "ntp",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let n = v.as_array().unwrap().len();
    assert!(
        n > 100 && v.as_array().unwrap().iter().all(|r| r["service"] == "ntp"),
        "{n}"
    );
    // A host pair keeps only the rows between those two hosts, both directions.
    let (a, b) = (
        rows[0]["id.orig_h"].as_str().unwrap(),
        rows[0]["id.resp_h"].as_str().unwrap(),
    );
    let pair = zsift()
        .args(["score", "--demo", "--format", "json", "--all", "--pair"])
        .arg(format!("{b},{a}"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&pair.stdout).unwrap();
    let v = v.as_array().unwrap();
    assert!(!v.is_empty());
    for r in v {
        let (o, d) = (
            r["id.orig_h"].as_str().unwrap(),
            r["id.resp_h"].as_str().unwrap(),
        );
        assert!((o, d) == (a, b) || (o, d) == (b, a), "{o} -> {d}");
    }
}

#[test]
fn eval_json_has_the_documented_keys() {
    let log = common::data("stratosphere/010-mixed.conn.log.labeled");
    let out = zsift()
        .arg("eval")
        .arg(&log)
        .args(["--train-label", "Benign", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 5347);
    assert_eq!(v["positives"], 3373);
    assert_eq!(v["negatives"], 1937);
    for d in [
        "iforest", "cblof", "gmm", "vae", "ecod", "copod", "hbos", "knn", "lof", "pca",
    ] {
        let x = &v["detectors"][d];
        for k in ["roc_auc", "precision_at_k", "fit_s", "score_s"] {
            assert!(x[k].is_f64(), "{d}.{k}: {x}");
        }
    }
    assert!(v["ensemble"]["roc_auc"].as_f64().unwrap() >= 0.95);
    assert!(v["ensemble"]["precision_at_k"].is_f64());
}

#[test]
fn model_options_are_checked() {
    for args in [
        &["score", "--demo", "--detectors", "magic"][..],
        &["score", "--demo", "--contamination", "0.9"],
        &["score", "--demo", "--combine", "votes:0"],
        &["score", "--demo", "--features", "nope"],
        &["score", "--demo", "--ip", "10.0.0.0/99"],
        &["score", "--demo", "--pair", "10.0.0.1"],
        &["score", "--demo", "--pair", "10.0.0.1,nope"],
        &["score", "--demo", "--service", "gopher"],
        &["eval", "--demo"],
    ] {
        let out = zsift().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
