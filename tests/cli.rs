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
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 5347);
    assert_eq!(v["skipped"]["count"], 0);
    assert_eq!(v["format"], "tsv");
    let cols: Vec<&str> = common::column_names(&v);
    assert!(
        cols.contains(&"id.orig_h") && cols.contains(&"label"),
        "{cols:?}"
    );
    let services = v["services"].as_array().unwrap();
    let total: u64 = services.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 5347);
    // Types as the log gives them: its counts and ports are 64-bit integers, whatever
    // zsift holds them in.
    let type_of = |name: &str| {
        v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["type"].as_str().unwrap().to_string())
            .unwrap()
    };
    for name in ["id.resp_p", "orig_pkts", "resp_bytes"] {
        assert_eq!(type_of(name), "i64", "{name}");
    }
    assert_eq!(type_of("duration"), "f64");
    assert_eq!(type_of("service"), "str");
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
fn argument_errors_neutralise_what_they_quote() {
    // A bidi override, a backspace, an OSC 52 clipboard write and a BEL in an argument.
    let hostile = "a\u{202e}b\u{8}c\u{1b}]52;c;SGVsbG8=\u{7}d";
    let mut quoted = 0;
    for args in [
        vec!["score", "--contamination", hostile, "x.log"],
        vec!["score", "--no-such-flag", hostile],
        vec![hostile, "--no-such-flag"],
    ] {
        let out = zsift().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.chars()
                .all(|c| c == '\n' || !zsift::sanitize::is_unsafe(c)),
            "{args:?}: {err:?}"
        );
        if args[1] == "--contamination" {
            assert!(
                err.contains("a\\u{202e}b"),
                "the override is shown escaped: {err}"
            );
        }
        // The argument as typed, escaped, never with its escape sequence dropped; the
        // message named as zsift's others are.
        if err.contains("SGVsbG8") {
            assert!(
                err.contains("c\\x1b]52;c;SGVsbG8=\\x07d"),
                "{args:?}: shown escaped: {err}"
            );
            quoted += 1;
        }
        assert!(err.starts_with("zsift: "), "{err}");
    }
    assert!(quoted >= 1, "the argument is quoted by a message");
    // Help still prints normally.
    let out = zsift().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
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
    common::assert_success(&json);
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
    common::assert_success(&out);
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
    // The text names each count for what it is: 010's 37 Background rows are not scored.
    let out = zsift().arg("eval").arg(&log).output().unwrap();
    common::assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("not scored (background or no label) 37")
            && first.contains("dropped for an unset feature 0"),
        "{first}"
    );
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

/// Runs zsift with `args`; returns (status, stdout, stderr) with the output checked to be
/// UTF-8.
fn run_text(args: &[std::ffi::OsString]) -> (std::process::ExitStatus, String, String) {
    let out = zsift().args(args).output().unwrap();
    let text = |b: Vec<u8>, what: &str| {
        String::from_utf8(b).unwrap_or_else(|e| panic!("{what} of {args:?} is not UTF-8: {e}"))
    };
    (
        out.status,
        text(out.stdout, "stdout"),
        text(out.stderr, "stderr"),
    )
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

/// Every string inside a JSON value, recursively (object keys too).
fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                json_strings(x, out);
            }
        }
        _ => {}
    }
}

