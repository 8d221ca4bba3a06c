//! KNN, LOF and CBLOF training scores on the reference matrix against PyOD's
//! (`tests/reference/010-mixed/pyod_scores.csv`), by Spearman rank correlation.

mod common;

use std::time::Instant;

use zsift::cancel::Cancel;
use zsift::detect::cblof::Cblof;
use zsift::detect::knn::Knn;
use zsift::detect::lof::Lof;
use zsift::detect::Detector;

fn check(det: &mut dyn Detector, pyod_name: &str, min_rho: f64) {
    let x = common::reference_matrix();
    let start = Instant::now();
    let ours = det.fit(x.view(), &Cancel::new()).expect("fit");
    let fit_time = start.elapsed();
    let start = Instant::now();
    let again = det.score(x.view(), &Cancel::new()).expect("score");
    let score_time = start.elapsed();
    assert_eq!(ours.len(), x.nrows());
    assert_eq!(again.len(), x.nrows());
    assert!(ours.iter().chain(&again).all(|v| v.is_finite()));
    let theirs = common::pyod_scores(pyod_name);
    let rho = common::spearman(&ours, &theirs);
    eprintln!(
        "{pyod_name}: spearman {rho:.5} vs PyOD ({} x {}), fit {:.1} ms, score {:.1} ms",
        x.nrows(),
        x.ncols(),
        fit_time.as_secs_f64() * 1e3,
        score_time.as_secs_f64() * 1e3
    );
    assert!(rho >= min_rho, "{pyod_name}: spearman {rho} < {min_rho}");
    // Training scores are deterministic, and scoring the training rows again counts each
    // row as its own neighbour (PyOD's `decision_function`), so `again` differs for the
    // neighbour methods; for all detectors it still ranks alike.
    let rho_again = common::spearman(&ours, &again);
    eprintln!("{pyod_name}: spearman(fit, score on the same rows) {rho_again:.5}");
}

/// Largest absolute difference between two score vectors.
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn knn_matches_pyod() {
    check(&mut Knn::default(), "knn", 0.99);
    // Exact distances: the values themselves agree, not only the ranks.
    let x = common::reference_matrix();
    let ours = Knn::default().fit(x.view(), &Cancel::new()).expect("fit");
    let diff = max_abs_diff(&ours, &common::pyod_scores("knn"));
    eprintln!("knn: max |ours - PyOD| = {diff:e}");
    assert!(diff < 1e-9);
}

#[test]
fn lof_matches_pyod() {
    check(&mut Lof::default(), "lof", 0.99);
    // Values differ only where equidistant neighbours were picked differently.
    let x = common::reference_matrix();
    let ours = Lof::default().fit(x.view(), &Cancel::new()).expect("fit");
    let theirs = common::pyod_scores("lof");
    let close = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| (*a - *b).abs() <= 1e-6 * b.abs().max(1.0))
        .count();
    eprintln!(
        "lof: {close} of {} rows within 1e-6 of PyOD's value",
        ours.len()
    );
}

#[test]
fn cblof_matches_pyod() {
    check(&mut Cblof::new(8, 42), "cblof", 0.9);
    // k-means depends on its seed. On this matrix the restarts end in one of two
    // optima: the one PyOD's single run found (Spearman ≥ 0.99), or one of lower inertia
    // whose small clusters differ (0.83); which one depends on the seed, for any
    // initialisation tried (linfa's k-means++, plain or greedy). Every seed must land on
    // one of them, never on a poor clustering.
    let x = common::reference_matrix();
    let theirs = common::pyod_scores("cblof");
    let mut matching = 0;
    for seed in 0..12 {
        let ours = Cblof::new(8, seed)
            .fit(x.view(), &Cancel::new())
            .expect("fit");
        let rho = common::spearman(&ours, &theirs);
        eprintln!("cblof seed {seed}: spearman {rho:.5}");
        assert!(rho >= 0.8, "cblof seed {seed}: spearman {rho}");
        matching += usize::from(rho >= 0.99);
    }
    assert!(
        matching >= 3,
        "{matching} of 12 seeds reach PyOD's clustering"
    );
}
