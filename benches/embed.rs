//! UMAP and HDBSCAN speed and memory at 100k and 1M rows of a scaled conn log.
//!
//! The matrix is the seven default conn.log features (duration, orig_bytes, resp_bytes,
//! orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes) read straight from the loaded
//! frame: nulls become 0, every value becomes `ln(1 + v)`, and each column is divided by
//! its standard deviation (a simple stand-in for the features stage, which is not part of
//! what is measured). Every measurement runs in a fresh process, which loads the log,
//! builds the matrix, resets its peak-memory mark and runs one UMAP or HDBSCAN: the peak
//! resident memory reported is that of the stage plus the matrix. `cargo bench --bench
//! embed` prints the median of 3 runs at 100k rows and one run at 1M rows (UMAP fits a
//! 100k-row sample there and places the rest; HDBSCAN runs both on every row and, as
//! `hdbscan-s`, the way the UI and `export` run it above 100k rows: on a 100k-row sample,
//! every other row taking its nearest sampled row's label). Set `ZSIFT_BENCH_ROWS` (comma-separated)
//! for other sizes, `ZSIFT_BENCH_TASKS` (e.g. `umap,hdbscan-s`) to run only some stages.

mod support;

use std::time::Instant;

use ndarray::Array2;
use polars::prelude::DataType;
use support::*;
use zsift::cancel::Cancel;
use zsift::cluster::{hdbscan, HdbscanParams};
use zsift::embed::{umap, UmapParams};
use zsift::pipeline::{cluster_rows, LandscapeOptions};

const FEATURES: [&str; 7] = [
    "duration",
    "orig_bytes",
    "resp_bytes",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
];