#[test]
fn hostile_logs_print_neutralised_tables_and_exact_machine_formats() {
    use common::hostile::{self, first_forbidden, EVIL};
    let dir = tempfile::tempdir().unwrap();
    let (tsv, json) = hostile::write(dir.path());
    let column = hostile::evil_column();
    let service = format!("svc{EVIL}");
    for log in [&tsv, &json] {
        let with = |args: &[&str]| {
            let mut v = os(args);
            v.insert(1, log.into());
            v
        };
        // Table output: every command a person reads.
        let features = format!("duration,orig_bytes,{column}:num");
        let tables = [
            with(&["summary"]),
            with(&["summary", "--top", "50"]),
            with(&["score"]),
            with(&["score", "--all", "--contamination", "0.1"]),
            with(&["score", "--format", "table", "--service", &service]),
            with(&["stats"]),
            with(&["stats", "--subset", "anomalous", "--plot"]),
            with(&["stats", "--plot", "--features", &features]),
            with(&["eval"]),
            with(&["eval", "--train-label", "Benign"]),
        ];
        let mut seen = String::new();
        for args in &tables {
            let (status, out, err) = run_text(args);
            assert!(status.success(), "{args:?}: {err}");
            for (what, text) in [("stdout", &out), ("stderr", &err)] {
                if let Some((at, c)) = first_forbidden(text, &['\n']) {
                    panic!("{args:?}: {c:?} at byte {at} of {what}:\n{text}");
                }
            }
            seen.push_str(&out);
        }
        for shown in common::hostile::SHOWN_ALL {
            assert!(
                seen.contains(shown),
                "{log:?}: {shown} is never shown:\n{seen}"
            );
        }
        assert!(
            seen.contains("conn\\x1b<"),
            "the file name is shown: {seen}"
        );

        // JSON: exact data, and still nothing raw on the byte level.
        let (status, out, err) = run_text(&with(&["score", "--format", "json", "--all"]));
        assert!(status.success(), "{err}");
        assert_eq!(first_forbidden(&out, &['\n']), None, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let rows = v.as_array().unwrap();
        let hostile_rows: Vec<&serde_json::Value> = rows
            .iter()
            .filter(|r| r["uid"].as_str().unwrap().len() > 18)
            .collect();
        assert_eq!(hostile_rows.len(), hostile::HOSTILE);
        for r in &hostile_rows {
            let uid = r["uid"].as_str().unwrap();
            let i = &uid[1..2];
            assert_eq!(uid, format!("C{i}{EVIL}"));
            assert_eq!(r["id.orig_h"], format!("10.6.6.{i}{EVIL}"));
            assert_eq!(r["id.resp_h"], format!("{EVIL}{i}"));
            assert_eq!(r["service"], service);
        }
        for cmd in [&["summary", "--json"][..], &["stats", "--json"]] {
            let (status, out, err) = run_text(&with(cmd));
            assert!(status.success(), "{cmd:?}: {err}");
            assert_eq!(first_forbidden(&out, &['\n']), None, "{cmd:?}: {out}");
            let mut strings = Vec::new();
            json_strings(&serde_json::from_str(&out).unwrap(), &mut strings);
            assert!(strings.contains(&service), "{cmd:?}: {strings:?}");
            if cmd[0] == "summary" {
                assert!(strings.contains(&column), "{strings:?}");
                assert!(strings.contains(&log.display().to_string()), "{strings:?}");
            }
        }
        let (status, out, _) = run_text(&with(&["eval", "--json"]));
        assert!(status.success());
        let e: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(e["positives"], hostile::HOSTILE);

        // CSV to a pipe: RFC 4180 quoting, the text exact.
        let (status, out, err) = run_text(&with(&["score", "--format", "csv", "--all"]));
        assert!(status.success(), "{err}");
        assert!(out.contains('\u{1b}'), "CSV keeps the data as it is");
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let header = r.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let records: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), hostile::NORMAL + hostile::HOSTILE);
        let uids: Vec<&str> = records.iter().map(|x| &x[col("uid")]).collect();
        for i in 0..hostile::HOSTILE {
            let k = uids
                .iter()
                .position(|u| *u == format!("C{i}{EVIL}"))
                .unwrap_or_else(|| panic!("hostile row {i} is not in the CSV exactly"));
            assert_eq!(&records[k][col("service")], service);
            assert_eq!(&records[k][col("id.resp_h")], format!("{EVIL}{i}"));
        }
    }

    // Error messages on stderr quote the file name and the line.
    let name = hostile::file_name();
    let missing = dir.path().join(format!("missing-{name}"));
    let not_zeek = dir.path().join(format!("bad-{name}"));
    std::fs::write(&not_zeek, format!("{EVIL}\n{EVIL}\n")).unwrap();
    let log = tsv.as_os_str().to_owned();
    for args in [
        vec!["summary".into(), missing.into_os_string()],
        vec!["summary".into(), not_zeek.clone().into_os_string()],
        vec!["score".into(), not_zeek.into_os_string()],
        vec![
            "eval".into(),
            log.clone(),
            "--label-col".into(),
            EVIL.into(),
        ],
        vec![
            "score".into(),
            log.clone(),
            "--features".into(),
            EVIL.into(),
        ],
        vec!["score".into(), log, "--ip".into(), EVIL.into()],
    ] {
        let (status, out, err) = run_text(&args);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.starts_with("zsift: "), "{err}");
        if let Some((at, c)) = first_forbidden(&err, &['\n']) {
            panic!("{args:?}: {c:?} at byte {at} of stderr:\n{err}");
        }
        assert!(
            err.contains("\\x1b") || err.contains("\\u{1b}"),
            "{args:?}: the message quotes the text, neutralised: {err}"
        );
    }
}

