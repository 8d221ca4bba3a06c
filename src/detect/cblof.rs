//! Cluster-Based Local Outlier Factor (He, Xu, Deng 2003, "Discovering cluster-based
//! local outliers"), following PyOD's `pyod.models.cblof.CBLOF` with `use_weights=False`:
//!
//! 1. k-means (linfa-clustering's `KMeans`, from scikit-learn's greedy k-means++
//!    seeding, ten seeded restarts, the lowest inertia kept);
//! 2. clusters sorted by size, descending; the split index `b` is the first position
//!    where the clusters before it hold at least `alpha` of the rows (condition A) and is
//!    also a position where a cluster is at least `beta` times bigger than the next one
//!    (condition B); if no position satisfies both, the first satisfying A, else the first
//!    satisfying B (PyOD's `_set_small_large_clusters`);
//! 3. score of a row in a large cluster: distance to its own centroid; in a small cluster:
//!    distance to the nearest large-cluster centroid.

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use linfa_nn::distance::Distance;
use ndarray::{Array2, ArrayView, ArrayView2, Axis, Dimension};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "cblof";
const CHUNK: usize = 4096;
/// Default of [`Cblof::kmeans_rows`].
const KMEANS_ROWS: usize = 20_000;

/// CBLOF detector, as PyOD's `CBLOF(n_clusters=8, alpha=0.9, beta=5, use_weights=False)`.
///
/// The clustering is linfa's k-means (scikit-learn's in PyOD), so clusters, and with them
/// scores, can differ from PyOD's on data without a clear cluster structure. After k-means,
/// rows are assigned to their nearest centroid and each non-empty cluster's centroid is set
/// to the mean of its rows (scikit-learn's `cluster_centers_` are such means at
/// convergence). `n_clusters` is clamped to the number of rows.
///
/// On more than [`Cblof::kmeans_rows`] training rows, k-means runs on a seeded uniform
/// sample of that many, and the restarts are compared by their inertia on it (as
/// scikit-learn compares them on the rows it clustered); everything after the choice (the
/// assignment, the centroid means, the cluster sizes) uses every row. A sample of 20,000
/// holds thousands of rows of any cluster large enough to matter to CBLOF: on the scaled
/// 100k-row log (36k training rows) the final inertia over all rows stays within the
/// spread that the seed alone causes. This bounds the cost of the ten restarts on
/// millions of rows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cblof {
    /// Number of k-means clusters (PyOD default 8; the seed notebook used 5).
    pub n_clusters: usize,
    /// Share of rows the large clusters must hold (PyOD default 0.9).
    pub alpha: f64,
    /// Size ratio between consecutive clusters that marks the split (PyOD default 5).
    pub beta: f64,
    /// Number of k-means runs with different seeds; the one with the lowest inertia wins
    /// (scikit-learn's `n_init`).
    pub n_init: usize,
    /// Maximum k-means iterations per run (scikit-learn default 300).
    pub max_iter: u64,
    /// Seed of the k-means initialisation and of the sample.
    pub seed: u64,
    /// Most rows k-means is run on (default 20,000); larger training sets are sampled.
    pub kmeans_rows: usize,
    centroids: Option<Array2<f64>>,
    /// Whether each cluster is large.
    large: Vec<bool>,
}

impl Default for Cblof {
    fn default() -> Self {
        Self::new(8, 42)
    }
}

impl Cblof {
    /// A detector with `n_clusters` clusters and the k-means seed `seed`; other parameters
    /// at PyOD's defaults.
    pub fn new(n_clusters: usize, seed: u64) -> Self {
        Self {
            n_clusters,
            alpha: 0.9,
            beta: 5.0,
            n_init: 10,
            max_iter: 300,
            seed,
            kmeans_rows: KMEANS_ROWS,
            centroids: None,
            large: Vec::new(),
        }
    }

    /// Cluster centroids of the fitted model (`clusters × features`).
    pub fn centroids(&self) -> Option<&Array2<f64>> {
        self.centroids.as_ref()
    }

    /// Whether each cluster of the fitted model is a large cluster.
    pub fn large_clusters(&self) -> &[bool] {
        &self.large
    }

    fn input_error(reason: impl Into<String>) -> DetectError {
        DetectError::Input {
            detector: NAME,
            reason: reason.into(),
        }
    }