fn sizes() -> Vec<usize> {
    std::env::var("ZSIFT_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000])
}

/// The seven features of a scaled conn log, log1p-transformed and divided by their
/// standard deviations.
fn matrix(rows: usize) -> Array2<f64> {
    let log = zsift::ingest::load(&[scaled(rows, false)]).expect("load");
    let n = log.frame.height();
    let mut x = Array2::<f64>::zeros((n, FEATURES.len()));
    for (j, name) in FEATURES.iter().enumerate() {
        let s = log
            .frame
            .column(name)
            .unwrap_or_else(|_| panic!("no column {name}"))
            .as_materialized_series();
        // Counts are stored as the narrowest integer type that holds them.
        let values: Vec<f64> = s
            .cast(&DataType::Float64)
            .unwrap_or_else(|e| panic!("column {name}: {e}"))
            .f64()
            .expect("f64")
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect();
        for (i, v) in values.into_iter().enumerate() {
            x[[i, j]] = v.max(0.0).ln_1p();
        }
        let mean = x.column(j).sum() / n as f64;
        let var = x
            .column(j)
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / n as f64;
        if var > 0.0 {
            let sd = var.sqrt();
            x.column_mut(j).mapv_inplace(|v| v / sd);
        }
    }
    x
}

/// The matrix the pipeline itself builds: the default features (the seven counts and
/// the rarity-encoded proto, service, conn_state, history and id.resp_p) with the
/// default scaling, every row a training row.
fn model_matrix(rows: usize) -> Array2<f64> {
    model_matrix_of(&scaled(rows, false))
}

/// The pipeline's default matrix of every row of the log at `path`.
fn model_matrix_of(path: &std::path::Path) -> Array2<f64> {
    let log = zsift::ingest::load(&[path.to_path_buf()]).expect("load");
    let frame = &log.frame;
    let selection: Vec<u32> = (0..frame.height() as u32).collect();
    let opts = zsift::features::FeatureOptions::default_for(frame);
    zsift::features::build(frame, &selection, None, &opts, None)
        .expect("features")
        .x
}

/// In a measuring child: runs `task` (`umap`, `hdbscan`, `hdbscan-s`, or any of them
/// with `-model` on the pipeline's own matrix) once on `rows` rows and prints the
/// seconds, the peak resident bytes and a short description of the result.
fn child(task: &str, rows: usize) {
    let (task, x) = match task.strip_suffix("-model") {
        Some(t) => (t, model_matrix(rows)),
        None => (task, matrix(rows)),
    };
    // Start the peak-memory mark here, so the log's loading is not counted.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let cancel = Cancel::new();
    let t = Instant::now();
    let what = match task {
        "umap" => {
            let e = umap(x.view(), &UmapParams::default(), &cancel).expect("umap");
            assert!(e.points.iter().all(|v| v.is_finite()));
            match e.sampled {
                Some(s) => format!("fit on {s}"),
                None => "all rows".into(),
            }
        }
        "hdbscan" => {
            let c = hdbscan(x.view(), &HdbscanParams::default(), &cancel).expect("hdbscan");
            format!("{}_clusters,{}_noise", c.count, c.noise())
        }
        "hdbscan-s" => {
            let rows: Vec<usize> = (0..x.nrows()).collect();
            let opts = LandscapeOptions::default();
            let (labels, count, sampled) =
                cluster_rows(&x, &rows, &opts, &cancel).expect("hdbscan");
            let noise = labels.iter().filter(|&&l| l < 0).count();
            match sampled {
                Some(s) => format!("{count}_clusters,{noise}_noise,fit_on_{s}"),
                None => format!("{count}_clusters,{noise}_noise"),
            }
        }
        t => panic!("unknown task {t}"),
    };
    let secs = t.elapsed().as_secs_f64();
    println!("{secs} {} {}", peak_rss(), what.replace(' ', "_"));
}

/// scikit-learn's `trustworthiness(x, emb, n_neighbors=k)` of rows that are all
/// distinct, estimated on `queries` seeded rows: each query's penalty is exact (the ranks
/// of its `k` nearest rows in `emb` among all rows of `x`), and their mean stands for the
/// mean over every row (a standard error of about 0.0005 at 5,000 queries here).
fn trustworthiness(x: &Array2<f64>, emb: &Array2<f64>, k: usize, queries: usize) -> f64 {
    use rand::{Rng, SeedableRng};
    use rayon::prelude::*;
    let n = x.nrows();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let picked: Vec<usize> = (0..queries.min(n)).map(|_| rng.gen_range(0..n)).collect();
    let d2 = |m: &Array2<f64>, i: usize, j: usize| -> f64 {
        m.row(i)
            .iter()
            .zip(m.row(j))
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    };
    let penalty: f64 = picked
        .par_iter()
        .map(|&i| {
            // The k nearest in the embedding (not the row itself), ties in row order.
            let mut near: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (d2(emb, i, j), j))
                .collect();
            near.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // Their ranks in `x`: one more than the rows before them (distance, then row).
            let mut keys: Vec<(f64, usize)> =
                near[..k].iter().map(|&(_, j)| (d2(x, i, j), j)).collect();
            keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut before = vec![0usize; k];
            for l in (0..n).filter(|&l| l != i) {
                let key = (d2(x, i, l), l);
                // The first of the sorted keys that `key` is before.
                let at =
                    keys.partition_point(|t| t.0.total_cmp(&key.0).then(t.1.cmp(&key.1)).is_le());
                if at < k {
                    before[at] += 1;
                }
            }
            let mut sum = 0.0;
            let mut acc = 0;
            for b in before {
                acc += b;
                // `acc` rows come before this key: its rank is acc + 1.
                sum += (acc + 1).saturating_sub(k) as f64;
            }
            sum
        })
        .sum::<f64>()
        * n as f64
        / picked.len() as f64;
    let (n, k) = (n as f64, k as f64);
    1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
}

