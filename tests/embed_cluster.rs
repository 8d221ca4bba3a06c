//! Embedding and clustering against the Python references (umap-learn, hdbscan) on the
//! reference matrix of `../shared/reference/010-mixed`, plus closed-form cases.

mod common;

use std::collections::HashMap;

use ndarray::Array2;
use zsift::cancel::Cancel;
use zsift::cluster::{hdbscan, HdbscanParams};

/// Adjusted Rand index (Hubert & Arabie 1985) of two labellings; every label value,
/// noise included, is one group.
fn adjusted_rand(a: &[i64], b: &[i64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut pairs: HashMap<(i64, i64), u64> = HashMap::new();
    let mut ra: HashMap<i64, u64> = HashMap::new();
    let mut rb: HashMap<i64, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *pairs.entry((x, y)).or_default() += 1;
        *ra.entry(x).or_default() += 1;
        *rb.entry(y).or_default() += 1;
    }
    let c2 = |v: u64| (v * v.saturating_sub(1)) as f64 / 2.0;
    let index: f64 = pairs.values().map(|&v| c2(v)).sum();
    let sa: f64 = ra.values().map(|&v| c2(v)).sum();
    let sb: f64 = rb.values().map(|&v| c2(v)).sum();
    let expected = sa * sb / c2(a.len() as u64);
    let max = (sa + sb) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

fn reference_labels() -> Vec<i64> {
    let (_, rows) = common::read_csv(&common::reference("010-mixed/hdbscan_labels.csv"), &[]);
    rows.iter().map(|r| r[0] as i64).collect()
}

fn labels_i64(l: &[i32]) -> Vec<i64> {
    l.iter().map(|&v| v as i64).collect()
}

#[test]
fn hdbscan_matches_reference() {
    let x = common::reference_matrix();
    let want = reference_labels();
    assert_eq!(want.len(), x.nrows());
    let t = std::time::Instant::now();
    let got = hdbscan(x.view(), &HdbscanParams::default(), &Cancel::new()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let ari = adjusted_rand(&labels_i64(&got.labels), &want);
    let want_clusters = want.iter().filter(|&&l| l >= 0).max().map_or(0, |m| m + 1);
    let want_noise = want.iter().filter(|&&l| l < 0).count();
    eprintln!(
        "hdbscan on the reference matrix: ARI {ari:.4}, clusters {} (hdbscan {want_clusters}), \
         noise {} (hdbscan {want_noise}), {secs:.3} s",
        got.count,
        got.noise()
    );
    assert!(ari >= 0.9, "ARI {ari}");
    let ratio = got.count as f64 / want_clusters as f64;
    assert!((0.9..=1.1).contains(&ratio), "clusters {}", got.count);
    assert!(got.probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(got.outlier_scores.iter().all(|p| (0.0..=1.0).contains(p)));
}

/// Three well-separated Gaussian-like blobs in 5 dimensions plus their truth labels.
fn blobs(per: usize, seed: u64) -> (Array2<f64>, Vec<i64>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let centres = [
        [0.0; 5],
        [20.0, 0.0, 0.0, 5.0, 0.0],
        [0.0, 20.0, -10.0, 0.0, 3.0],
    ];
    let n = per * centres.len();
    let x = Array2::from_shape_fn((n, 5), |(i, j)| {
        centres[i / per][j] + (0..6).map(|_| rng.gen::<f64>()).sum::<f64>() - 3.0
    });
    (x, (0..n).map(|i| (i / per) as i64).collect())
}

#[test]
fn hdbscan_finds_blobs_and_not_uniform_noise() {
    let (x, truth) = blobs(200, 11);
    let got = hdbscan(x.view(), &HdbscanParams::default(), &Cancel::new()).unwrap();
    // Noise rows at the blobs' edges are allowed: compare on clustered rows only.
    let keep: Vec<usize> = (0..truth.len()).filter(|&i| got.labels[i] >= 0).collect();
    let a: Vec<i64> = keep.iter().map(|&i| got.labels[i] as i64).collect();
    let b: Vec<i64> = keep.iter().map(|&i| truth[i]).collect();
    let ari = adjusted_rand(&a, &b);
    eprintln!(
        "blobs: {} clusters, {} noise, ARI on clustered rows {ari:.4}",
        got.count,
        got.noise()
    );
    assert_eq!(got.count, 3);
    assert!(ari > 0.99);
    assert!(got.noise() < 60);

    use rand::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let u = Array2::from_shape_fn((1000, 3), |_| rng.gen::<f64>());
    let got = hdbscan(u.view(), &HdbscanParams::default(), &Cancel::new()).unwrap();
    let clustered = 1000 - got.noise();
    eprintln!(
        "uniform: {} clusters, {} of 1000 rows clustered",
        got.count, clustered
    );
    // Uniform density has no cluster structure: at most a few small local clusters.
    assert!(got.noise() > 500, "noise {}", got.noise());
}

#[test]
fn hdbscan_is_deterministic() {
    let x = common::reference_matrix();
    let a = hdbscan(x.view(), &HdbscanParams::default(), &Cancel::new()).unwrap();
    let b = hdbscan(x.view(), &HdbscanParams::default(), &Cancel::new()).unwrap();
    assert_eq!(a, b);
}
