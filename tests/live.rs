//! Scoring rows as they arrive with a model fitted once: the same verdicts as the batch
//! analysis gives rows it was not fitted on, and a scan that grows after the fit is
//! caught by its hosts' evidence.

mod common;

use polars::prelude::*;
use zsift::cancel::Cancel;
use zsift::features::FeatureOptions;
use zsift::ingest::Log;
use zsift::live::{Live, Window};
use zsift::pipeline::{self, Model};

/// `log`'s rows `range`, as a log of their own.
fn rows(log: &Log, start: usize, len: usize) -> Log {
    Log {
        frame: log.frame.slice(start as i64, len),
        files: log.files.clone(),
        skipped: Default::default(),
    }
}

/// A rows-only model (no context features, no hosts' evidence): fitted on the first
/// part of a real log, then fed the rest in batches, it gives each new row the combined
/// score, votes and verdict that the batch analysis gives it when fitted on the same
/// first part (a `part` column marks it) and scoring the rest.
#[test]
fn new_rows_score_as_the_batch_analysis_scores_rows_it_did_not_fit() {
    let mut log =
        zsift::ingest::load(&[common::data("stratosphere/010-mixed.conn.log.labeled")]).unwrap();
    let n = log.rows();
    let fit = 3000;
    let part: StringChunked = (0..n)
        .map(|i| Some(if i < fit { "fit" } else { "new" }))
        .collect();
    log.frame
        .with_column(part.with_name("part".into()).into_series().into())
        .unwrap();
    // The default features without the context ones (those depend on other rows); then
    // with unset values dropping their rows, and with a filter on the service.
    let mut features = FeatureOptions::default_for(&log.frame);
    features
        .features
        .retain(|f| !zsift::hosts::context::is_feature(&f.column));
    let base = Model {
        features: Some(features.clone()),
        hosts: false,
        train_label: Some("fit".into()),
        label_column: "part".into(),
        ..Model::default()
    };
    let dropping = Model {
        features: Some(FeatureOptions {
            nulls: zsift::features::Nulls::Drop,
            ..features
        }),
        ..base.clone()
    };
    let mut filtered = base.clone();
    filtered.filter.services = vec!["-".into()];
    for model in [base, dropping, filtered] {
        same_verdicts(&log, fit, &model);
    }
}

/// Checks one model of [`new_rows_score_as_the_batch_analysis_scores_rows_it_did_not_fit`].
fn same_verdicts(log: &Log, fit: usize, model: &Model) {
    let n = log.rows();
    let log = log.clone();
    let batch = pipeline::analyze(&log, model, &Cancel::new(), &|_| {}).unwrap();
    let (_, mut live) =
        Live::fit(&rows(&log, 0, fit), model, Window::Rows(n), &Cancel::new()).unwrap();
    let mut scored = Vec::new();
    let mut at = fit;
    for len in [1, 7, 500, 1000, n] {
        let len = len.min(n - at);
        if len == 0 {
            break;
        }
        scored.extend(live.score(&rows(&log, at, len), &Cancel::new()).unwrap());
        at += len;
    }
    // The batch analysis's matrix rows after the fit part are the rows scored, in order.
    let after: Vec<usize> = (0..batch.matrix.rows.len())
        .filter(|&i| batch.matrix.rows[i] as usize >= fit)
        .collect();
    assert_eq!(scored.len(), after.len());
    assert!(after.len() > 100, "{}", after.len());
    let v = &batch.verdicts;
    let mut flagged = 0;
    for (s, &i) in scored.iter().zip(&after) {
        assert_eq!(
            s.row, batch.matrix.rows[i] as usize,
            "the window holds every row"
        );
        assert!(
            (s.score - v.combined[i]).abs() < 1e-9,
            "row {i}: {} against {}",
            s.score,
            v.combined[i]
        );
        assert_eq!(s.votes, v.votes[i], "row {i}");
        assert_eq!(s.flagged, v.flagged[i], "row {i}");
        assert_eq!(s.detectors, v.flagged_by(i), "row {i}");
        assert_eq!(s.reasons.is_empty(), !s.flagged, "row {i}");
        flagged += usize::from(s.flagged);
    }
    assert!(flagged > 0 && flagged < after.len(), "{flagged}");
    assert_eq!(live.scored(), after.len() as u64);
}

