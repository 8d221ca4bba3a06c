//! Embedding and clustering against the Python references (umap-learn, hdbscan) on the
//! reference matrix of `tests/reference/010-mixed`, plus closed-form cases.

mod common;

use std::collections::HashMap;

use ndarray::Array2;
use zsift::cancel::Cancel;
use zsift::cluster::{hdbscan, HdbscanParams};
use zsift::embed::{pca, umap, UmapParams};

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

/// scikit-learn's `trustworthiness(X, X_embedded, n_neighbors=k)`: ranks in the original
/// space are exact (ties in row order), neighbours in the embedding exclude the row.
fn trustworthiness(x: &Array2<f64>, emb: &Array2<f64>, k: usize) -> f64 {
    use rayon::prelude::*;
    let n = x.nrows();
    let penalty: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let dist = |m: &Array2<f64>, j: usize| -> f64 {
                m.row(i)
                    .iter()
                    .zip(m.row(j))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum()
            };
            let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            let d: Vec<f64> = (0..n).map(|j| dist(x, j)).collect();
            order.sort_by(|&a, &b| d[a].total_cmp(&d[b]).then(a.cmp(&b)));
            let mut rank = vec![0usize; n];
            for (r, &j) in order.iter().enumerate() {
                rank[j] = r + 1;
            }
            let e: Vec<f64> = (0..n).map(|j| dist(emb, j)).collect();
            order.sort_by(|&a, &b| e[a].total_cmp(&e[b]).then(a.cmp(&b)));
            order[..k]
                .iter()
                .map(|&j| rank[j].saturating_sub(k) as f64)
                .sum::<f64>()
        })
        .sum();
    let (n, k) = (n as f64, k as f64);
    1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
}

/// The reference's trustworthiness (k = 15) of umap-learn's or scikit-learn's PCA layout
/// (`method` "umap" or "pca") of the reference matrix.
fn reference_trustworthiness(method: &str) -> f64 {
    let params = std::fs::read_to_string(common::reference("010-mixed/params.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&params).unwrap();
    v["trustworthiness_k15"][method].as_f64().unwrap()
}

#[test]
fn umap_trustworthiness_beats_pca_on_reference() {
    let x = common::reference_matrix();
    let ref_umap = reference_trustworthiness("umap");
    let ref_pca = reference_trustworthiness("pca");

    let cancel = Cancel::new();
    let p = pca(x.view(), &cancel).unwrap();
    let t = std::time::Instant::now();
    let u = umap(x.view(), &UmapParams::default(), &cancel).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(u.sampled, None);
    assert!(u.points.iter().all(|v| v.is_finite()));
    let tp = trustworthiness(&x, &p.points, 15);
    let tu = trustworthiness(&x, &u.points.mapv(f64::from), 15);
    eprintln!(
        "trustworthiness k=15: umap {tu:.4} (umap-learn {ref_umap:.4}), pca {tp:.4} \
         (scikit-learn {ref_pca:.4}); umap {secs:.2} s"
    );
    assert!(tu >= ref_umap - 0.02, "umap trustworthiness {tu}");
    assert!(tu > tp, "umap {tu} <= pca {tp}");
}

/// The transform step keeps neighbourhoods: UMAP fitted on a third of the reference
/// matrix's rows, the others placed, is still more trustworthy than PCA and close to
/// umap-learn's layout of every row.
#[test]
fn umap_placed_rows_keep_trustworthiness() {
    let x = common::reference_matrix();
    let ref_umap = reference_trustworthiness("umap");
    let cancel = Cancel::new();
    let p = pca(x.view(), &cancel).unwrap();
    let limit = x.nrows() / 3;
    let u = umap(
        x.view(),
        &UmapParams {
            sample_limit: limit,
            ..UmapParams::default()
        },
        &cancel,
    )
    .unwrap();
    assert_eq!(u.sampled, Some(limit));
    assert!(u.points.iter().all(|v| v.is_finite()));
    let tp = trustworthiness(&x, &p.points, 15);
    let tu = trustworthiness(&x, &u.points.mapv(f64::from), 15);
    eprintln!("trustworthiness k=15, fitted on {limit} rows: umap {tu:.4}, pca {tp:.4}");
    assert!(tu > tp, "umap {tu} <= pca {tp}");
    assert!(tu >= ref_umap - 0.03, "umap trustworthiness {tu}");
}

/// Share of each row's `k` nearest embedded neighbours that carry its label.
fn neighbour_agreement(emb: &Array2<f64>, labels: &[i64], k: usize) -> f64 {
    let n = emb.nrows();
    let mut same = 0usize;
    for i in 0..n {
        let mut d: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let dx = emb[[i, 0]] - emb[[j, 0]];
                let dy = emb[[i, 1]] - emb[[j, 1]];
                (dx * dx + dy * dy, j)
            })
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        same += d[..k].iter().filter(|e| labels[e.1] == labels[i]).count();
    }
    same as f64 / (n * k) as f64
}

