//! Degenerate data: no row left after a filter, one row, identical rows, a constant
//! feature, one feature, more detectors than rows, fewer rows than HDBSCAN's minimum
//! cluster size. Every command either gives a valid result (outputs that parse, no NaN,
//! infinity or null where a number belongs) or exits 2 with a clear message; the terminal
//! UI shows a readable message instead of an empty view. Never a panic.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use common::{draw, finish};
use zsift::tui::app::{App, Tab};
use zsift::tui::data::LogInfo;
use zsift::tui::worker::{Event, Worker};

const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlabel\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tstring\n";

/// Record `i`; `same` makes every record alike but its time and uid, `label` labels it.
fn row(i: usize, same: bool, label: &str) -> String {
    let k = if same { 1 } else { i };
    format!(
        "1600000000.{i:06}\tC{i}\t10.0.0.{}\t{}\t10.0.0.200\t80\ttcp\thttp\t0.{k}\t{}\t{}\tSF\t{label}\n",
        k % 5 + 1,
        5000 + k,
        k * 7 % 13,
        k * 3
    )
}

fn log_of(n: usize, same: bool) -> String {
    let mut s = String::from(HEADER);
    for i in 1..=n {
        s.push_str(&row(i, same, "Benign"));
    }
    s
}

fn zsift(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_zsift"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "zsift {args:?} panicked: {err}");
    assert!(out.status.code().is_some(), "zsift {args:?} was killed");
    out
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Every number in a JSON value is finite (serde_json cannot even hold NaN), and no value
/// is null but those of the listed optional keys.
fn assert_no_null(v: &serde_json::Value, optional: &[&str], what: &str) {
    match v {
        serde_json::Value::Null => panic!("{what}: null"),
        serde_json::Value::Array(a) => a.iter().for_each(|x| assert_no_null(x, optional, what)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                if !(x.is_null() && optional.contains(&k.as_str())) {
                    assert_no_null(x, optional, &format!("{what}.{k}"));
                }
            }
        }
        serde_json::Value::Number(n) => assert!(n.as_f64().is_some_and(f64::is_finite), "{what}"),
        _ => {}
    }
}

/// A CSV's numeric columns hold finite numbers in every row.
fn assert_csv_numbers(text: &str, numeric: &[&str], what: &str) -> usize {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let idx: Vec<(usize, &str)> = numeric
        .iter()
        .map(|c| {
            (
                h.iter()
                    .position(|x| x == c)
                    .unwrap_or_else(|| panic!("{what}: no {c}")),
                *c,
            )
        })
        .collect();
    let mut n = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        for &(i, c) in &idx {
            let x: f64 = rec[i]
                .parse()
                .unwrap_or_else(|_| panic!("{what}: {c} = {:?}", &rec[i]));
            assert!(x.is_finite(), "{what}: {c} = {x}");
        }
        n += 1;
    }
    n
}

/// `score` in its three formats: all succeed on `rows` rows, or all refuse with `refusal`.
fn check_score(log: &str, extra: &[&str], rows: usize, refusal: Option<&str>) {
    for fmt in ["table", "csv", "json"] {
        let mut args = vec!["score", log, "--all", "--format", fmt];
        args.extend_from_slice(extra);
        let out = zsift(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        if let Some(text) = refusal {
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(text), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}");
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        let text = String::from_utf8(out.stdout).unwrap();
        match fmt {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v.as_array().unwrap().len(), rows, "{args:?}");
                assert_no_null(&v, &["id.orig_p", "id.resp_p", "service"], "score");
            }
            "csv" => {
                let n = assert_csv_numbers(&text, &["score", "votes"], "score csv");
                assert_eq!(n, rows, "{args:?}");
            }
            _ => {
                let lower = text.to_lowercase();
                assert!(
                    !lower.contains("nan") && !lower.contains("inf "),
                    "{args:?}: {text}"
                );
                assert!(text.contains(&format!("of {rows} rows flagged")), "{text}");
            }
        }
    }
}

