//! A lean analysis (`zsift score`'s: the matrix made when read, no detector's scores
//! kept) gives every row the verdict, votes, detectors and reasons of the analysis the
//! views use, bit for bit, on a real log: fitted on a sample and on every row, on a label,
//! under each rule, with context features, robust or max scaling, unset values kept or
//! dropped.

mod common;

use zsift::cancel::Cancel;
use zsift::detect::ensemble::Combine;
use zsift::features::{FeatureOptions, Nulls, Scaling};
use zsift::ingest::Log;
use zsift::pipeline::{analyze, analyze_lean, Analysis, Model};

fn log() -> Log {
    zsift::ingest::load(&[common::data("stratosphere/010-mixed.conn.log.labeled")]).unwrap()
}

/// The analysis that holds its matrix's rows (a followed log's).
fn held(log: &Log, m: &Model) -> Analysis {
    zsift::pipeline::analyze_keeping(log, m, &Cancel::new(), &|_| {}, true)
        .unwrap()
        .0
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|s| s.to_bits()).collect()
}

fn assert_same(full: &Analysis, lean: &Analysis, what: &str) {
    let (f, l) = (&full.verdicts, &lean.verdicts);
    assert_eq!(full.matrix.rows, lean.matrix.rows, "{what}: rows");
    assert_eq!(bits(&f.combined), bits(&l.combined), "{what}: combined");
    assert_eq!(
        f.combined_threshold.to_bits(),
        l.combined_threshold.to_bits(),
        "{what}: threshold"
    );
    let thresholds = |v: &zsift::detect::ensemble::Verdicts| -> Vec<u64> {
        v.runs.iter().map(|r| r.threshold.to_bits()).collect()
    };
    assert_eq!(
        thresholds(f),
        thresholds(l),
        "{what}: detectors' thresholds"
    );
    assert_eq!(f.votes, l.votes, "{what}: votes");
    assert_eq!(f.flagged, l.flagged, "{what}: verdicts");
    assert!(f.n_flagged() > 0, "{what}: something flagged");
    let n = full.matrix.rows.len();
    for i in 0..n {
        assert_eq!(
            f.flagged_by(i),
            l.flagged_by(i),
            "{what}: detectors of row {i}"
        );
    }
    let errors = |a: &Analysis| -> Vec<Option<String>> {
        a.verdicts.runs.iter().map(|r| r.error.clone()).collect()
    };
    assert_eq!(errors(full), errors(lean), "{what}: failures");
    let order = full.ranking();
    assert_eq!(order, lean.ranking(), "{what}: ranking");
    let top = &order[..order.len().min(300)];
    let texts = |a: &Analysis| -> Vec<Vec<String>> {
        a.reasons_of(top, 3)
            .into_iter()
            .map(|r| r.into_iter().map(|r| r.text).collect())
            .collect()
    };
    assert_eq!(texts(full), texts(lean), "{what}: reasons");
    // The rows made when read are the rows held, bit for bit.
    assert!(full.matrix.held() && !lean.matrix.held(), "{what}");
    let every: Vec<usize> = (0..n).rev().collect();
    let made = lean.matrix.rows_x(&every);
    let held = full.matrix.rows_x(&every);
    assert_eq!(
        bits(made.as_slice().unwrap()),
        bits(held.as_slice().unwrap()),
        "{what}: matrix"
    );
}

