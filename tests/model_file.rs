//! Saved models: a model written to a file and read back scores every row as the model
//! fitted in the same process does, for every detector; files that are not whole models
//! of this format are refused with their name, never read as one.

mod common;

use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use zsift::cancel::Cancel;
use zsift::features::{FeatureOptions, Nulls, Scaling};
use zsift::ingest::Log;
use zsift::live::{analyze_saved, Live, Window};
use zsift::modelfile::{self, FitInfo, ModelFileError};
use zsift::pipeline::{Analysis, Model};

/// `log`'s rows `start..start + len`, as a log of their own.
fn rows(log: &Log, start: usize, len: usize) -> Log {
    Log {
        frame: log.frame.slice(start as i64, len),
        files: log.files.clone(),
        skipped: Default::default(),
    }
}

fn info() -> FitInfo {
    FitInfo {
        zsift: "test".into(),
        files: vec!["fit".into()],
        rows: 0,
        train_rows: 0,
    }
}

/// 010's first 3000 rows (to fit on) and the rest (to score).
fn halves() -> (Log, Log) {
    let log =
        zsift::ingest::load(&[common::data("stratosphere/010-mixed.conn.log.labeled")]).unwrap();
    let n = log.rows();
    (rows(&log, 0, 3000), rows(&log, 3000, n - 3000))
}

/// A model fitted on `fit`, as written to a file and read back, and as fitted.
fn fitted(fit: &Log, model: &Model) -> (Vec<u8>, Live) {
    let (_, live) = Live::fit(fit, model, Window::Rows(usize::MAX), &Cancel::new()).unwrap();
    let bytes = modelfile::encode(&live.saved(info())).unwrap();
    (bytes, live)
}

/// Every detector's score of every row, the combined scores, votes and verdicts of two
/// analyses of the same rows are the same to 1e-12 (relative).
fn assert_same(a: &Analysis, b: &Analysis, what: &str) {
    let close = |x: f64, y: f64| x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs());
    assert_eq!(a.matrix.rows, b.matrix.rows, "{what}: rows");
    assert_eq!(
        a.verdicts.runs.len(),
        b.verdicts.runs.len(),
        "{what}: detectors"
    );
    for (ra, rb) in a.verdicts.runs.iter().zip(&b.verdicts.runs) {
        assert_eq!(ra.kind, rb.kind, "{what}");
        assert_eq!(ra.threshold.to_bits(), rb.threshold.to_bits(), "{what}");
        for (i, (x, y)) in ra.scores.iter().zip(&rb.scores).enumerate() {
            assert!(close(*x, *y), "{what}: {} row {i}: {x} vs {y}", ra.kind);
        }
    }
    for (i, (x, y)) in a
        .verdicts
        .combined
        .iter()
        .zip(&b.verdicts.combined)
        .enumerate()
    {
        assert!(close(*x, *y), "{what}: combined row {i}: {x} vs {y}");
    }
    assert_eq!(a.verdicts.votes, b.verdicts.votes, "{what}: votes");
    assert_eq!(a.verdicts.flagged, b.verdicts.flagged, "{what}: verdicts");
    let (sa, sb) = (a.verdicts.n_flagged(), b.verdicts.n_flagged());
    assert!(sa > 0, "{what}: something is flagged");
    assert_eq!(sa, sb);
}