/// `ZSIFT_BENCH_UMAP_SAMPLES=0,50000,20000`: UMAP of the pipeline's matrix of each size in
/// `ZSIFT_BENCH_ROWS` (its distinct rows), fitted on all of them (0) or on a sample of
/// each size and the others placed: seconds and trustworthiness (k = 15). With
/// `ZSIFT_BENCH_UMAP_LOG=FILE,...` the matrices are those of the logs given (any conn
/// log, scaled or not) instead.
fn umap_samples(list: &str) {
    println!("umap of the pipeline's matrix, distinct rows; trustworthiness k = 15, 5,000 queries");
    println!("   rows  distinct   sample  seconds  trustworthiness");
    let matrices: Vec<Box<dyn Fn() -> Array2<f64>>> = match std::env::var("ZSIFT_BENCH_UMAP_LOG") {
        Ok(logs) => logs
            .split(',')
            .map(|p| {
                let p = std::path::PathBuf::from(p);
                Box::new(move || model_matrix_of(&p)) as Box<dyn Fn() -> Array2<f64>>
            })
            .collect(),
        Err(_) => sizes()
            .into_iter()
            .map(|n| Box::new(move || model_matrix(n)) as Box<dyn Fn() -> Array2<f64>>)
            .collect(),
    };
    for make in matrices {
        let x = make();
        let n = x.nrows();
        let mut seen = std::collections::HashSet::new();
        let reps: Vec<usize> = (0..x.nrows())
            .filter(|&i| seen.insert(x.row(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>()))
            .collect();
        let x = x.select(ndarray::Axis(0), &reps);
        for s in list
            .split(',')
            .filter_map(|s| s.trim().parse::<usize>().ok())
        {
            let params = UmapParams {
                sample_limit: if s == 0 { usize::MAX } else { s },
                ..UmapParams::default()
            };
            let t = Instant::now();
            let e = umap(x.view(), &params, &Cancel::new()).expect("umap");
            let secs = t.elapsed().as_secs_f64();
            let tw = trustworthiness(&x, &e.points.mapv(f64::from), 15, 5000);
            println!(
                "{n:>7} {:>9} {:>8} {secs:>8.2} {tw:>16.5}",
                x.nrows(),
                if s == 0 {
                    "all".to_string()
                } else {
                    s.to_string()
                }
            );
        }
    }
}

fn main() {
    if let Ok(list) = std::env::var("ZSIFT_BENCH_UMAP_SAMPLES") {
        umap_samples(&list);
        return;
    }
    if let Some(task) = child_task() {
        let (name, rows) = task.split_once(':').expect("task:rows");
        child(name, rows.parse().expect("rows"));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        println!("embed: bench");
        return;
    }
    println!(
        "embed/cluster, {} threads; 7 features, log1p / std (-model: the pipeline's default matrix)",
        rayon::current_num_threads()
    );
    println!("stage             rows  runs  median s   min s   max s  peak RSS MB  result");
    for n in sizes() {
        let runs = if n <= 200_000 { 3 } else { 1 };
        // Above the landscape's cluster limit, HDBSCAN is timed both on every row and as
        // the UI and `export` run it (`hdbscan-s`: on a sample, the rest by nearest row).
        let tasks: &[&str] = if n > LandscapeOptions::default().cluster_limit {
            &[
                "umap",
                "hdbscan-s",
                "hdbscan",
                "umap-model",
                "hdbscan-s-model",
            ]
        } else {
            &["umap", "hdbscan", "umap-model", "hdbscan-model"]
        };
        let only = std::env::var("ZSIFT_BENCH_TASKS").ok();
        for &task in tasks {
            if only
                .as_deref()
                .is_some_and(|o| !o.split(',').any(|t| t.trim() == task))
            {
                continue;
            }
            let mut secs = Vec::new();
            let mut peak = 0u64;
            let mut what = String::new();
            for _ in 0..runs {
                let out = in_child(&format!("{task}:{n}"));
                let f: Vec<&str> = out.split_whitespace().collect();
                secs.push(f[0].parse::<f64>().expect("seconds"));
                peak = peak.max(f[1].parse().expect("bytes"));
                what = f[2].replace('_', " ");
            }
            secs.sort_by(f64::total_cmp);
            println!(
                "{task:<15} {n:>7} {runs:>5} {:>9.2} {:>7.2} {:>7.2} {:>12.1}  {what}",
                median(&secs),
                secs[0],
                secs[secs.len() - 1],
                mb(peak)
            );
        }
    }
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