#[test]
fn a_lean_analysis_gives_the_verdicts_and_reasons_of_a_full_one() {
    let log = log();
    let c = Cancel::new();
    let base = Model::default();
    let mut cases: Vec<(String, Model)> = Vec::new();
    for fit_limit in [Some(1500), None] {
        for combine in [Combine::Mean, Combine::Any, Combine::Votes(3)] {
            let mut m = base.clone();
            m.ensemble.fit_limit = fit_limit;
            m.ensemble.combine = combine;
            cases.push((format!("fit {fit_limit:?} {combine}"), m));
        }
    }
    let mut benign = base.clone();
    benign.train_label = Some("Benign".into());
    benign.ensemble.fit_limit = Some(1000);
    cases.push(("trained on Benign, on a sample".into(), benign));
    let mut seed = base.clone();
    seed.features = Some(FeatureOptions {
        scaling: Scaling::Max,
        nulls: Nulls::Drop,
        ..FeatureOptions::default_for(&log.frame)
    });
    seed.ensemble.fit_limit = Some(1200);
    seed.hosts = false;
    cases.push(("max scaling, unset dropped, rows alone".into(), seed));
    for (what, m) in &cases {
        let full = held(&log, m);
        let lean = analyze_lean(&log, m, &c).unwrap();
        // The views' analysis: rows made when read, every detector's scores kept.
        let views = analyze(&log, m, &c, &|_| {}).unwrap();
        assert_same(&full, &views, &format!("{what}, the views' analysis"));
        for (f, v) in full.verdicts.runs.iter().zip(&views.verdicts.runs) {
            assert_eq!(
                bits(&f.scores),
                bits(&v.scores),
                "{what}: {} scores",
                f.kind
            );
            assert!(!f.scores.is_empty(), "{what}: {} scores", f.kind);
        }
        if m.ensemble.fit_limit.is_some() {
            assert!(
                lean.verdicts.fit_sampled_from.is_some() || m.train_label.is_some(),
                "{what}: fitted on a sample"
            );
            assert!(
                lean.verdicts.runs.iter().all(|r| r.scores.is_empty()),
                "{what}: no scores kept"
            );
        }
        assert_same(&full, &lean, what);
    }
    // The default features read the context (rows alone or not, the hosts' columns).
    let opts = FeatureOptions::default_for(&log.frame);
    assert!(
        opts.features
            .iter()
            .any(|f| log.frame.column(&f.column).is_err()),
        "a context feature is among the defaults"
    );
}

/// The 2-D views and the clusters of a lean analysis (its rows made a block at a time)
/// are those of the held matrix, bit for bit, with UMAP and HDBSCAN on samples (the
/// other rows placed and labelled a block at a time) and on every row.
#[test]
fn a_lean_analysis_embeds_and_clusters_as_a_held_one() {
    use zsift::pipeline::{landscape, LandscapeOptions};
    let log = log();
    let mut m = Model::default();
    m.ensemble.fit_limit = Some(1000);
    let c = Cancel::new();
    let full = held(&log, &m);
    let lean = analyze_lean(&log, &m, &c).unwrap();
    assert!(full.matrix.held() && !lean.matrix.held());
    let mut sampled = LandscapeOptions::default();
    sampled.umap_params.sample_limit = 500;
    sampled.cluster_limit = 1500;
    let mut whole = LandscapeOptions::default();
    whole.umap_params.sample_limit = usize::MAX;
    whole.cluster_limit = usize::MAX;
    for (opts, what) in [(sampled, "sampled"), (whole, "whole")] {
        let f = landscape(&log, &full, &opts, &c, &|_| {}).unwrap();
        let l = landscape(&log, &lean, &opts, &c, &|_| {}).unwrap();
        let pts =
            |p: &ndarray::Array2<f64>| -> Vec<u64> { p.iter().map(|v| v.to_bits()).collect() };
        assert_eq!(pts(&f.pca.points), pts(&l.pca.points), "{what}: PCA");
        assert_eq!(f.pca.axes, l.pca.axes, "{what}: PCA axes");
        let (fu, lu) = (f.umap.as_ref().unwrap(), l.umap.as_ref().unwrap());
        let bits =
            |p: &ndarray::Array2<f32>| -> Vec<u32> { p.iter().map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&fu.points), bits(&lu.points), "{what}: UMAP");
        assert_eq!(fu.sampled, lu.sampled, "{what}: UMAP sample");
        assert_eq!(fu.sampled.is_some(), what == "sampled");
        assert_eq!(f.subsets.len(), 3, "{what}: three subsets");
        for (a, b) in f.subsets.iter().zip(&l.subsets) {
            assert_eq!(a.subset, b.subset);
            assert_eq!(a.rows, b.rows, "{what}: {:?} rows", a.subset);
            assert_eq!(a.labels, b.labels, "{what}: {:?} labels", a.subset);
            assert_eq!(a.count, b.count, "{what}: {:?} clusters", a.subset);
            assert_eq!(a.sampled, b.sampled, "{what}: {:?} sample", a.subset);
        }
        // What the tabs read instead of passing over every row each frame: each
        // cluster's flagged rows, the noise, the axes' bounds.
        for c in &f.subsets {
            for (s, &k) in c.stats.iter().zip(&c.flagged) {
                let want = c
                    .rows
                    .iter()
                    .zip(&c.labels)
                    .filter(|&(&i, &l)| l == s.cluster && full.verdicts.flagged[i as usize])
                    .count();
                assert_eq!(k, want, "{what}: flagged in cluster {}", s.cluster);
            }
            assert_eq!(c.noise, c.labels.iter().filter(|&&l| l < 0).count());
        }
        for (b, p) in f
            .bounds
            .iter()
            .zip([&f.pca.points, &fu.points.mapv(f64::from)])
        {
            let min = |k: usize| p.column(k).iter().copied().fold(f64::MAX, f64::min);
            let max = |k: usize| p.column(k).iter().copied().fold(f64::MIN, f64::max);
            assert_eq!(*b, [min(0), max(0), min(1), max(1)], "{what}: bounds");
        }
        let all = f.subset(zsift::pipeline::Subset::All).unwrap();
        assert!(all.count > 1, "{what}: clusters found");
        assert_eq!(all.sampled.is_some(), what == "sampled");
    }
}