    /// Scores rows given their nearest centroids: a row of a large cluster scores its
    /// distance to that centroid (`d2` is its square), a row of a small one its distance
    /// to the nearest large centroid.
    fn scores(
        centroids: &Array2<f64>,
        large: &[bool],
        x: ArrayView2<f64>,
        nearest: &Nearest,
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        let large_ids: Vec<usize> = (0..large.len()).filter(|&c| large[c]).collect();
        let mut out = vec![0.0; x.nrows()];
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .try_for_each(|(c, chunk)| {
                cancel.check()?;
                for (r, o) in chunk.iter_mut().enumerate() {
                    let i = c * CHUNK + r;
                    *o = if large[nearest.label[i]] {
                        nearest.d2[i].sqrt()
                    } else {
                        let row = x.row(i);
                        large_ids
                            .iter()
                            .map(|&l| dist2(row, centroids.row(l)))
                            .fold(f64::INFINITY, f64::min)
                            .sqrt()
                    };
                }
                Ok::<(), DetectError>(())
            })?;
        Ok(out)
    }
}

/// Euclidean distance for linfa's k-means, over plain slices (the rows are contiguous
/// here), summed as the neighbour searches sum (`neighbors::sq_dist`, four partial sums):
/// linfa's `L2Dist` goes through a checked, generic `Zip` per pair, which made the
/// distance most of k-means' time.
#[derive(Debug, Clone, Copy)]
struct SliceL2;

/// Squared Euclidean distance of two views that are not contiguous slices: copied, then
/// summed as contiguous ones are, so a row's distance does not depend on its layout.
#[cold]
fn strided_rdistance<D: Dimension>(a: ArrayView<f64, D>, b: ArrayView<f64, D>) -> f64 {
    let a: Vec<f64> = a.iter().copied().collect();
    let b: Vec<f64> = b.iter().copied().collect();
    crate::neighbors::sq_dist(&a, &b)
}

impl Distance<f64> for SliceL2 {
    fn distance<D: Dimension>(&self, a: ArrayView<f64, D>, b: ArrayView<f64, D>) -> f64 {
        self.rdistance(a, b).sqrt()
    }

    #[inline(always)]
    fn rdistance<D: Dimension>(&self, a: ArrayView<f64, D>, b: ArrayView<f64, D>) -> f64 {
        match (a.as_slice(), b.as_slice()) {
            (Some(a), Some(b)) if a.len() == b.len() => crate::neighbors::sq_dist(a, b),
            _ => strided_rdistance(a, b),
        }
    }

    fn rdist_to_dist(&self, rdist: f64) -> f64 {
        rdist.sqrt()
    }

    fn dist_to_rdist(&self, dist: f64) -> f64 {
        dist * dist
    }
}

/// Squared distance between two rows, as k-means measured it.
fn dist2(a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>) -> f64 {
    SliceL2.rdistance(a, b)
}

/// scikit-learn's greedy k-means++ seeding (`_kmeans_plusplus`, which PyOD's k-means
/// uses): a first centre drawn uniformly; each next one the best of `2 + ⌊ln k⌋`
/// candidates drawn with probability proportional to the squared distance to the
/// nearest centre so far, "best" being the one that leaves the smallest sum of those
/// distances. `x` is row-major with `d` columns and at least one row; `cols` is `x`
/// coordinate by coordinate (`neighbors::by_coordinate`), where a candidate's distances
/// to every row are computed with the rows in vector lanes.
fn greedy_kmeans_pp(
    x: &[f64],
    cols: &[f64],
    d: usize,
    k: usize,
    rng: &mut impl Rng,
) -> Array2<f64> {
    let n = x.len() / d;
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let trials = 2 + (k as f64).ln() as usize;
    let mut centres = Vec::with_capacity(k * d);
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(row(first));
    let mut closest = vec![0.0; n];
    crate::neighbors::sq_dists_to(cols, row(first), &mut closest);
    let mut pot: f64 = closest.iter().sum();
    let mut cumsum = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut best = vec![0.0; n];
    for _ in 1..k {
        let mut acc = 0.0;
        for (c, &v) in cumsum.iter_mut().zip(&closest) {
            acc += v;
            *c = acc;
        }
        let mut chosen = (0, f64::INFINITY);
        for t in 0..trials {
            let r = rng.gen::<f64>() * pot;
            let cand = cumsum.partition_point(|&c| c < r).min(n - 1);
            let cand_pot = closer_to(cols, row(cand), &closest, &mut trial);
            // The first candidate stands even if its sum is not finite.
            if t == 0 || cand_pot < chosen.1 {
                chosen = (cand, cand_pot);
                std::mem::swap(&mut best, &mut trial);
            }
        }
        centres.extend_from_slice(row(chosen.0));
        std::mem::swap(&mut closest, &mut best);
        pot = chosen.1;
    }
    Array2::from_shape_vec((k, d), centres).unwrap_or_else(|_| Array2::zeros((k, d)))
}