/// The demo's port scan (10.0.1.66's 180 probes) arrives after the fit, 20 rows at a
/// time: the first probes look like any failed connection, but once the scan has grown
/// its source's failure evidence flags every probe, with the reason.
#[test]
fn a_scan_that_grows_after_the_fit_is_caught() {
    let log = zsift::demo::load().unwrap();
    let src = zsift::filter::string_values(&log.frame, "id.orig_h");
    let scan: Vec<usize> = (0..log.rows())
        .filter(|&i| src[i] == Some("10.0.1.66"))
        .collect();
    assert_eq!(scan.len(), 180);
    let idx =
        |v: Vec<usize>| IdxCa::from_vec("i".into(), v.into_iter().map(|i| i as IdxSize).collect());
    let others: Vec<usize> = (0..log.rows()).filter(|i| !scan.contains(i)).collect();
    let before = Log {
        frame: log.frame.take(&idx(others)).unwrap(),
        files: log.files.clone(),
        skipped: Default::default(),
    };
    let model = Model::default();
    let (a, mut live) =
        Live::fit(&before, &model, Window::Rows(1_000_000), &Cancel::new()).unwrap();
    assert_eq!(a.matrix.rows.len(), log.rows() - 180);
    let mut caught = Vec::new();
    for chunk in scan.chunks(20) {
        let batch = Log {
            frame: log.frame.take(&idx(chunk.to_vec())).unwrap(),
            files: log.files.clone(),
            skipped: Default::default(),
        };
        let s = live.score(&batch, &Cancel::new()).unwrap();
        assert_eq!(s.len(), chunk.len());
        caught.push(
            s.iter()
                .filter(|r| r.flagged && r.detectors.contains(&"hosts"))
                .count(),
        );
        if caught.len() == 9 {
            assert!(
                s.iter().all(|r| r.reasons[0].contains("10.0.1.66")),
                "{:?}",
                s[0].reasons
            );
        }
    }
    // The last batches: every probe flagged for its host.
    assert_eq!(caught[caught.len() - 3..], [20, 20, 20], "{caught:?}");
    assert_eq!(live.frame().height(), log.rows());
}

/// Windows by rows and by time: `24h`, `30m`, `90s`, `7d`, a row count; nonsense refused.
#[test]
fn windows_parse() {
    assert_eq!(Window::parse("100000"), Ok(Window::Rows(100_000)));
    assert_eq!(Window::parse("24h"), Ok(Window::Micros(86_400_000_000)));
    assert_eq!(Window::parse("30m"), Ok(Window::Micros(1_800_000_000)));
    assert_eq!(Window::parse("90s"), Ok(Window::Micros(90_000_000)));
    assert_eq!(Window::parse("7d"), Ok(Window::Micros(604_800_000_000)));
    for bad in ["", "0", "h", "-5m", "3w", "1e9d", "99999999999999999d"] {
        assert!(Window::parse(bad).is_err(), "{bad}");
    }
}