/// Up to the cluster limit, UMAP and the three clusterings run side by side; above it, one
/// after another. Either way each gives the same result: with the limit one row under
/// the log's size, every row's clustering is sampled but UMAP and the smaller subsets'
/// clusterings are those of the side-by-side run, bit for bit.
#[test]
fn the_landscape_is_the_same_side_by_side() {
    use zsift::pipeline::{landscape, LandscapeOptions, Subset};
    let log = log();
    let c = Cancel::new();
    let a = analyze_lean(&log, &Model::default(), &c).unwrap();
    let n = a.matrix.rows.len();
    let mut together = LandscapeOptions::default();
    together.umap_params.sample_limit = 1000;
    together.cluster_limit = n;
    let mut apart = together.clone();
    apart.cluster_limit = n - 1;
    let t = landscape(&log, &a, &together, &c, &|_| {}).unwrap();
    let p = landscape(&log, &a, &apart, &c, &|_| {}).unwrap();
    let (tu, pu) = (t.umap.as_ref().unwrap(), p.umap.as_ref().unwrap());
    let bits = |p: &ndarray::Array2<f32>| -> Vec<u32> { p.iter().map(|v| v.to_bits()).collect() };
    assert_eq!(bits(&tu.points), bits(&pu.points), "UMAP");
    assert_eq!(tu.sampled, Some(1000));
    assert_eq!(t.subset(Subset::All).unwrap().sampled, None);
    assert_eq!(p.subset(Subset::All).unwrap().sampled, Some(n - 1));
    for s in [Subset::Anomalous, Subset::Normal] {
        let (x, y) = (t.subset(s).unwrap(), p.subset(s).unwrap());
        assert!(
            x.rows.len() < n - 1 && x.count > 0,
            "{s:?}: whole, with clusters"
        );
        assert_eq!(
            (&x.rows, &x.labels, x.count),
            (&y.rows, &y.labels, y.count),
            "{s:?}"
        );
        assert_eq!(x.stats, y.stats, "{s:?}: statistics");
    }
    let order: Vec<Subset> = t.subsets.iter().map(|c| c.subset).collect();
    assert_eq!(order, Subset::ALL, "subsets in display order");
}