/// Each row's squared distance to its nearest centre if `cand` (a row) joined the
/// centres (`closest`: the distances to the centres so far) into `out`; returns their
/// sum, added row by row.
#[inline(always)]
fn closer_to_in(cols: &[f64], cand: &[f64], closest: &[f64], out: &mut [f64]) -> f64 {
    crate::neighbors::sq_dists_to(cols, cand, out);
    let mut pot = 0.0;
    for (slot, &c) in out.iter_mut().zip(closest) {
        *slot = c.min(*slot);
        pot += *slot;
    }
    pot
}

wide_fn! {
    /// [`closer_to_in`], for AVX2 where the processor has it.
    fn closer_to(cols: &[f64], cand: &[f64], closest: &[f64], out: &mut [f64]) -> f64
        => closer_to_in
}

/// The nearest centroid of each row (the first of equal distances), with its squared
/// distance.
struct Nearest {
    label: Vec<usize>,
    d2: Vec<f64>,
}

impl Nearest {
    /// Sum of the squared distances (k-means' inertia), in row order.
    fn inertia(&self) -> f64 {
        self.d2.iter().sum()
    }
}

/// [`nearest_chunk`]'s body: the nearest of the `k` centroids `cols` (coordinate by
/// coordinate) of each row of `rows` (row-major).
#[inline(always)]
fn nearest_chunk_in(cols: &[f64], k: usize, rows: &[f64], label: &mut [usize], d2: &mut [f64]) {
    let d = cols.len() / k;
    let mut dist = vec![0.0; k];
    for ((row, l), o) in rows.chunks_exact(d).zip(label).zip(d2) {
        crate::neighbors::sq_dists_to(cols, row, &mut dist);
        let mut best = (0, f64::INFINITY);
        for (c, &v) in dist.iter().enumerate() {
            if v < best.1 {
                best = (c, v);
            }
        }
        (*l, *o) = best;
    }
}

wide_fn! {
    /// [`nearest_chunk_in`], for AVX2 where the processor has it.
    fn nearest_chunk(cols: &[f64], k: usize, rows: &[f64], label: &mut [usize], d2: &mut [f64])
        => nearest_chunk_in
}

/// Nearest centroid of every row (squared distances summed as [`dist2`] sums them), in
/// parallel blocks of rows.
fn assign(
    centroids: &Array2<f64>,
    x: ArrayView2<f64>,
    cancel: &Cancel,
) -> Result<Nearest, DetectError> {
    let (n, d) = x.dim();
    let k = centroids.nrows();
    let cols = crate::neighbors::by_coordinate(&crate::neighbors::row_major(centroids.view()), d);
    let rows = crate::neighbors::row_major(x);
    let mut label = vec![0usize; n];
    let mut d2 = vec![0.0; n];
    label
        .par_chunks_mut(CHUNK)
        .zip(d2.par_chunks_mut(CHUNK))
        .zip(rows.par_chunks(CHUNK * d))
        .try_for_each(|((label, d2), rows)| {
            cancel.check()?;
            nearest_chunk(&cols, k, rows, label, d2);
            Ok::<(), DetectError>(())
        })?;
    Ok(Nearest { label, d2 })
}

/// PyOD's `_set_small_large_clusters`: the number of large clusters among clusters sorted
/// by size (descending), or `None` when no split satisfies either condition.
fn split_index(sorted_sizes: &[usize], n_rows: usize, alpha: f64, beta: f64) -> Option<usize> {
    let mut alpha_list = Vec::new();
    let mut beta_list = Vec::new();
    for i in 1..sorted_sizes.len() {
        let head: usize = sorted_sizes[..i].iter().sum();
        if head as f64 >= n_rows as f64 * alpha {
            alpha_list.push(i);
        }
        // As numpy: x / 0 is inf for x > 0, and 0 / 0 is NaN (never >= beta).
        let ratio = sorted_sizes[i - 1] as f64 / sorted_sizes[i] as f64;
        if ratio >= beta {
            beta_list.push(i);
        }
    }
    alpha_list
        .iter()
        .find(|i| beta_list.contains(i))
        .or(alpha_list.first())
        .or(beta_list.first())
        .copied()
}