/// Every detector, with the default features (context ones among them) and the hosts'
/// evidence; then unset values dropping rows, a service filter, and the seed's scaling.
/// The model read from its file scores the other rows exactly as the model in memory.
#[test]
fn a_saved_model_scores_as_the_model_fitted_in_the_process() {
    let (fit, rest) = halves();
    let features = FeatureOptions::default_for(&fit.frame);
    assert!(
        features
            .features
            .iter()
            .any(|f| zsift::hosts::context::is_feature(&f.column)),
        "the default features include context ones"
    );
    let all = Model {
        features: Some(features.clone()),
        ..Model::default()
    };
    assert_eq!(all.ensemble.detectors.len(), 10, "every detector");
    let dropping = Model {
        features: Some(FeatureOptions {
            nulls: Nulls::Drop,
            ..features.clone()
        }),
        ..all.clone()
    };
    let mut filtered = all.clone();
    filtered.filter.services = vec!["dns".into(), "-".into()];
    let max = Model {
        features: Some(FeatureOptions {
            scaling: Scaling::Max,
            ..features
        }),
        hosts: false,
        ..all.clone()
    };
    for (what, model) in [
        ("all", all),
        ("drop", dropping),
        ("filter", filtered),
        ("max", max),
    ] {
        let (bytes, live) = fitted(&fit, &model);
        let from_file = modelfile::decode("m", &bytes).unwrap();
        assert_eq!(
            from_file.model, model,
            "{what}: the model's options come back"
        );
        let (m, a) = analyze_saved(from_file, &rest, &Cancel::new()).unwrap();
        assert_eq!(m, model);
        let (_, b) = analyze_saved(live.into_loaded(info()), &rest, &Cancel::new()).unwrap();
        assert_same(&a, &b, what);
        // The scores moved out of a window used once (`analyze_saved`) are those copied
        // out of a window kept for more rows.
        let decoded = modelfile::decode("m", &bytes).unwrap();
        let mut kept = Live::from_loaded(decoded, Window::Rows(usize::MAX));
        kept.score(&rest, &Cancel::new()).unwrap();
        let c = kept.analysis(&Cancel::new()).unwrap();
        assert_eq!(a.matrix.rows, c.matrix.rows, "{what}");
        for (ra, rc) in a.verdicts.runs.iter().zip(&c.verdicts.runs) {
            assert_eq!(
                (&ra.scores, ra.threshold),
                (&rc.scores, rc.threshold),
                "{what}"
            );
        }
        assert_eq!(a.verdicts.combined, c.verdicts.combined, "{what}");
    }
}

/// Without context features or the hosts' evidence, a row's verdict depends on the row
/// alone: the saved model gives each row the score and verdict that the model fitted in
/// this process gives it as a new row ([`Live::score`]).
#[test]
fn a_saved_model_gives_new_rows_the_live_verdicts() {
    let (fit, rest) = halves();
    let mut features = FeatureOptions::default_for(&fit.frame);
    features
        .features
        .retain(|f| !zsift::hosts::context::is_feature(&f.column));
    let model = Model {
        features: Some(features),
        hosts: false,
        ..Model::default()
    };
    let (bytes, mut live) = fitted(&fit, &model);
    let (_, a) = analyze_saved(
        modelfile::decode("m", &bytes).unwrap(),
        &rest,
        &Cancel::new(),
    )
    .unwrap();
    let scored = live.score(&rest, &Cancel::new()).unwrap();
    assert_eq!(scored.len(), a.matrix.rows.len());
    for (i, s) in scored.iter().enumerate() {
        assert_eq!(s.row - fit.rows(), a.matrix.rows[i] as usize);
        assert_eq!(
            s.score.to_bits(),
            a.verdicts.combined[i].to_bits(),
            "row {i}"
        );
        assert_eq!(s.votes, a.verdicts.votes[i]);
        assert_eq!(s.flagged, a.verdicts.flagged[i]);
    }
}

/// The demo log's default model, as bytes.
fn demo_model() -> Vec<u8> {
    let log = zsift::demo::load().unwrap();
    let model = Model {
        features: Some(FeatureOptions::default_for(&log.frame)),
        ..Model::default()
    };
    fitted(&log, &model).0
}

/// `bytes` with its checksum made again (as someone who altered it on purpose would).
fn resummed(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 32;
    let sum = Sha256::digest(&bytes[..n]);
    bytes[n..].copy_from_slice(&sum);
    bytes
}

/// The same model saved twice is the same file, and it ends with the SHA-256 of what
/// comes before, as the format says.
#[test]
fn a_model_file_is_its_format() {
    let (a, b) = (demo_model(), demo_model());
    assert!(a == b, "saving is deterministic");
    assert_eq!(&a[..8], b"ZSIFTMDL");
    assert_eq!(
        u32::from_le_bytes(a[8..12].try_into().unwrap()),
        modelfile::FORMAT
    );
    let body = u64::from_le_bytes(a[12..20].try_into().unwrap()) as usize;
    assert_eq!(a.len(), 20 + body + 32);
    assert!(resummed(a.clone()) == a);
}