/// Output errors: a reader that goes away ends zsift quietly whatever the format (as
/// `head` expects), and standard output closed at start is an error, not a success
/// having written nothing.
#[cfg(unix)]
#[test]
fn closed_outputs_are_told_apart() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    for format in ["csv", "json", "table"] {
        let mut child = zsift()
            .args(["score", "--demo", "--all", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 64];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The pipe's reader is gone (dropped above) while zsift still writes.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}: {:?}", out.stderr);
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut cmd = zsift();
    cmd.args(["summary", "--demo"]);
    // SAFETY: close() is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard output is closed"));
    // Written to /dev/null on purpose: a success.
    let out = zsift()
        .args(["summary", "--demo"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// Settings that could never flag a row are refused.
#[test]
fn a_vote_count_above_the_detectors_is_refused() {
    let votes = |m: u8| {
        zsift()
            .args([
                "score",
                "--demo",
                "--detectors",
                "iforest,hbos",
                "--combine",
            ])
            .arg(format!("votes:{m}"))
            .output()
            .unwrap()
    };
    let out = votes(3);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("votes:3 can never flag a row: only 2 detectors"),
        "{err}"
    );
    common::assert_success(&votes(2));
}

/// `score --query` narrows and orders the rows printed as the UI's query bar does; the
/// analysis is the same (a row's score does not change with the query).
#[test]
fn score_query_narrows_the_rows_printed() {
    let run = |query: &str| -> Vec<serde_json::Value> {
        let out = zsift()
            .args([
                "score", "--demo", "--all", "--format", "json", "--query", query,
            ])
            .output()
            .unwrap();
        common::assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let all = run("");
    let ssh = run("port:22 sort:score");
    assert!(!ssh.is_empty() && ssh.len() < all.len());
    assert!(ssh.iter().all(|r| r["id.resp_p"] == 22));
    let scores: Vec<f64> = ssh.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|p| p[0] <= p[1]),
        "sorted lowest first"
    );
    let same = |r: &serde_json::Value| {
        all.iter()
            .find(|x| x["uid"] == r["uid"])
            .is_some_and(|x| x["score"] == r["score"])
    };
    assert!(ssh.iter().all(same), "the same analysis");
    let rest = run("-port:22");
    assert_eq!(rest.len() + ssh.len(), all.len());
    let flagged_ssh = run("port:22 flagged:yes votes:>=1");
    assert!(flagged_ssh.iter().all(|r| r["flagged"] == true));
    // A bad term is a usage error naming it.
    let out = zsift()
        .args(["score", "--demo", "--query", "port:22 colour:red"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--query: colour:red: unknown field"), "{err}");
}

/// `zsift completions` and `zsift man` come from the command line's own definitions: every
/// subcommand, detector name and value of `--by` is there.
#[test]
fn completions_and_man_page_cover_the_command_line() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_zsift"))
            .args(args)
            .output()
            .unwrap();
        common::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for word in [
            "score", "fit", "hosts", "export", "lof", "pair", "parquet", "--model",
        ] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    let page = run(&["man"]);
    for section in [
        ".TH ZSIFT 1",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
        ".SH EXAMPLES",
        ".SH FILES",
    ] {
        assert!(page.contains(section), "{section}");
    }
    let version = run(&["--version"]);
    assert!(
        version.starts_with(&format!("zsift {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
}