impl Detector for Cblof {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Cblof(self.clone())
    }

    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        check_matrix(NAME, &x, 1)?;
        if self.n_clusters < 2 {
            return Err(Self::input_error("n_clusters must be at least 2"));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) || self.beta.is_nan() || self.beta <= 1.0 {
            return Err(Self::input_error(format!(
                "alpha must be in (0, 1] and beta above 1 (got {}, {})",
                self.alpha, self.beta
            )));
        }
        let n = x.nrows();
        let k = self.n_clusters.min(n);
        // The rows in standard layout (a view of `x` when they are already).
        let data = x.as_standard_layout();
        let sample = (n > self.kmeans_rows.max(k)).then(|| {
            // A stream apart from the restarts' (seeded `seed + run`).
            let mut rng = Xoshiro256Plus::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15);
            let mut rows = sample(&mut rng, n, self.kmeans_rows.max(k)).into_vec();
            rows.sort_unstable();
            crate::neighbors::select_rows(data.view(), &rows)
        });
        let km_rows = sample.as_ref().map_or(data.view(), |s| s.view());
        let dataset = DatasetBase::from(km_rows);
        let km_flat = crate::neighbors::row_major(km_rows);
        let km_cols = crate::neighbors::by_coordinate(&km_flat, x.ncols());
        // scikit-learn's convergence test: the squared shift of the centroids at most
        // `tol` (1e-4) times the mean variance of the columns. linfa compares the shift
        // itself, strictly: the same test is a shift below the square root, and a
        // positive floor where the data are constant (where scikit-learn stops at once).
        let mean_var = km_rows.var_axis(Axis(0), 0.0).mean().unwrap_or(0.0);
        let tolerance = (1e-4 * mean_var).sqrt().max(f64::MIN_POSITIVE);

        // The restarts are independent (each seeded from `seed` and its number), so they
        // run in parallel; the first of the lowest inertia wins, as in a sequential loop.
        let runs = (0..self.n_init.max(1))
            .into_par_iter()
            .map(|run| {
                cancel.check()?;
                let mut rng = Xoshiro256Plus::seed_from_u64(self.seed.wrapping_add(run as u64));
                let init = greedy_kmeans_pp(&km_flat, &km_cols, x.ncols(), k, &mut rng);
                let model = KMeans::params_with(k, rng, SliceL2)
                    .init_method(KMeansInit::Precomputed(init))
                    .n_runs(1)
                    .max_n_iterations(self.max_iter.max(1))
                    .tolerance(tolerance)
                    .fit(&dataset)
                    .map_err(|e| Self::input_error(format!("k-means failed: {e}")))?;
                let centroids = model.centroids().clone();
                if centroids.iter().any(|v| !v.is_finite()) {
                    return Err(Self::input_error("k-means produced non-finite centroids"));
                }
                let inertia = assign(&centroids, km_rows, cancel)?.inertia();
                Ok((centroids, inertia))
            })
            .collect::<Result<Vec<_>, DetectError>>()?;
        let best = runs
            .into_iter()
            .reduce(|best, run| if run.1 < best.1 { run } else { best });
        let Some((mut centroids, _)) = best else {
            return Err(Self::input_error("k-means produced no model"));
        };

        // Labels from the final centroids, then centroids as the means of their rows.
        let labels = assign(&centroids, data.view(), cancel)?.label;
        let mut sizes = vec![0usize; k];
        let mut sums = Array2::<f64>::zeros((k, x.ncols()));
        for (i, &l) in labels.iter().enumerate() {
            sizes[l] += 1;
            let mut s = sums.row_mut(l);
            s += &data.row(i);
        }
        for (c, &size) in sizes.iter().enumerate() {
            if size > 0 {
                let mean = &sums.row(c) / size as f64;
                centroids.row_mut(c).assign(&mean);
            }
        }
        let nearest = assign(&centroids, data.view(), cancel)?;
        let mut sizes = vec![0usize; k];
        for &l in &nearest.label {
            sizes[l] += 1;
        }

        // Sort clusters by size, descending (stable, so ties keep cluster order).
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]));
        let sorted_sizes: Vec<usize> = order.iter().map(|&c| sizes[c]).collect();
        let Some(b) = split_index(&sorted_sizes, n, self.alpha, self.beta) else {
            return Err(Self::input_error(format!(
                "could not split {} clusters into large and small ones (sizes {:?}); \
                 change n_clusters",
                k, sorted_sizes
            )));
        };
        let mut large = vec![false; k];
        for &c in &order[..b] {
            large[c] = true;
        }
        let scores = Self::scores(&centroids, &large, data.view(), &nearest, cancel)?;
        self.centroids = Some(centroids);
        self.large = large;
        Ok(scores)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let cols = self.centroids.as_ref().map(|c| c.ncols());
        check_score_input(NAME, cols, &x)?;
        let Some(centroids) = &self.centroids else {
            return Err(DetectError::State {
                detector: NAME,
                reason: "score called before fit".into(),
            });
        };
        let nearest = assign(centroids, x, cancel)?;
        Self::scores(centroids, &self.large, x, &nearest, cancel)
    }
}

