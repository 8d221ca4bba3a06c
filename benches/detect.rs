//! Detector speed and memory on scaled real conn logs.
//!
//! `cargo bench --bench detect` prints, at 100k and 1M rows (made from
//! `stratosphere/010-mixed` by `../shared/tools/scale_conn.py`), each detector's fit on the
//! Benign rows plus score of every row — the seed notebook's protocol and the one PyOD was
//! timed with in `../shared/reference/seed_speed.json` — on the seed's seven features
//! divided by their max (median of 3 runs at 100k, one at 1M), then the whole default
//! analysis (default features and all ten detectors), and, from a child process, the peak
//! memory of the default ensemble on 1M rows × 20 features. Set `ZSIFT_BENCH_SIZES` (e.g.
//! `100000`) to choose sizes.

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

fn sizes() -> Vec<usize> {
    std::env::var("ZSIFT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000])
}

fn seed_matrix(log: &zsift::ingest::Log) -> features::Matrix {
    let sel = Filter::default().select(&log.frame);
    let train = label_mask(&log.frame, &sel, "label", "Benign").expect("labelled log");
    features::build(&log.frame, &sel, Some(&train), &FeatureOptions::seed()).expect("matrix")
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
        let runs = if n <= 200_000 { 3 } else { 1 };
        println!(
            "\n{n} rows: matrix {} × {}, {} training rows; median of {runs}",
            m.x.nrows(),
            m.x.ncols(),
            m.n_train
        );
        println!(
            "{:<8} {:>9} {:>9} {:>10} {:>8}",
            "detector", "fit+score", "min", "PyOD 100k", "ratio"
        );
        for kind in DetectorKind::ALL {
            // Fitted on every training row, as PyOD was timed.
            let opts = EnsembleOptions {
                detectors: vec![kind],
                fit_limit: None,
                ..Default::default()
            };
            let t = times(runs, || {
                ensemble::run(&m.x, &m.train, &opts, &Cancel::new(), &|_| {}).expect("run")
            });
            let med = median(&t);
            let pyod = PYOD_100K
                .iter()
                .find(|(k, _)| *k == kind.name())
                .map(|(_, s)| *s);
            let (p, r) = match (pyod, n == 100_000) {
                (Some(p), true) => (format!("{p:.3}"), format!("{:.0}x", p / med)),
                _ => ("-".into(), "-".into()),
            };
            println!(
                "{:<8} {:>9.3} {:>9.3} {:>10} {:>8}",
                kind.name(),
                med,
                t[0],
                p,
                r
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
