//! Detector speed and memory on scaled real conn logs.
//!
//! `cargo bench --bench detect` prints, at 100k and 1M rows (made from
//! `stratosphere/010-mixed` by `benches/scale_conn.py`), each detector's fit on the
//! Benign rows plus score of every row — the seed notebook's protocol and the one PyOD was
//! timed with in `tests/reference/seed_speed.json` — on the seed's seven features
//! divided by their max (median of 7 runs up to 200k rows, where a run lasts hundredths of
//! a second and one noisy run moves a median of 3, of 5 runs up to 2M rows, else one), then
//! the whole default analysis (default features and all ten detectors), and, from a child
//! process, the peak memory of the default ensemble on 1M rows × 20 features. Set
//! `ZSIFT_BENCH_SIZES` (e.g. `100000`) to choose sizes.
//!
//! `run` is the whole ensemble run with that detector alone (training split, distinct
//! rows, fit, score, threshold, ranks and verdicts); `own` is the detector's own fit and
//! score (its `fit_s + score_s`), the part PyOD's figure measures; the preparation and
//! the ranking are shared by every detector of a real run. Ratios are PyOD's seconds over
//! zsift's.

mod support;

use std::time::Instant;

use ndarray::{concatenate, Array2, Axis};
use support::*;
use zsift::cancel::Cancel;
use zsift::detect::ensemble::{self, EnsembleOptions};
use zsift::detect::DetectorKind;
use zsift::features::{self, FeatureOptions};
use zsift::filter::{label_mask, Filter};
use zsift::pipeline::{analyze, Model};

/// PyOD's fit+score seconds at 100k rows, from `seed_speed.json`.
const PYOD_100K: [(&str, f64); 8] = [
    ("cblof", 4.666),
    ("iforest", 0.927),
    ("gmm", 0.405),
    ("ecod", 0.846),
    ("copod", 0.543),
    ("hbos", 4.845),
    ("knn", 2.3),
    ("lof", 4.316),
];

/// PyOD's fit + score seconds on the 1M-row log (`seed_speed.json`: the neighbour
/// methods were not run there).
const PYOD_1M: [(&str, f64); 6] = [
    ("cblof", 5.487),
    ("iforest", 7.657),
    ("gmm", 1.973),
    ("ecod", 9.117),
    ("copod", 7.799),
    ("hbos", 5.582),
];

fn sizes() -> Vec<usize> {
    std::env::var("ZSIFT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000])
}

fn seed_matrix(log: &zsift::ingest::Log) -> features::Matrix {
    let sel = Filter::default().select(&log.frame);
    let train = label_mask(&log.frame, &sel, "label", "Benign").expect("labelled log");
    features::build(
        &log.frame,
        &sel,
        Some(&train),
        &FeatureOptions::seed(),
        None,
    )
    .expect("matrix")
}

fn main() {
    if let Some(task) = child_task() {
        // Peak memory of the default ensemble on n rows × 20 features.
        let n: usize = task.parse().expect("rows");
        let log = zsift::ingest::load(&[scaled(n, false)]).expect("load");
        let base = rss();
        let sel = Filter::default().select(&log.frame);
        let m = features::build(
            &log.frame,
            &sel,
            None,
            &FeatureOptions::default_for(&log.frame),
            None,
        )
        .expect("matrix");
        // Widen to 20 columns with log-scaled copies of the first ones.
        let extra =
            m.x.slice(ndarray::s![.., ..20 - m.x.ncols()])
                .mapv(|v| v.abs().ln_1p());
        let x: Array2<f64> = concatenate(Axis(1), &[m.x.view(), extra.view()]).expect("widen");
        drop(m);
        let t = Instant::now();
        let v = ensemble::run(
            &x,
            &vec![true; x.nrows()],
            &EnsembleOptions::default(),
            &Cancel::new(),
            &|_| {},
        )
        .expect("ensemble");
        println!(
            "{} {} {} {:.2} {}",
            x.nrows(),
            x.ncols(),
            peak_rss() - base,
            t.elapsed().as_secs_f64(),
            v.n_flagged()
        );
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        println!("detect: bench");
        return;
    }
    println!(
        "detectors on the seed's 7 features / max, fit on Benign rows, score all; {} threads",
        rayon::current_num_threads()
    );
    for n in sizes() {
        let log = zsift::ingest::load(&[scaled(n, false)]).expect("load");
        let m = seed_matrix(&log);
        let runs = match n {
            0..=200_000 => 7,
            200_001..=2_000_000 => 5,
            _ => 1,
        };
        println!(
            "\n{n} rows: matrix {} × {}, {} training rows; median of {runs}",
            m.x.nrows(),
            m.x.ncols(),
            m.n_train
        );
        println!(
            "{:<8} {:>9} {:>9} {:>9} {:>10} {:>7} {:>7}",
            "detector", "run", "min", "own", "PyOD", "ratio", "own"
        );
        for kind in DetectorKind::ALL {
            // Fitted on every training row, as PyOD was timed.
            let opts = EnsembleOptions {
                detectors: vec![kind],
                fit_limit: None,
                ..Default::default()
            };
            // One untimed run first: the first detector measured would otherwise pay for
            // the thread pool's start and the first touch of the matrix.
            ensemble::run(&m.x, &m.train, &opts, &Cancel::new(), &|_| {}).expect("run");
            let mut own = Vec::new();
            let t = times(runs, || {
                let v = ensemble::run(&m.x, &m.train, &opts, &Cancel::new(), &|_| {}).expect("run");
                own.push(v.runs[0].fit_s + v.runs[0].score_s);
            });
            own.sort_by(f64::total_cmp);
            let med = median(&t);
            let own = median(&own);
            let table: &[(&str, f64)] = match n {
                100_000 => &PYOD_100K,
                1_000_000 => &PYOD_1M,
                _ => &[],
            };
            let pyod = table
                .iter()
                .find(|(k, _)| *k == kind.name())
                .map(|(_, s)| *s);
            let (p, r, ro) = match pyod {
                Some(p) => (
                    format!("{p:.3}"),
                    format!("{:.0}x", p / med),
                    format!("{:.0}x", p / own),
                ),
                _ => ("-".into(), "-".into(), "-".into()),
            };
            println!(
                "{:<8} {:>9.3} {:>9.3} {:>9.3} {:>10} {:>7} {:>7}",
                kind.name(),
                med,
                t[0],
                own,
                p,
                r,
                ro
            );
        }
        let model = Model {
            train_label: Some("Benign".into()),
            ..Model::default()
        };
        let t = times(runs, || {
            analyze(&log, &model, &Cancel::new(), &|_| {}).expect("analyze")
        });
        println!(
            "{:<8} {:>9.3} {:>9.3}   (default model: features + 10 detectors + verdicts)",
            "default",
            median(&t),
            t[0]
        );
    }
    let n = *sizes().last().unwrap_or(&1_000_000);
    let out = in_child(&n.to_string());
    let f: Vec<&str> = out.split_whitespace().collect();
    println!(
        "\ndefault ensemble on {} rows × {} features: peak memory above the loaded log {:.0} MB, {} s, {} flagged",
        f[0],
        f[1],
        mb(f[2].parse().unwrap_or(0)),
        f[3],
        f[4]
    );
}