impl Cblof {
    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(self, columns: usize) -> Result<Self, String> {
        use super::ensure;
        let c = self.centroids.as_ref().ok_or("not fitted")?;
        ensure(c.nrows() > 0 && c.ncols() == columns, "centroids")?;
        ensure(self.large.len() == c.nrows(), "cluster sizes")?;
        ensure(self.large.contains(&true), "no large cluster")?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbors::by_coordinate;
    use rand::Rng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn nearest_centroid_is_the_first_of_the_nearest() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let x = Array2::from_shape_fn((5000, 7), |_| rng.gen::<f64>());
        let mut centroids = x.slice(ndarray::s![..8, ..]).to_owned();
        // A repeated centroid: its first copy is the nearest.
        let first = centroids.row(2).to_owned();
        centroids.row_mut(5).assign(&first);
        let nearest = assign(&centroids, x.view(), &Cancel::new()).unwrap();
        for (i, row) in x.rows().into_iter().enumerate() {
            let d: Vec<f64> = centroids
                .rows()
                .into_iter()
                .map(|c| dist2(row, c))
                .collect();
            let min = d.iter().copied().fold(f64::INFINITY, f64::min);
            assert_eq!(nearest.d2[i].to_bits(), min.to_bits());
            assert_eq!(nearest.label[i], d.iter().position(|&v| v == min).unwrap());
        }
        assert!(!nearest.label.contains(&5));
    }

    #[test]
    fn greedy_seeding_puts_a_centre_in_every_separated_blob() {
        // Five tight blobs far apart, of very different sizes: a centre drawn in a blob
        // already held is at distance ~0, so every draw lands in a new blob.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let sizes = [500, 40, 300, 5, 60];
        let mut x = Vec::new();
        for (b, &m) in sizes.iter().enumerate() {
            for _ in 0..m {
                x.push(100.0 * b as f64 + rng.gen::<f64>() * 0.01);
                x.push(-50.0 * b as f64 + rng.gen::<f64>() * 0.01);
            }
        }
        for seed in 0..20 {
            let mut r = Xoshiro256Plus::seed_from_u64(seed);
            let c = greedy_kmeans_pp(&x, &by_coordinate(&x, 2), 2, 5, &mut r);
            let mut blobs: Vec<i64> = c
                .column(0)
                .iter()
                .map(|v| (v / 100.0).round() as i64)
                .collect();
            blobs.sort_unstable();
            assert_eq!(blobs, vec![0, 1, 2, 3, 4], "seed {seed}");
        }
        // Squared distances that overflow: the centres are still rows of the input.
        let huge = vec![1e200, 0.0, -1e200, 0.0, 0.0, 1.0, 3e199, 2.0];
        let c = greedy_kmeans_pp(
            &huge,
            &by_coordinate(&huge, 2),
            2,
            3,
            &mut Xoshiro256Plus::seed_from_u64(2),
        );
        for centre in c.rows() {
            assert!(huge.chunks(2).any(|r| r == centre.as_slice().unwrap()));
        }
        // All rows equal: every centre is that row, and nothing divides by zero.
        let same = vec![2.5; 20];
        let c = greedy_kmeans_pp(
            &same,
            &by_coordinate(&same, 2),
            2,
            3,
            &mut Xoshiro256Plus::seed_from_u64(1),
        );
        assert!(c.iter().all(|&v| v == 2.5));
    }