/// Another file, another version, a truncated or extended file, a flipped byte
/// anywhere: each refused with its own error, naming the file.
#[test]
fn damaged_model_files_are_refused() {
    let good = demo_model();
    let refused = |bytes: &[u8]| match modelfile::decode("models/x.zsm", bytes) {
        Ok(_) => panic!("accepted a damaged file"),
        Err(e) => {
            assert!(e.to_string().starts_with("models/x.zsm: "), "{e}");
            e
        }
    };
    for other in [
        &b""[..],
        b"ZSIFT",
        b"#fields\tts\tuid\n",
        b"PK\x03\x04 not a model",
    ] {
        assert!(matches!(refused(other), ModelFileError::NotAModel { .. }));
    }
    // The version before (its trees' boxes were in other axes) and the one after.
    for other in [modelfile::FORMAT - 1, modelfile::FORMAT + 1] {
        let mut v = good.clone();
        v[8..12].copy_from_slice(&other.to_le_bytes());
        let e = refused(&resummed(v));
        assert!(
            matches!(e, ModelFileError::Version { found, .. } if found == other),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("version {other}")), "{e}");
    }
    for len in [
        9,
        19,
        20,
        21,
        good.len() / 2,
        good.len() - 32,
        good.len() - 1,
    ] {
        let e = refused(&good[..len]);
        assert!(matches!(e, ModelFileError::Length { .. }), "{len}: {e}");
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(refused(&longer), ModelFileError::Length { .. }));
    // A flipped bit in the length, the body or the checksum.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let mut at: Vec<usize> = (12..20).chain(good.len() - 32..good.len()).collect();
    at.extend((0..200).map(|_| rng.gen_range(20..good.len() - 32)));
    for i in at {
        let mut bad = good.clone();
        bad[i] ^= 1 << rng.gen_range(0..8);
        let e = refused(&bad);
        assert!(
            matches!(
                e,
                ModelFileError::Checksum { .. } | ModelFileError::Length { .. }
            ),
            "byte {i}: {e}"
        );
    }
}

/// A file altered on purpose, with its checksum made again: the byte changed is read as
/// the format says, and the state is checked before scoring: refused, or loaded and
/// scoring the demo log; never a panic (a panic fails the test).
#[test]
fn altered_model_files_never_panic() {
    let good = demo_model();
    let log = zsift::demo::load().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let (mut refused, mut scored) = (0, 0);
    for _ in 0..150 {
        let mut bad = good.clone();
        let i = rng.gen_range(20..good.len() - 32);
        bad[i] = rng.gen();
        match modelfile::decode("x", &resummed(bad)) {
            Err(e) => {
                assert!(matches!(e, ModelFileError::Invalid { .. }), "{e}");
                refused += 1;
            }
            Ok(m) => {
                let _ = analyze_saved(m, &log, &Cancel::new());
                scored += 1;
            }
        }
    }
    // Both happen: most bytes are numbers (thresholds, training values), the rest
    // lengths, links and tags.
    assert!(
        refused > 0 && scored > 0,
        "{refused} refused, {scored} scored"
    );
}

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