/// `stats --json` and `export`: valid on success, or refused with `refusal`.
fn check_stats_export(dir: &Path, log: &str, extra: &[&str], refusal: Option<&str>) {
    let mut args = vec!["stats", log, "--json"];
    args.extend_from_slice(extra);
    let out = zsift(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    if let Some(text) = refusal {
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    } else {
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_no_null(&v, &["sampled"], "stats");
        assert_eq!(
            v["clusters"].as_u64().unwrap() as usize,
            v["stats"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["cluster"].as_i64().unwrap_or(-1) >= 0)
                .count(),
            "{v}"
        );
    }
    let mut args = vec!["stats", log, "--plot"];
    args.extend_from_slice(extra);
    let out = zsift(&args);
    assert_eq!(
        out.status.code(),
        Some(if refusal.is_some() { 2 } else { 0 })
    );
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(!text.contains("nan") && !text.contains(" inf"), "{text}");

    let to = dir.join(format!(
        "export-{}",
        extra.join("_").replace(['/', ':'], "-")
    ));
    let _ = std::fs::remove_dir_all(&to);
    let mut args = vec!["export", log, "--out", to.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = zsift(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    if let Some(text) = refusal {
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
        assert!(!to.join("rows.csv").exists(), "nothing written on refusal");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    let rows = std::fs::read_to_string(to.join("rows.csv")).unwrap();
    assert_csv_numbers(
        &rows,
        &[
            "score", "votes", "cluster", "pca_x", "pca_y", "umap_x", "umap_y",
        ],
        "rows.csv",
    );
    let anomalous = std::fs::read_to_string(to.join("anomalous.csv")).unwrap();
    assert_csv_numbers(&anomalous, &["score", "votes", "cluster"], "anomalous.csv");
    let clusters: serde_json::Value =
        serde_json::from_slice(&std::fs::read(to.join("clusters.json")).unwrap()).unwrap();
    assert_no_null(&clusters, &[], "clusters.json");
    let txt = std::fs::read_to_string(to.join("clusters.txt"))
        .unwrap()
        .to_lowercase();
    assert!(!txt.contains("nan") && !txt.contains(" inf"), "{txt}");
}

#[test]
fn no_row_left_after_a_filter_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "conn.log", &log_of(30, false));
    for (flag, value, text) in [
        (
            "--service",
            "nosuch",
            "no rows to analyse (service nosuch matches no row)",
        ),
        (
            "--ip",
            "192.0.2.0/24",
            "no rows to analyse (ip 192.0.2.0/24 matches no row)",
        ),
    ] {
        check_score(&log, &[flag, value], 0, Some(text));
        check_stats_export(dir.path(), &log, &[flag, value], Some(text));
        let out = zsift(&["eval", &log, flag, value, "--json"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(text));
    }
    // Every row dropped for an unset feature.
    let unset: String = log_of(5, false)
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split('\t').collect();
            if !l.starts_with('#') {
                f[8] = "-";
            }
            f.join("\t") + "\n"
        })
        .collect();
    let unset = write(dir.path(), "unset.log", &unset);
    let out = zsift(&["score", &unset, "--features", "duration", "--nulls", "drop"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no rows to analyse (5 rows have an unset feature)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tiny_and_flat_logs_give_valid_results() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one.log", &log_of(1, false));
    let three = write(dir.path(), "three.log", &log_of(3, false));
    let nine = write(dir.path(), "nine.log", &log_of(9, false));
    let same = write(dir.path(), "same.log", &log_of(40, true));
    let forty = write(dir.path(), "forty.log", &log_of(40, false));
    let all = "iforest,cblof,gmm,vae,ecod,copod,hbos,knn,lof,pca";
    let cases: Vec<(&str, Vec<&str>, usize)> = vec![
        (&one, vec![], 1),
        (&three, vec!["--detectors", all], 3),
        (&three, vec!["--features", "duration"], 3),
        (&nine, vec![], 9),
        (&same, vec![], 40),
        (&same, vec!["--combine", "any"], 40),
        (&forty, vec!["--features", "conn_state"], 40),
        (&forty, vec!["--features", "duration"], 40),
        (
            &forty,
            vec!["--features", "proto,service", "--scaling", "max"],
            40,
        ),
    ];
    for (log, extra, rows) in &cases {
        check_score(log, extra, *rows, None);
        check_stats_export(dir.path(), log, extra, None);
    }
    // One row: the detectors that need two say so, on stdout in the table and on stderr
    // for CSV and JSON, whose standard output stays pure data.
    let out = zsift(&["score", &one, "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zsift: detector iforest failed: iforest: needs at least 2 rows, got 1"),
        "{err}"
    );
    let out = zsift(&["score", &one]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("detector iforest failed"), "{text}");
    // A single row's time prints as every other row's (ISO 8601, UTC).
    let out = zsift(&["score", &one, "--all", "--format", "csv"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("2020-09-13T12:26:40.000001Z,C1,"),
        "{text}"
    );
    // Only detectors that cannot run on one row: refused, naming them.
    let out = zsift(&["score", &one, "--detectors", "iforest,knn"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("every detector failed") && err.contains("knn"),
        "{err}"
    );
    // Fewer rows than HDBSCAN's minimum cluster size: no cluster, every row noise.
    let out = zsift(&["stats", &nine, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["clusters"].as_u64(), v["noise"].as_u64()),
        (Some(0), Some(9)),
        "{v}"
    );
}

#[test]
fn eval_needs_both_classes() {
    let dir = tempfile::tempdir().unwrap();
    let mut mixed = log_of(39, false);
    mixed.push_str(&row(40, false, "Malicious").replace("\t0.40\t", "\t999.5\t"));
    let mixed = write(dir.path(), "mixed.log", &mixed);
    let benign = write(dir.path(), "benign.log", &log_of(30, false));
    let bg = write(
        dir.path(),
        "bg.log",
        &log_of(30, false).replace("\tBenign\n", "\tBackground\n"),
    );
    let one = write(
        dir.path(),
        "one.log",
        &format!("{HEADER}{}", row(1, false, "Malicious")),
    );
    // Valid, with one feature and with all detectors on few rows.
    for extra in [vec![], vec!["--features", "duration"]] {
        let mut args = vec!["eval", mixed.as_str(), "--json"];
        args.extend_from_slice(&extra);
        let out = zsift(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_no_null(&v, &[], "eval");
        assert_eq!(
            (v["positives"].as_u64(), v["negatives"].as_u64()),
            (Some(1), Some(39))
        );
    }
    for (log, pos, neg) in [(&benign, 0, 30), (&bg, 0, 0), (&one, 1, 0)] {
        for fmt in [&["--json"][..], &[]] {
            let mut args = vec!["eval", log.as_str()];
            args.extend_from_slice(fmt);
            let out = zsift(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{log}: {err}");
            assert!(
                err.contains(&format!("{pos} positive"))
                    && err.contains(&format!("and {neg} negative")),
                "{log}: {err}"
            );
            assert!(out.stdout.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The terminal UI on the same data.

fn open(text: &str) -> (App, Worker) {
    let log = zsift::ingest::load_bytes("conn.log", text.as_bytes()).unwrap();
    let info = LogInfo::new(&log, "conn.log");
    let mut app = App::new("conn.log", 0, true);
    let mut w = Worker::start();
    let job = app
        .on_event(Event::Loaded(Ok((Arc::new(log), Arc::new(info)))))
        .expect("a job starts once the log is loaded");
    w.submit(job);
    finish(&mut app, &mut w);
    (app, w)
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn press(app: &mut App, w: &mut Worker, keys: &[KeyEvent]) {
    for &k in keys {
        if let Some(a) = app.action_for(k) {
            if let Some(job) = app.update(a) {
                w.submit(job);
            }
        }
    }
}

/// Draws every tab at 80x24 and a tiny size; returns the 80x24 screens.
fn screens(app: &mut App) -> Vec<(Tab, String)> {
    let mut out = Vec::new();
    for tab in Tab::ALL {
        app.tab = tab;
        let s = draw(app, 80, 24);
        let lower = s.to_lowercase();
        assert!(
            !lower.contains("nan") && !lower.contains(" inf"),
            "{tab:?}:\n{s}"
        );
        draw(app, 20, 5);
        out.push((tab, s));
    }
    out
}

#[test]
fn the_ui_says_what_happened_on_degenerate_data() {
    // One row: a result, the detectors that need more rows named on the Overview.
    let (mut app, _w) = open(&log_of(1, false));
    assert!(app.results.is_some(), "{:?}", app.job);
    for (tab, s) in screens(&mut app) {
        let want = match tab {
            Tab::Anomalies => "No row is flagged",
            Tab::Hosts => "1 sources",
            Tab::Scatter => "of 1 rows",
            Tab::Clusters => "1 noise rows",
            Tab::Histograms => "duration",
            Tab::Overview => "failed: iforest: needs at",
        };
        assert!(s.contains(want), "{tab:?}: wanted {want:?}:\n{s}");
    }

    // Identical rows: nothing stands out, and the views say so rather than stay empty.
    let (mut app, _w) = open(&log_of(40, true));
    assert!(app.results.is_some(), "{:?}", app.job);
    for (tab, s) in screens(&mut app) {
        if tab == Tab::Anomalies {
            assert!(s.contains("No row is flagged"), "{s}");
        }
        assert!(
            s.lines().skip(3).any(|l| !l.trim().is_empty()),
            "{tab:?} is empty:\n{s}"
        );
    }

    // A filter that leaves no row: every tab shows why.
    let (mut app, mut w) = open(&log_of(30, false));
    app.model.filter.services = vec!["nosuch".into()];
    press(&mut app, &mut w, &[key('i')]);
    press(&mut app, &mut w, &[key('1'), key('0'), key('.')]);
    press(
        &mut app,
        &mut w,
        &[
            KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            key(' '),
            KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
        ],
    );
    assert_eq!(app.model.filter.ips.len(), 1, "{:?}", app.model.filter);
    finish(&mut app, &mut w);
    assert!(app.results.is_none());
    let error = app.job.as_ref().and_then(|j| j.error.clone()).unwrap();
    assert!(error.contains("no rows to analyse"), "{error}");
    for (tab, s) in screens(&mut app) {
        assert!(s.contains("no rows to analyse"), "{tab:?}:\n{s}");
    }
}

/// A log of 1,100 numeric fields over 40 rows, analysed on all of them (`--max-columns`
/// raised, every field chosen): the covariance-based detectors (GMM, PCA) and the PCA
/// view are skipped with a message naming the limit, the other detectors decide, and
/// nothing allocates a matrix of the width squared per chunk.
#[test]
fn a_very_wide_matrix_skips_the_covariance_detectors() {
    let d = 1_100;
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..d).map(|j| format!("f{j}")).collect();
    let mut text = format!(
        "#separator \\x09\n#fields\tts\tuid\t{}\n#types\ttime\tstring\t{}\n",
        names.join("\t"),
        vec!["double"; d].join("\t")
    );
    for i in 0..40 {
        let values: Vec<String> = (0..d)
            .map(|j| ((i * 7 + j * 13) % 17).to_string())
            .collect();
        text.push_str(&format!(
            "{}.0\tC{i}\t{}\n",
            1_600_000_000 + i,
            values.join("\t")
        ));
    }
    let log = write(dir.path(), "wide.log", &text);
    let features = names.join(",");
    let out = zsift(&[
        "score",
        &log,
        "--max-columns",
        "2000",
        "--features",
        &features,
        "--all",
        "--format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for det in ["gmm", "pca"] {
        assert!(
            err.contains(&format!(
                "detector {det} failed: {det}: 1100 features, more than 1024"
            )),
            "{err}"
        );
    }
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 40);
    // The default limit refuses the log before any of this.
    let out = zsift(&["summary", &log]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 256 distinct fields"));
}