    /// Three blobs of 400, 300 and 200 rows, and one far row (index 900).
    fn blobs() -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)];
        let sizes = [400, 300, 200];
        let mut rows = Vec::new();
        for (c, &m) in centres.iter().zip(&sizes) {
            for _ in 0..m {
                rows.push(c.0 + rng.gen::<f64>() - 0.5);
                rows.push(c.1 + rng.gen::<f64>() - 0.5);
            }
        }
        rows.extend([40.0, 40.0]);
        Array2::from_shape_vec((901, 2), rows).unwrap()
    }

    #[test]
    fn split_follows_pyod() {
        // 90% reached after two clusters, and 45/5 >= 5 at position 2.
        assert_eq!(split_index(&[50, 45, 5], 100, 0.9, 5.0), Some(2));
        // Condition A only: first position where the head reaches alpha.
        assert_eq!(split_index(&[40, 30, 22, 8], 100, 0.9, 5.0), Some(3));
        // Condition B only.
        assert_eq!(split_index(&[30, 30, 30, 5, 5], 100, 0.99, 5.0), Some(3));
        // Both at several positions: the first common one.
        assert_eq!(split_index(&[900, 90, 9, 1], 1000, 0.9, 5.0), Some(1));
        // Empty trailing cluster: ratio x / 0 = inf counts for B.
        assert_eq!(split_index(&[60, 40, 0], 100, 0.99, 5.0), Some(2));
        // Nothing satisfies either condition.
        assert_eq!(split_index(&[30, 30, 40], 100, 1.0, 5.0), None);
        assert_eq!(split_index(&[100], 100, 0.9, 5.0), None);
    }

    #[test]
    fn far_point_scores_highest() {
        let x = blobs();
        // Three blobs and the far row in a cluster of its own.
        let mut cblof = Cblof::new(4, 1);
        let s = cblof.fit(x.view(), &Cancel::new()).unwrap();
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 900);
        let q = Array2::from_shape_vec((2, 2), vec![10.0, 0.0, -30.0, 5.0]).unwrap();
        let t = cblof.score(q.view(), &Cancel::new()).unwrap();
        assert!(t[0] < 1.0 && t[1] > 25.0, "{t:?}");
        // k-means on a sample of 300 rows: the same clusters, and the far row still first.
        let mut sampled = Cblof::new(4, 1);
        sampled.kmeans_rows = 300;
        let u = sampled.fit(x.view(), &Cancel::new()).unwrap();
        let top = (0..u.len()).max_by(|&a, &b| u[a].total_cmp(&u[b])).unwrap();
        assert_eq!(top, 900);
        let worst = s
            .iter()
            .zip(&u)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.05, "scores moved by {worst}");
    }

    #[test]
    fn deterministic_and_checked() {
        let x = blobs();
        let c = Cancel::new();
        let a = Cblof::new(5, 7).fit(x.view(), &c).unwrap();
        let b = Cblof::new(5, 7).fit(x.view(), &c).unwrap();
        assert_eq!(a, b);
        let mut cblof = Cblof::default();
        assert!(cblof.score(x.view(), &c).is_err());
        cblof.fit(x.view(), &c).unwrap();
        assert!(cblof.score(Array2::zeros((3, 3)).view(), &c).is_err());
        assert!(cblof.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        let mut bad = x.clone();
        bad[[5, 1]] = f64::NAN;
        assert!(cblof.fit(bad.view(), &c).is_err());
    }

    #[test]
    fn tiny_and_degenerate_inputs_do_not_panic() {
        let c = Cancel::new();
        // Fewer rows than clusters: k is clamped.
        let x = Array2::from_shape_vec((3, 1), vec![0.0, 1.0, 50.0]).unwrap();
        let r = Cblof::default().fit(x.view(), &c);
        assert!(r.is_ok() || matches!(r, Err(DetectError::Input { .. })));
        // All rows identical: either a valid split or an input error, never a panic.
        let x = Array2::from_elem((100, 2), 3.0);
        let r = Cblof::default().fit(x.view(), &c);
        match r {
            Ok(s) => assert!(s.iter().all(|v| v.is_finite())),
            Err(e) => assert!(matches!(e, DetectError::Input { .. })),
        }
    }
}