/// From the command line: `fit --save`, then `score --model` on another log gives the
/// rows the model in the process gives; a bad file exits 2 naming it; model options
/// cannot be given with a model file.
#[test]
fn fit_and_score_with_a_model_file_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.zsm");
    let demo = common::tests_dir().join("../demo/conn.log");
    let out = zsift()
        .args(["fit", "--save"])
        .arg(&model)
        .arg(&demo)
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("model written to"), "{text}");
    assert!(text.contains("on 3361 of 3361 rows"), "{text}");
    // The same model, fitted here, on another log.
    let other = common::data("zat/conn.log");
    let log = zsift::demo::load().unwrap();
    let m = Model {
        features: Some(FeatureOptions::default_for(&log.frame)),
        ..Model::default()
    };
    let (_, live) = Live::fit(&log, &m, Window::Rows(usize::MAX), &Cancel::new()).unwrap();
    let zat = zsift::ingest::load(std::slice::from_ref(&other)).unwrap();
    let (_, here) = analyze_saved(live.into_loaded(info()), &zat, &Cancel::new()).unwrap();
    let out = zsift()
        .args(["score", "--all", "--format", "jsonl", "--model"])
        .arg(&model)
        .arg(&other)
        .output()
        .unwrap();
    common::assert_success(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), here.matrix.rows.len());
    let mut want: Vec<(String, f64)> = here
        .matrix
        .rows
        .iter()
        .zip(&here.verdicts.combined)
        .map(|(&r, &s)| (zsift::ingest::cell(&zat.frame, "uid", r as usize), s))
        .collect();
    let mut got: Vec<(String, f64)> = lines
        .iter()
        .map(|l| {
            (
                l["uid"].as_str().unwrap().to_string(),
                l["score"].as_f64().unwrap(),
            )
        })
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.0, g.0);
        assert!(
            (w.1 - g.1).abs() <= 1e-12 * w.1.abs().max(1.0),
            "{w:?} {g:?}"
        );
    }
    // A damaged file: exit 2, named.
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    let bad = dir.path().join("bad.zsm");
    std::fs::write(&bad, &bytes).unwrap();
    let out = zsift()
        .args(["score", "--model"])
        .arg(&bad)
        .arg(&demo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.zsm") && err.contains("checksum"), "{err}");
    // A missing file, and model options beside a model file.
    let out = zsift()
        .args(["score", "--model", "/nonexistent/m.zsm"])
        .arg(&demo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/m.zsm"));
    let out = zsift()
        .args(["score", "--detectors", "knn", "--model"])
        .arg(&model)
        .arg(&demo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The model file is left as it was by scoring.
    assert!(std::fs::read(&model).unwrap() != bytes);
}

/// The UI opened with a model file (`zsift --model FILE LOG`) shows the rows as the file's
/// model scores them, and says so in the header.
#[test]
fn the_ui_scores_with_a_model_file() {
    use std::sync::Arc;
    use zsift::tui::app::App;
    use zsift::tui::data::LogInfo;
    use zsift::tui::worker::{Event, SavedFile, Worker};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.zsm");
    let zat = zsift::ingest::load(&[common::data("zat/conn.log")]).unwrap();
    let model = Model {
        features: Some(FeatureOptions::default_for(&zat.frame)),
        ..Model::default()
    };
    let (bytes, _) = fitted(&zat, &model);
    std::fs::write(&path, &bytes).unwrap();
    let demo = zsift::demo::load().unwrap();
    let (_, want) = analyze_saved(modelfile::read(&path).unwrap(), &demo, &Cancel::new()).unwrap();

    let mut app = App::new("conn.log", 0, true);
    app.saved = Some((model.clone(), "m.zsm".into()));
    let mut w = Worker::start();
    w.use_saved(SavedFile {
        path: path.clone(),
        model,
    });
    let info = LogInfo::new(&demo, "conn.log");
    let job = app
        .on_event(Event::Loaded(Ok((Arc::new(demo), Arc::new(info)))))
        .expect("a job starts once the log is loaded");
    w.submit(job);
    common::finish(&mut app, &mut w);
    let r = app.results.as_ref().expect("results");
    assert_eq!(r.analysis.verdicts.flagged, want.verdicts.flagged);
    assert_eq!(r.analysis.verdicts.combined, want.verdicts.combined);
    let screen = common::draw(&app, 160, 40);
    assert!(screen.contains("model m.zsm"), "{screen}");
}

/// A saved model whose filter keeps no row of a log (a partition of a fleet's logs with
/// none of its service) scores nothing and says so: exit 0, no rows printed.
#[test]
fn a_model_whose_filter_keeps_no_row_scores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("dns.zsm");
    let demo = common::tests_dir().join("../demo/conn.log");
    let out = zsift()
        .args(["fit", "--service", "dns", "--save"])
        .arg(&model)
        .arg(common::data("stratosphere/010-mixed.conn.log.labeled"))
        .output()
        .unwrap();
    common::assert_success(&out);
    // A log of one row, not of that service.
    let text = std::fs::read_to_string(&demo).unwrap();
    let mut lines: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    let row = text
        .lines()
        .find(|l| !l.starts_with('#') && l.split('\t').nth(7) == Some("-"))
        .unwrap();
    lines.push(row);
    let one = dir.path().join("one.log");
    std::fs::write(&one, lines.join("\n") + "\n").unwrap();
    for (format, want) in [("jsonl", ""), ("json", "[]\n")] {
        let out = zsift()
            .args(["score", "--format", format, "--model"])
            .arg(&model)
            .arg(&one)
            .output()
            .unwrap();
        common::assert_success(&out);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
        assert!(String::from_utf8_lossy(&out.stderr).contains("no row to score"));
    }
}