/// The terminal UI's analysis holds no detector's scores of every row, yet gives them
/// again, bit for bit, to its evaluation and its exports: fitted on a sample, on every
/// row, and on a label; the export's files are those of the analysis that holds them.
#[test]
fn the_views_analysis_gives_each_detectors_scores_again() {
    use zsift::pipeline::analyze_views;
    let log = log();
    let c = Cancel::new();
    let mut sampled = Model::default();
    sampled.ensemble.fit_limit = Some(1000);
    let mut benign = sampled.clone();
    benign.train_label = Some("Benign".into());
    benign.ensemble.combine = Combine::Any;
    for (what, m) in [
        ("sampled", sampled),
        ("every row", Model::default()),
        ("on Benign", benign),
    ] {
        let full = held(&log, &m);
        let views = analyze_views(&log, &m, &c, &|_| {}).unwrap();
        assert_same(&full, &views, what);
        let split = views.verdicts.fit_sampled_from.is_some() || m.train_label.is_some();
        assert_eq!(
            views.verdicts.runs.iter().all(|r| r.scores.is_empty()),
            split,
            "{what}: scores held only when fitted on every row"
        );
        let n = full.matrix.rows.len();
        let at: Vec<usize> = (0..n).rev().step_by(3).chain(0..50).collect();
        let again = views.detector_scores(&at, &c).unwrap();
        let want = full.detector_scores(&at, &c).unwrap();
        assert_eq!(
            again.len(),
            full.verdicts.runs.len(),
            "{what}: every detector"
        );
        for ((r, s), (w, ws)) in again.iter().zip(&want) {
            assert_eq!(r.kind, w.kind);
            assert_eq!(bits(s), bits(ws), "{what}: {} scores", r.kind);
            let direct: Vec<f64> = at.iter().map(|&i| w.scores[i]).collect();
            assert_eq!(bits(s), bits(&direct), "{what}: {} scores", r.kind);
        }
        let dir = std::env::temp_dir().join(format!("zsift-views-{}", std::process::id()));
        let (a, b) = (dir.join("held"), dir.join("views"));
        zsift::export::export(&a, &log, &full, Default::default()).unwrap();
        zsift::export::export(&b, &log, &views, Default::default()).unwrap();
        for f in zsift::export::FILES {
            let (x, y) = (
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
            );
            assert!(x == y, "{what}: {f}");
            assert!(!x.is_empty() || !f.ends_with(".csv"), "{what}: {f}");
        }
        let header = std::fs::read_to_string(b.join("anomalous.csv")).unwrap();
        assert!(
            header.lines().next().unwrap().contains("score_lof"),
            "{what}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_lean_analysis_with_a_saved_model_gives_its_verdicts_and_reasons() {
    use zsift::live::{analyze_saved, analyze_saved_lean};
    use zsift::modelfile;
    let log = log();
    let c = Cancel::new();
    let n = log.rows();
    let part = |start: usize, len: usize| Log {
        frame: log.frame.slice(start as i64, len),
        files: log.files.clone(),
        skipped: Default::default(),
    };
    let (fit, rest) = (part(0, 3000), part(3000, n - 3000));
    let mut filtered = Model::default();
    filtered.filter.services = vec!["dns".into(), "-".into()];
    let dropping = Model {
        features: Some(FeatureOptions {
            scaling: Scaling::Max,
            nulls: Nulls::Drop,
            ..FeatureOptions::default_for(&log.frame)
        }),
        hosts: false,
        ..Model::default()
    };
    for (what, model) in [
        ("default", Model::default()),
        ("filtered", filtered),
        ("max scaling, unset dropped, rows alone", dropping),
    ] {
        let bytes = saved(&fit, &model);
        let load = || modelfile::decode("m", &bytes).unwrap();
        let (m_full, full) = analyze_saved(load(), &rest, &c).unwrap();
        let (m_lean, lean) = analyze_saved_lean(load(), &rest, &c).unwrap();
        assert_eq!(m_full, m_lean, "{what}: model");
        assert!(
            lean.verdicts.runs.iter().all(|r| r.scores.is_empty()),
            "{what}: no scores kept"
        );
        assert_eq!(
            lean.verdicts.fit_rows, full.verdicts.fit_rows,
            "{what}: rows fitted on"
        );
        assert_same(&full, &lean, what);
    }
    // A filter that keeps none of the rows: the same refusal.
    let refusal = |lean: bool| {
        let mut loaded = modelfile::decode("m", &saved(&fit, &Model::default())).unwrap();
        loaded.model.filter.services = vec!["no-such-service".into()];
        let r = if lean {
            analyze_saved_lean(loaded, &rest, &c)
        } else {
            analyze_saved(loaded, &rest, &c)
        };
        r.err().map(|e| e.to_string())
    };
    let full = refusal(false);
    assert!(full.is_some());
    assert_eq!(refusal(true), full);
}

/// A model fitted on `fit`, as a model file holds it.
fn saved(fit: &Log, model: &Model) -> Vec<u8> {
    use zsift::live::{Live, Window};
    use zsift::modelfile::{self, FitInfo};
    let (_, live) = Live::fit(fit, model, Window::Rows(usize::MAX), &Cancel::new()).unwrap();
    let info = FitInfo {
        zsift: "test".into(),
        files: vec!["fit".into()],
        rows: 0,
        train_rows: 0,
    };
    modelfile::encode(&live.saved(info)).unwrap()
}

/// The UI's evaluation against the labels: the ensemble's row comes with the histograms,
/// each detector's (its scores made again) only when asked for, after the 2-D views; both
/// equal ROC-AUC and precision at k of the scores an analysis holding them gives.
#[test]
fn the_ui_evaluates_the_ensemble_first_and_each_detector_after() {
    use std::sync::Arc;
    use zsift::tui::data::Results;
    let log = Arc::new(log());
    let c = Cancel::new();
    let mut m = Model::default();
    m.ensemble.fit_limit = Some(1000);
    let full = held(&log, &m);
    let views = zsift::pipeline::analyze_views(&log, &m, &c, &|_| {}).unwrap();
    assert!(views.verdicts.runs.iter().all(|r| r.scores.is_empty()));
    let r = Results::new(&log, &m, views, &c, std::time::Instant::now()).unwrap();
    assert!(r.evaluation().is_none() && !r.detectors_pending());
    assert!(r.summarise(&c));
    let ev = r.evaluation().expect("a labelled log is evaluated");
    assert!(ev.detectors().is_none() && r.detectors_pending());
    let truth = zsift::eval::truth(&log.frame, &m.label_column, &full.matrix.rows);
    let count = |t: bool| truth.iter().filter(|v| **v == Some(t)).count();
    assert_eq!((ev.positives, ev.negatives), (count(true), count(false)));
    assert!(ev.positives > 0 && ev.negatives > 0);
    let judged = |scores: &[f64]| zsift::eval::auc_and_precision(scores, &truth);
    assert_eq!(
        (ev.ensemble.auc, ev.ensemble.precision),
        judged(&full.verdicts.combined)
    );
    assert!(r.evaluate_detectors(&c));
    assert!(!r.detectors_pending());
    let rows = ev.detectors().expect("each detector's rows");
    assert_eq!(rows.len(), full.verdicts.runs.len());
    for (row, run) in rows.iter().zip(&full.verdicts.runs) {
        assert_eq!(row.name, run.kind.name());
        assert_eq!(run.scores.len(), truth.len(), "{}: held scores", row.name);
        assert_eq!(
            (row.auc, row.precision),
            judged(&run.scores),
            "{}",
            row.name
        );
    }
    assert_eq!(ev.detector_sample(), None, "every row judged");
    // Asked again, nothing is scored again.
    assert!(r.evaluate_detectors(&c));
    assert_eq!(ev.detectors().unwrap().len(), rows.len());

    // Above the limit each detector is judged on a seeded sample of rows, the ensemble
    // still on every row.
    let n = truth.len();
    let limit = n / 3;
    let at = zsift::eval::sample_rows(n, limit).expect("sampled");
    assert_eq!(at.len(), limit);
    assert!(at.windows(2).all(|w| w[0] < w[1]) && at[limit - 1] < n);
    assert_eq!(
        zsift::eval::sample_rows(n, limit).as_ref(),
        Some(&at),
        "seeded"
    );
    assert_eq!(zsift::eval::sample_rows(n, n), None);
    let views = zsift::pipeline::analyze_views(&log, &m, &c, &|_| {}).unwrap();
    let r = Results::new(&log, &m, views, &c, std::time::Instant::now()).unwrap();
    assert!(r.summarise(&c) && r.evaluate_detectors_within(limit, &c));
    let ev = r.evaluation().unwrap();
    let t: Vec<Option<bool>> = at.iter().map(|&i| truth[i]).collect();
    let malicious = t.iter().filter(|v| **v == Some(true)).count();
    assert_eq!(ev.detector_sample(), Some((limit, malicious)));
    assert_eq!(
        (ev.ensemble.auc, ev.ensemble.precision),
        judged(&full.verdicts.combined)
    );
    assert_eq!(ev.detectors_failed(), None);
    for (row, run) in ev.detectors().unwrap().iter().zip(&full.verdicts.runs) {
        let s: Vec<f64> = at.iter().map(|&i| run.scores[i]).collect();
        assert_eq!(
            (row.auc, row.precision),
            zsift::eval::auc_and_precision(&s, &t),
            "{}: on the sample",
            row.name
        );
    }

    // An evaluation that could not be made is no longer waited for, and says why.
    let views = zsift::pipeline::analyze_views(&log, &m, &c, &|_| {}).unwrap();
    let r = Results::new(&log, &m, views, &c, std::time::Instant::now()).unwrap();
    assert!(r.summarise(&c) && r.detectors_pending());
    r.detectors_failed("internal error: \x1b[31mboom");
    assert!(!r.detectors_pending());
    let ev = r.evaluation().unwrap();
    let why = ev.detectors_failed().expect("failed");
    assert!(why.contains("boom") && !why.contains('\x1b'), "{why}");
    assert!(r.evaluate_detectors(&c), "nothing left to make");
    assert_eq!(ev.detectors().map(|d| d.len()), Some(0));
}