/// A window of rows keeps the newest rows only.
#[test]
fn the_window_keeps_the_newest_rows() {
    let log = zsift::demo::load().unwrap();
    let (_, mut live) = Live::fit(
        &rows(&log, 0, 2000),
        &Model::default(),
        Window::Rows(2500),
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(live.frame().height(), 2000);
    let s = live.score(&rows(&log, 2000, 1000), &Cancel::new()).unwrap();
    assert_eq!(live.frame().height(), 2500);
    assert_eq!(s.len(), 1000);
    // New rows sit at the end of the window.
    assert_eq!(s[0].row, 1500);
    let uid = zsift::filter::string_values(live.frame(), "uid");
    let want = zsift::filter::string_values(&log.frame, "uid");
    assert_eq!(uid[0], want[500]);
    assert_eq!(uid[2499], want[2999]);
}

/// A model fitted on the window in the background takes over with the rows the model in
/// use was given meanwhile: its window misses none.
#[test]
fn a_refitted_model_takes_over_the_rows_that_came_meanwhile() {
    let log = zsift::demo::load().unwrap();
    let (_, mut old) = Live::fit(
        &rows(&log, 0, 2000),
        &Model::default(),
        Window::Rows(10_000),
        &Cancel::new(),
    )
    .unwrap();
    old.score(&rows(&log, 2000, 500), &Cancel::new()).unwrap();
    // The refit starts here, on the window so far...
    let at = old.appended();
    assert_eq!(at, 500);
    let (_, mut new) = Live::fit(
        &old.window_log(),
        &Model::default(),
        Window::Rows(10_000),
        &Cancel::new(),
    )
    .unwrap();
    // ...while the old model goes on scoring.
    old.score(&rows(&log, 2500, 200), &Cancel::new()).unwrap();
    new.take_over(&old, at);
    assert_eq!(new.frame().height(), 2700);
    let uid = zsift::filter::string_values(new.frame(), "uid");
    let want = zsift::filter::string_values(&log.frame, "uid");
    assert_eq!(uid[2699], want[2699]);
    assert_eq!(uid[2500], want[2500]);
    let s = new.score(&rows(&log, 2700, 100), &Cancel::new()).unwrap();
    assert_eq!(s[0].row, 2700);
}

/// The window as an analysis: right after the fit it is the fit's own analysis (every
/// row's score, votes and verdict); after new rows, their verdicts are those they were
/// scored with (nothing is scored again).
#[test]
fn the_window_as_an_analysis() {
    let log = zsift::demo::load().unwrap();
    let model = Model::default();
    let (a, mut live) = Live::fit(&log, &model, Window::Rows(1_000_000), &Cancel::new()).unwrap();
    let w = live.analysis(&Cancel::new()).unwrap();
    assert_eq!(w.matrix.rows, a.matrix.rows);
    for i in 0..a.matrix.rows.len() {
        assert!(
            (w.verdicts.combined[i] - a.verdicts.combined[i]).abs() < 1e-9,
            "row {i}"
        );
        assert_eq!(w.verdicts.votes[i], a.verdicts.votes[i], "row {i}");
        assert_eq!(w.verdicts.flagged[i], a.verdicts.flagged[i], "row {i}");
        assert_eq!(
            w.verdicts.flagged_by(i),
            a.verdicts.flagged_by(i),
            "row {i}"
        );
    }
    // New rows: the window's analysis gives them the scores they were scored with.
    let s = live.score(&rows(&log, 0, 300), &Cancel::new()).unwrap();
    let w = live.analysis(&Cancel::new()).unwrap();
    assert_eq!(w.matrix.rows.len(), log.rows() + 300);
    for x in &s {
        let i = w
            .matrix
            .rows
            .iter()
            .position(|&r| r as usize == x.row)
            .unwrap();
        assert_eq!(w.verdicts.votes[i], x.votes);
        assert!(
            (w.verdicts.combined[i] - x.score).abs() < 1e-9,
            "{} {}",
            w.verdicts.combined[i],
            x.score
        );
        assert_eq!(w.verdicts.flagged[i], x.flagged);
    }
}

/// A batch larger than the window is scored whole (the window keeps it, then shrinks
/// back with the next batch).
#[test]
fn a_batch_larger_than_the_window_is_scored_whole() {
    let log = zsift::demo::load().unwrap();
    let (_, mut live) = Live::fit(
        &rows(&log, 0, 1000),
        &Model::default(),
        Window::Rows(500),
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(live.frame().height(), 500);
    let s = live.score(&rows(&log, 1000, 2000), &Cancel::new()).unwrap();
    assert_eq!(s.len(), 2000);
    assert_eq!(live.frame().height(), 2000);
    let s = live.score(&rows(&log, 3000, 10), &Cancel::new()).unwrap();
    assert_eq!(s.len(), 10);
    assert_eq!(live.frame().height(), 500);
}

/// A window of time: rows older than it go, and a stray time far ahead (a `ts` in
/// milliseconds) neither empties the window nor stops it from moving.
#[test]
fn a_window_of_time_survives_a_stray_time() {
    let log = zsift::demo::load().unwrap();
    let ts = zsift::summary::ts_micros(&log.frame).unwrap();
    let (first, last) = (ts[0].unwrap(), ts[log.rows() - 1].unwrap());
    let span = last - first;
    assert!(
        span > 30 * 60_000_000,
        "the demo spans more than half an hour"
    );
    // A window of a third of the demo's span.
    let (_, mut live) = Live::fit(
        &rows(&log, 0, 1000),
        &Model::default(),
        Window::Micros(span / 3),
        &Cancel::new(),
    )
    .unwrap();
    // One row with its time a thousand times too large, among ordinary rows.
    let mut stray = rows(&log, 1000, 1);
    let far = polars::prelude::Series::new("ts".into(), [ts[1000].unwrap() * 1000])
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .unwrap();
    stray.frame.replace("ts", far.into()).unwrap();
    live.score(&stray, &Cancel::new()).unwrap();
    let mut at = 1001;
    while at < log.rows() {
        let len = 200.min(log.rows() - at);
        live.score(&rows(&log, at, len), &Cancel::new()).unwrap();
        at += len;
    }
    // The window holds about the last third of the rows, not all of them, not none.
    let kept = zsift::summary::ts_micros(live.frame()).unwrap();
    let oldest = kept.iter().flatten().min().unwrap();
    assert!(*oldest >= last - span / 3 - 60_000_000, "window moved");
    let newest = kept.iter().flatten().max().unwrap();
    assert_eq!(*newest, last, "the stray time is gone");
    assert!(live.frame().height() > 100 && live.frame().height() < log.rows() / 2);
}

/// New rows join the window in its column types: a port that arrives as a float stays
/// an integer column, text where numbers were becomes unset, a new column is unset in
/// the older rows.
#[test]
fn the_window_keeps_its_types() {
    let a = df!("id.resp_p" => [22i64, 80], "duration" => [1.5f64, 2.0]).unwrap();
    let b = df!("id.resp_p" => [443.0f64], "duration" => ["long"], "extra" => ["x"]).unwrap();
    let c = zsift::ingest::concat(&a, &b).unwrap();
    assert_eq!(c.height(), 3);
    assert_eq!(c.column("id.resp_p").unwrap().dtype(), &DataType::Int64);
    assert_eq!(
        zsift::filter::int_values(&c, "id.resp_p").unwrap(),
        vec![Some(22), Some(80), Some(443)]
    );
    let d = c.column("duration").unwrap();
    assert_eq!(d.dtype(), &DataType::Float64);
    assert_eq!(d.null_count(), 1);
    assert_eq!(c.column("extra").unwrap().null_count(), 2);
}