#[test]
fn umap_separates_blobs_and_is_deterministic() {
    let (x, truth) = blobs(200, 3);
    let cancel = Cancel::new();
    let a = umap(x.view(), &UmapParams::default(), &cancel).unwrap();
    let agree = neighbour_agreement(&a.points.mapv(f64::from), &truth, 10);
    eprintln!("umap blobs: neighbour label agreement {agree:.4}");
    assert!(agree > 0.99);
    let b = umap(x.view(), &UmapParams::default(), &cancel).unwrap();
    assert_eq!(a, b);
    let other = UmapParams {
        seed: 7,
        ..UmapParams::default()
    };
    assert_ne!(umap(x.view(), &other, &cancel).unwrap(), a);
}

#[test]
fn umap_samples_above_the_limit() {
    let (x, truth) = blobs(300, 4);
    let params = UmapParams {
        sample_limit: 250,
        ..UmapParams::default()
    };
    let cancel = Cancel::new();
    let e = umap(x.view(), &params, &cancel).unwrap();
    assert_eq!(e.sampled, Some(250));
    assert_eq!(e.points.nrows(), 900);
    assert!(e.points.iter().all(|v| v.is_finite()));
    let agree = neighbour_agreement(&e.points.mapv(f64::from), &truth, 10);
    eprintln!("umap sampled blobs: neighbour label agreement {agree:.4}");
    assert!(agree > 0.98);
    assert_eq!(umap(x.view(), &params, &cancel).unwrap(), e);
}

#[test]
fn umap_tiny_and_degenerate_inputs() {
    let cancel = Cancel::new();
    let p = UmapParams::default();
    assert!(umap(Array2::<f64>::zeros((0, 3)).view(), &p, &cancel).is_err());
    assert!(umap(Array2::<f64>::zeros((4, 0)).view(), &p, &cancel).is_err());
    let mut nan = Array2::<f64>::zeros((20, 2));
    nan[[1, 1]] = f64::INFINITY;
    assert!(umap(nan.view(), &p, &cancel).is_err());
    let one = umap(Array2::<f64>::ones((1, 3)).view(), &p, &cancel).unwrap();
    assert_eq!(one.points, Array2::<f32>::zeros((1, 2)));
    for n in [2, 3, 9, 40] {
        let x = Array2::from_shape_fn((n, 3), |(i, j)| (i * (j + 1)) as f64);
        let e = umap(x.view(), &p, &cancel).unwrap();
        assert_eq!(e.points.nrows(), n);
        assert!(e.points.iter().all(|v| v.is_finite()), "n = {n}");
        let same = umap(Array2::<f64>::ones((n, 3)).view(), &p, &cancel).unwrap();
        assert!(
            same.points.iter().all(|v| v.is_finite()),
            "identical, n = {n}"
        );
    }
    let c = Cancel::new();
    c.cancel();
    let (x, _) = blobs(50, 1);
    assert_eq!(
        umap(x.view(), &p, &c),
        Err(zsift::embed::EmbedError::Cancelled)
    );
}
