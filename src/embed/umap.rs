//! UMAP to two dimensions: McInnes, Healy, Melville, "UMAP: Uniform Manifold
//! Approximation and Projection for Dimension Reduction", arXiv:1802.03426 (2018).
//! Follows umap-learn 0.5 (`umap_.py`: `smooth_knn_dist`, `compute_membership_strengths`,
//! `fuzzy_simplicial_set`, `find_ab_params`, `make_epochs_per_sample`,
//! `simplicial_set_embedding`, `transform`; `layouts.py`: `optimize_layout_euclidean`)
//! with its defaults: 15 neighbours, `min_dist` 0.1, `spread` 1, 500 epochs up to 10,000
//! rows and 200 above, 5 negative samples per positive one, learning rate 1, gradients
//! clipped to ±4.
//!
//! Where it differs from umap-learn, and why:
//! - Identical rows are embedded once and share one position (umap-learn's
//!   `unique=True`). Conn logs repeat rows by the thousand; umap-learn's default keeps
//!   them apart, which scatters copies of one row over several places once there are more
//!   copies than neighbours and spends most of the optimisation on them.
//! - The neighbour graph is exact (the shared k-d tree), not nearest-neighbour descent.
//!   Each row's neighbour list is the row itself followed by its 14 nearest other rows,
//!   also when it has many identical copies.
//! - The initial layout is random (umap-learn's `init="random"`), not the spectral
//!   layout: the graphs of these logs (many identical rows) have hundreds of connected
//!   components, for which umap-learn itself falls back to a per-component layout, and
//!   the PCA layout (`init="pca"`) crowds most rows of these heavy-tailed matrices into a
//!   tiny region that the optimisation does not fully untangle (trustworthiness 0.95
//!   against 0.988 from a random start on the reference matrix).
//! - `a` and `b` are fitted to umap-learn's target curve by Levenberg–Marquardt, as
//!   `scipy.optimize.curve_fit` does.
//! - The stochastic gradient descent runs in parallel and stays deterministic: vertices
//!   are processed in fixed blocks; within a block every vertex computes its moves from
//!   the positions at the start of the block and the moves are applied together (as
//!   umap-learn's own parallel CSR optimiser does); each vertex draws its negative samples
//!   from its own generator, seeded by (seed, epoch, vertex). A sampled edge moves its
//!   head twice, once for each direction of the symmetric graph, which is what the
//!   sequential umap-learn loop does with `move_other=True`.
//! - Above `sample_limit` rows, the layout is fitted on a seeded random sample and the
//!   other rows are placed by umap-learn's `transform` (weighted mean of the embedded
//!   neighbours, then a short optimisation with the fitted points fixed), which runs in
//!   parallel row by row; as in the fit, a row's moves of one epoch are computed from
//!   where it starts the epoch and applied together. [`Embedding::sampled`] says so.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::ops::Range;

use super::EmbedError;
use crate::cancel::Cancel;
use crate::neighbors::{to_row_major, KdTree};
use crate::rows::{Picked, Rows};

/// Vertices whose moves are computed from the same positions.
const BLOCK: usize = 4096;
/// Vertices per parallel work item.
const CHUNK: usize = 256;
/// umap-learn's `SMOOTH_K_TOLERANCE`.
const SMOOTH_K_TOLERANCE: f64 = 1e-5;
/// umap-learn's `MIN_K_DIST_SCALE`.
const MIN_K_DIST_SCALE: f64 = 1e-3;

/// UMAP parameters (umap-learn's names and defaults, plus the sampling limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UmapParams {
    /// Neighbours per row, the row itself included (default 15).
    pub n_neighbors: usize,
    /// Smallest distance between embedded points (default 0.1).
    pub min_dist: f64,
    /// Scale of the embedded neighbourhoods (default 1).
    pub spread: f64,
    /// Optimisation epochs; `None` means 500 up to 10,000 rows and 200 above.
    pub n_epochs: Option<usize>,
    /// Negative samples per positive sample (default 5).
    pub negative_sample_rate: usize,
    /// Initial learning rate (default 1).
    pub learning_rate: f64,
    /// Weight of the negative samples (default 1).
    pub repulsion_strength: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Above this many distinct rows, fit on a sample of this size and place the others
    /// by the transform step (default 12,000). Chosen by the layout's trustworthiness
    /// (k = 15, estimated on 5,000 rows; `ZSIFT_BENCH_UMAP_SAMPLES` and
    /// `ZSIFT_BENCH_UMAP_LOG` of `--bench embed`) on the pipeline's matrix of conn logs of
    /// four kinds scaled to 100k rows (two mixed captures, a botnet, a port scan; 42k to
    /// 63k distinct rows): the full fit gave 0.963, 0.967, 0.994 and 0.987, and every
    /// sample of 10k to 50k rows stayed within 0.01 of it (12k: 0.996, 0.994, 0.997,
    /// 0.986); at 1M rows (476,377 distinct) samples of 100k down to 10k gave 0.998–0.999.
    /// A placed row sits among its nearest fitted rows, so the layout keeps
    /// neighbourhoods at least as well. At or under 10,000 rows umap-learn's schedule
    /// runs 500 epochs rather than 200, which costs more than fitting 12,000; above it
    /// the fit's cost grows with the sample while the measure does not improve.
    pub sample_limit: usize,
    /// Optimisation epochs of the transform step; `None` means umap-learn's (100 up to
    /// 10,000 placed rows, 30 above).
    pub transform_epochs: Option<usize>,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self {
            n_neighbors: 15,
            min_dist: 0.1,
            spread: 1.0,
            n_epochs: None,
            negative_sample_rate: 5,
            learning_rate: 1.0,
            repulsion_strength: 1.0,
            seed: 42,
            sample_limit: 12_000,
            transform_epochs: None,
        }
    }
}

/// A two-dimensional layout of every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// `rows × 2` coordinates, in single precision as the layout is computed (half the
    /// memory of doubles: 80 MB at 10M rows).
    pub points: Array2<f32>,
    /// `Some(distinct rows fitted)` when the layout was fitted on a sample and the other
    /// rows were placed by the transform step; the user should be told.
    pub sampled: Option<usize>,
}

/// Embeds the rows of `x` (rows × features, finite values) in two dimensions.
pub fn umap(
    x: ArrayView2<f64>,
    params: &UmapParams,
    cancel: &Cancel,
) -> Result<Embedding, EmbedError> {
    umap_rows(&x, params, cancel)
}

/// [`umap`] of rows read a block at a time: its distinct rows are found a block at a
/// time, and above the sample limit only the sample is held whole, the other distinct
/// rows being made and placed a block at a time.
pub fn umap_rows(
    x: &dyn Rows,
    params: &UmapParams,
    cancel: &Cancel,
) -> Result<Embedding, EmbedError> {
    check(x, params)?;
    // Identical rows are embedded once and share their position.
    let d = crate::rows::distinct_all(x).map_err(|e| EmbedError::Input {
        method: "umap",
        reason: e.to_string(),
    })?;
    umap_with(x, &d, params, cancel)
}

/// [`umap_rows`] with the distinct rows of `x` found already (every row's, its values
/// finite numbers).
pub fn umap_with(
    x: &dyn Rows,
    d: &crate::rows::Distinct,
    params: &UmapParams,
    cancel: &Cancel,
) -> Result<Embedding, EmbedError> {
    check(x, params)?;
    let (embedded, sampled) = umap_distinct(
        &Picked {
            from: x,
            at: &d.first,
        },
        params,
        cancel,
    )?;
    let mut points = Array2::zeros((x.count(), 2));
    for (mut p, &g) in points.outer_iter_mut().zip(&d.of) {
        let e = embedded[g as usize];
        p[0] = e[0];
        p[1] = e[1];
    }
    Ok(Embedding { points, sampled })
}

/// Whether UMAP can embed the rows of `x` with `params` (rows, columns, parameters).
fn check(x: &dyn Rows, params: &UmapParams) -> Result<(), EmbedError> {
    let input = |reason: String| EmbedError::Input {
        method: "umap",
        reason,
    };
    if x.count() == 0 {
        return Err(input("no rows to embed".into()));
    }
    if x.width() == 0 {
        return Err(input("the matrix has no columns".into()));
    }
    if params.n_neighbors < 2 {
        return Err(input("n_neighbors must be at least 2".into()));
    }
    if !(params.min_dist >= 0.0 && params.spread > 0.0 && params.min_dist <= params.spread) {
        return Err(input("need 0 <= min_dist <= spread and spread > 0".into()));
    }
    if params.sample_limit < 2 {
        return Err(input("sample_limit must be at least 2".into()));
    }
    Ok(())
}

/// UMAP of rows that are all distinct: each row's position, and the sample size when
/// the layout was fitted on a sample.
fn umap_distinct(
    x: &dyn Rows,
    params: &UmapParams,
    cancel: &Cancel,
) -> Result<(Vec<[f32; 2]>, Option<usize>), EmbedError> {
    let n = x.count();
    if n == 1 {
        return Ok((vec![[0.0; 2]], None));
    }
    let (a, b) = find_ab_params(params.spread, params.min_dist);

    if n <= params.sample_limit {
        let all = x.gather(&(0..n).collect::<Vec<_>>());
        return Ok((fit(all.view(), params, a, b, cancel)?, None));
    }

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ 0x5a4d_504c_4544);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..params.sample_limit {
        let j = rng.gen_range(i..n);
        order.swap(i, j);
    }
    let (fit_rows, rest_rows) = order.split_at_mut(params.sample_limit);
    fit_rows.sort_unstable();
    rest_rows.sort_unstable();
    let sample = x.gather(fit_rows);
    // The fit dropped its tree to free memory for the layout; the placement builds one
    // again over the same rows (a build is a small part of a fit).
    let fitted = Fitted::new(sample.view(), fit(sample.view(), params, a, b, cancel)?);
    drop(sample);
    let placed = transform(&fitted, x, rest_rows, params, a, b, cancel)?;

    let mut points = vec![[0.0f32; 2]; n];
    for (&r, p) in fit_rows.iter().zip(&fitted.points) {
        points[r] = *p;
    }
    for (&r, p) in rest_rows.iter().zip(&placed) {
        points[r] = *p;
    }
    Ok((points, Some(params.sample_limit)))
}

/// A layout fitted on some rows, kept to place others.
struct Fitted {
    tree: KdTree,
    points: Vec<[f32; 2]>,
}

impl Fitted {
    /// The layout `points` of the rows of `x`, with a tree over those rows to find the
    /// neighbours of the rows to place.
    fn new(x: ArrayView2<f64>, points: Vec<[f32; 2]>) -> Self {
        Fitted {
            tree: KdTree::build(x).with_leaf_columns(),
            points,
        }
    }
}

/// The `a`, `b` of the embedding kernel `1 / (1 + a d^(2b))` that best fit (least
/// squares on 300 points of `[0, 3 spread]`) the curve that is 1 up to `min_dist` and
/// `exp(-(d - min_dist) / spread)` after it, as umap-learn's `find_ab_params`; solved by
/// Levenberg–Marquardt from `(1, 1)`, as scipy's `curve_fit`.
pub(crate) fn find_ab_params(spread: f64, min_dist: f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let residuals = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| {
                let r = 1.0 / (1.0 + a * x.powf(2.0 * b)) - y;
                r * r
            })
            .sum()
    };
    let (mut a, mut b) = (1.0f64, 1.0f64);
    let mut lambda = 1e-3;
    let mut cost = residuals(a, b);
    for _ in 0..500 {
        // Normal equations of the linearised problem: J^T J and J^T r.
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x <= 0.0 {
                continue;
            }
            let u = x.powf(2.0 * b);
            let f = 1.0 / (1.0 + a * u);
            let da = -u * f * f;
            let db = -a * u * 2.0 * x.ln() * f * f;
            let r = f - y;
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let mut improved = false;
        while lambda < 1e12 {
            let (maa, mbb) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
            let det = maa * mbb - jab * jab;
            if det.abs() < f64::MIN_POSITIVE {
                break;
            }
            let sa = -(mbb * ga - jab * gb) / det;
            let sb = -(maa * gb - jab * ga) / det;
            let c = residuals(a + sa, b + sb);
            if c.is_finite() && c < cost {
                let small =
                    sa.abs() < 1e-12 * (1.0 + a.abs()) && sb.abs() < 1e-12 * (1.0 + b.abs());
                a += sa;
                b += sb;
                cost = c;
                lambda = (lambda / 10.0).max(1e-12);
                improved = !small;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (a, b)
}

/// umap-learn's `smooth_knn_dist` for one row: the distance to the nearest neighbour
/// `rho` (the `local_connectivity`-th non-zero distance, interpolated) and the bandwidth
/// `sigma` such that `sum_j exp(-(d_j - rho) / sigma) = log2(k)` over the neighbours after
/// the first, by bisection.
fn smooth_knn(dists: &[f64], local_connectivity: f64, mean_all: f64) -> (f64, f64) {
    let target = (dists.len() as f64).log2();
    let nonzero: Vec<f64> = dists.iter().copied().filter(|&d| d > 0.0).collect();
    let mut rho = 0.0;
    if nonzero.len() as f64 >= local_connectivity {
        let index = local_connectivity.floor() as usize;
        let interpolation = local_connectivity - index as f64;
        if index > 0 {
            rho = nonzero[index - 1];
            if interpolation > SMOOTH_K_TOLERANCE && index < nonzero.len() {
                rho += interpolation * (nonzero[index] - nonzero[index - 1]);
            }
        } else if let Some(&first) = nonzero.first() {
            rho = interpolation * first;
        }
    } else if let Some(&m) = nonzero.last() {
        rho = m;
    }
    let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
    for _ in 0..64 {
        let psum: f64 = dists[1..]
            .iter()
            .map(|&d| {
                let e = d - rho;
                if e > 0.0 {
                    (-(e / mid)).exp()
                } else {
                    1.0
                }
            })
            .sum();
        if (psum - target).abs() < SMOOTH_K_TOLERANCE {
            break;
        }
        if psum > target {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = if hi.is_infinite() {
                mid * 2.0
            } else {
                (lo + hi) / 2.0
            };
        }
    }
    let floor = if rho > 0.0 {
        MIN_K_DIST_SCALE * dists.iter().sum::<f64>() / dists.len() as f64
    } else {
        MIN_K_DIST_SCALE * mean_all
    };
    (mid.max(floor), rho)
}

/// Membership strength of a neighbour at distance `d` (umap-learn's
/// `compute_membership_strengths`).
fn membership(d: f64, rho: f64, sigma: f64) -> f64 {
    if d - rho <= 0.0 || sigma == 0.0 {
        1.0
    } else {
        (-(d - rho) / sigma).exp()
    }
}

/// The symmetric fuzzy graph with each edge's sampling period, in CSR form.
struct Graph {
    indptr: Vec<usize>,
    cols: Vec<u32>,
    /// umap-learn's `epochs_per_sample`: an edge is sampled every this many epochs.
    period: Vec<f64>,
}

/// Rows × `k` neighbour lists, the row itself first.
fn neighbour_lists(
    tree: &KdTree,
    rows: &[f64],
    k: usize,
    cancel: &Cancel,
) -> Result<(Vec<f64>, Vec<usize>), EmbedError> {
    let nb = tree.kneighbors(rows, k - 1, true, cancel)?;
    let n = tree.len();
    let mut dist = vec![0.0; n * k];
    let mut idx = vec![0usize; n * k];
    for i in 0..n {
        idx[i * k] = i;
        dist[i * k + 1..(i + 1) * k].copy_from_slice(nb.dist_of(i));
        idx[i * k + 1..(i + 1) * k].copy_from_slice(nb.idx_of(i));
    }
    Ok((dist, idx))
}

/// umap-learn's `fuzzy_simplicial_set` (union of the directed memberships,
/// `p + q - p q`), pruned of edges below `max / n_epochs` and turned into sampling
/// periods, as `simplicial_set_embedding` and `make_epochs_per_sample`.
fn fuzzy_graph(dist: Vec<f64>, idx: Vec<usize>, k: usize, n_epochs: usize) -> Graph {
    let n = dist.len() / k;
    let mean_all = dist.iter().sum::<f64>() / dist.len() as f64;
    // Directed memberships, row by row, sorted by column.
    let directed: Vec<Vec<(u32, f64)>> = (0..n)
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|i| {
            let d = &dist[i * k..(i + 1) * k];
            let (sigma, rho) = smooth_knn(d, 1.0, mean_all);
            let mut row: Vec<(u32, f64)> = (1..k)
                .map(|j| (idx[i * k + j] as u32, membership(d[j], rho, sigma)))
                .filter(|&(_, v)| v > 0.0)
                .collect();
            row.sort_unstable_by_key(|e| e.0);
            row
        })
        .collect();
    drop((dist, idx));
    let lookup = |i: usize, j: u32| -> Option<f64> {
        let r = &directed[i];
        r.binary_search_by_key(&j, |e| e.0).ok().map(|p| r[p].1)
    };
    let mut edges: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * n * (k - 1));
    for (i, row) in directed.iter().enumerate() {
        for &(j, v) in row {
            match lookup(j as usize, i as u32) {
                Some(t) => edges.push((i as u32, j, v + t - v * t)),
                None => {
                    edges.push((i as u32, j, v));
                    edges.push((j, i as u32, v));
                }
            }
        }
    }
    drop(directed);
    edges.par_sort_unstable_by_key(|e| (e.0, e.1));
    let max = edges.iter().map(|e| e.2).fold(0.0, f64::max);
    let cut = max / n_epochs as f64;
    edges.retain(|e| e.2 >= cut);
    let mut indptr = vec![0usize; n + 1];
    for e in &edges {
        indptr[e.0 as usize + 1] += 1;
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    Graph {
        indptr,
        cols: edges.iter().map(|e| e.1).collect(),
        period: edges.iter().map(|e| max / e.2).collect(),
    }
}

/// A small counter-based generator (SplitMix64) for the negative samples, seeded per
/// (seed, epoch, vertex) so the parallel schedule does not change the result.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64, epoch: usize, vertex: usize) -> Self {
        let mut s = SplitMix(
            seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (vertex as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        s.next();
        s
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

/// The kernel's constants, in the precision of the layout.
#[derive(Clone, Copy)]
struct Kernel {
    a: f32,
    b: f32,
    gamma: f32,
}

fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

impl Kernel {
    /// The sum of the attractive moves of `cur` towards each of `others` (umap-learn's
    /// positive-sample gradient `-2ab d^(2(b-1)) / (1 + a d^(2b))` times the difference,
    /// clipped); `others` is padded (see [`sum_moves`]).
    #[inline(always)]
    fn attract_sum(&self, cur: [f32; 2], others: &mut Vec<[f32; 2]>) -> [f32; 2] {
        let c = -2.0 * self.a * self.b;
        sum_moves(cur, others, |d2| {
            let p = pow_pos(d2, self.b);
            c * (p / d2) / (self.a * p + 1.0)
        })
    }

    /// The sum of the repulsive moves of `cur` away from each of `others` (the
    /// negative-sample gradient `2 gamma b / ((0.001 + d^2)(1 + a d^(2b)))` times the
    /// difference, clipped); `others` is padded (see [`sum_moves`]).
    #[inline(always)]
    fn repel_sum(&self, cur: [f32; 2], others: &mut Vec<[f32; 2]>) -> [f32; 2] {
        let c = 2.0 * self.gamma * self.b;
        sum_moves(cur, others, |d2| {
            let g = c / ((0.001 + d2) * (self.a * pow_pos(d2, self.b) + 1.0));
            if g > 0.0 {
                g
            } else {
                0.0
            }
        })
    }
}

/// The sum, in a fixed order, of the clipped moves `coef(d2) (cur - o)` over the points
/// `o` of `others` at squared distance `d2 > 0` from `cur` (coincident points move
/// nothing). `others` is padded with copies of `cur` to whole chunks of lanes, so that
/// the loop compiles to vector instructions alone, with no scalar tail: the batches are
/// short, and the layout's gradients are most of its work.
#[inline(always)]
fn sum_moves(cur: [f32; 2], others: &mut Vec<[f32; 2]>, coef: impl Fn(f32) -> f32) -> [f32; 2] {
    const LANES: usize = 8;
    others.resize(others.len().next_multiple_of(LANES), cur);
    let mut acc = [[0.0f32; 2]; LANES];
    for chunk in others.chunks_exact(LANES) {
        for (a, o) in acc.iter_mut().zip(chunk) {
            let dx = cur[0] - o[0];
            let dy = cur[1] - o[1];
            let d2 = dx * dx + dy * dy;
            let g = coef(if d2 > 0.0 { d2 } else { 1.0 });
            let g = if d2 > 0.0 { g } else { 0.0 };
            a[0] += clip(g * dx);
            a[1] += clip(g * dy);
        }
    }
    acc.iter()
        .fold([0.0, 0.0], |s, a| [s[0] + a[0], s[1] + a[1]])
}

/// `x^e` for finite `x > 0` and `|e log2 x| < 125`, in single precision, as
/// `2^(e log2 x)` with `log2` from the `atanh` series of the mantissa and `2^f` from its
/// Taylor series (relative error under 2e-7 (1 + |e log2 x|), tested against
/// `f64::powf`; at most 2e-6 for the distances of a layout). Outside that domain it
/// saturates instead of overflowing (0, infinity and NaN give finite values that are not
/// `x^e`); its callers never pass such values. Written out instead of calling `powf`,
/// which cannot be inlined or vectorised: the layout's gradients spend a third of their
/// time in it.
#[inline(always)]
fn pow_pos(x: f32, e: f32) -> f32 {
    const TWO_64: f32 = 18_446_744_073_709_551_616.0;
    // Adding 1.5 * 2^23 rounds to an integer.
    const ROUND: f32 = 12_582_912.0;
    // Subnormal inputs are scaled into the normal range first.
    let small = x < f32::MIN_POSITIVE;
    let xs = if small { x * TWO_64 } else { x };
    let bits = xs.to_bits() as i32;
    let mut exponent = ((bits >> 23) & 0xff) - 127 - if small { 64 } else { 0 };
    let m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    exponent += big as i32;
    // ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172.
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let ln_m =
        2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (0.2 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0)))));
    let y = (e * (exponent as f32 + ln_m * std::f32::consts::LOG2_E)).clamp(-125.0, 125.0);
    // 2^y = 2^n 2^f, n the nearest integer, |f| <= 1/2.
    let r = y + ROUND;
    let n = r.to_bits() as i32 - ROUND.to_bits() as i32;
    let z = (y - (r - ROUND)) * std::f32::consts::LN_2;
    let p = 1.0
        + z * (1.0
            + z * (0.5
                + z * (1.0 / 6.0
                    + z * (1.0 / 24.0
                        + z * (1.0 / 120.0 + z * (1.0 / 720.0 + z * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n + 127) << 23) as u32)
}

/// Fits the layout of the rows of `x` (at least two). Each temporary is dropped as soon
/// as the next step has what it needs: the tree once the neighbours are found, the
/// neighbour lists once their memberships are.
fn fit(
    x: ArrayView2<f64>,
    params: &UmapParams,
    a: f64,
    b: f64,
    cancel: &Cancel,
) -> Result<Vec<[f32; 2]>, EmbedError> {
    let n = x.nrows();
    let k = params.n_neighbors.min(n);
    let n_epochs = params
        .n_epochs
        .unwrap_or(if n <= 10_000 { 500 } else { 200 })
        .max(1);
    let (dist, idx) = {
        let rows = to_row_major(x);
        let tree = KdTree::build(x).with_leaf_columns();
        neighbour_lists(&tree, &rows, k, cancel)?
    };
    let graph = fuzzy_graph(dist, idx, k, n_epochs);
    cancel.check()?;

    let mut points = initial_layout(n, params.seed);
    let kernel = Kernel {
        a: a as f32,
        b: b as f32,
        gamma: params.repulsion_strength as f32,
    };
    optimize(&mut points, &graph, n_epochs, kernel, params, cancel)?;
    Ok(points)
}

/// umap-learn's `init="random"`: uniform in `[0, 10]²` (umap-learn draws in
/// `[-10, 10]²` and rescales every initial layout to `[0, 10]`).
fn initial_layout(n: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n)
        .map(|_| [rng.gen::<f32>() * 10.0, rng.gen::<f32>() * 10.0])
        .collect()
}

/// Per-edge schedule of umap-learn's optimiser.
struct Schedule {
    next: f64,
    next_negative: f64,
}

impl Schedule {
    /// The schedule of an edge sampled every `period` epochs, with `neg_rate` negative
    /// samples per sample (umap-learn's `epoch_of_next_sample` and
    /// `epoch_of_next_negative_sample` before the first epoch).
    fn new(period: f64, neg_rate: f64) -> Self {
        Schedule {
            next: period,
            next_negative: period / neg_rate,
        }
    }

    /// Samples the edge (sampled every `period` epochs) in epoch `e`: moves its next
    /// sample on and returns how many negative samples are due with it (`neg_rate` per
    /// sample on average).
    fn advance(&mut self, e: f64, period: f64, neg_rate: f64) -> usize {
        self.next += period;
        let neg_period = period / neg_rate;
        let negatives = ((e - self.next_negative) / neg_period).max(0.0) as usize;
        self.next_negative += negatives as f64 * neg_period;
        negatives
    }
}

/// What every vertex's move of one epoch reads.
#[derive(Clone, Copy)]
struct VertexCtx<'a> {
    graph: &'a Graph,
    pts: &'a [[f32; 2]],
    kernel: Kernel,
    seed: u64,
    epoch: usize,
    neg_rate: f64,
    alpha: f32,
}

/// The move of vertex `v` in one epoch: the pull of its edges due in this epoch (`sched`,
/// its edges' schedules, advanced) and the push of their negative samples. `near`,
/// `others` and `due` are scratch space.
#[inline(always)]
fn vertex_move(
    ctx: VertexCtx,
    v: usize,
    sched: &mut [Schedule],
    near: &mut Vec<[f32; 2]>,
    others: &mut Vec<[f32; 2]>,
    due: &mut Vec<u32>,
) -> [f32; 2] {
    let VertexCtx {
        graph, pts, kernel, ..
    } = ctx;
    let e = ctx.epoch as f64;
    let n = pts.len();
    let cur = pts[v];
    let mut rng = SplitMix::new(ctx.seed, ctx.epoch, v);
    let first = graph.indptr[v];
    // The edges due in this epoch, listed without a branch per edge: whether an edge is
    // due follows no pattern that branch prediction could learn.
    if due.len() < sched.len() {
        due.resize(sched.len(), 0);
    }
    let mut m = 0;
    for (i, s) in sched.iter().enumerate() {
        due[m] = i as u32;
        m += usize::from(s.next <= e);
    }
    let mut total_negatives = 0;
    for &i in &due[..m] {
        let i = i as usize;
        let edge = first + i;
        near.push(pts[graph.cols[edge] as usize]);
        total_negatives += sched[i].advance(e, graph.period[edge], ctx.neg_rate);
    }
    // The negative samples of all the edges in one loop (they are drawn in the same order
    // as edge by edge): a loop per edge would end after a varying count, mispredicted.
    for _ in 0..total_negatives {
        let o = rng.below(n);
        if o != v {
            others.push(pts[o]);
        }
    }
    let pull = kernel.attract_sum(cur, near);
    let push = kernel.repel_sum(cur, others);
    near.clear();
    others.clear();
    [
        (2.0 * pull[0] + push[0]) * ctx.alpha,
        (2.0 * pull[1] + push[1]) * ctx.alpha,
    ]
}

wide_fn! {
    /// The moves `mv` of the vertices `vs` in one epoch; `sched` holds their edges'
    /// schedules. For AVX2 where the processor has it (twice the lanes of the baseline
    /// for the gradients).
    fn chunk_moves(
        ctx: VertexCtx,
        vs: Range<usize>,
        sched: &mut [Schedule],
        mv: &mut [[f32; 2]],
    ) => chunk_moves_in
}

#[inline(always)]
fn chunk_moves_in(ctx: VertexCtx, vs: Range<usize>, sched: &mut [Schedule], mv: &mut [[f32; 2]]) {
    debug_assert!(mv.len() >= vs.len());
    let indptr = &ctx.graph.indptr;
    let base = indptr[vs.start];
    // Scratch space of `vertex_move`.
    let mut near: Vec<[f32; 2]> = Vec::with_capacity(64);
    let mut others: Vec<[f32; 2]> = Vec::with_capacity(256);
    let mut due: Vec<u32> = Vec::new();
    for (v, m) in vs.zip(mv) {
        let edges = indptr[v] - base..indptr[v + 1] - base;
        *m = vertex_move(ctx, v, &mut sched[edges], &mut near, &mut others, &mut due);
    }
}

/// The stochastic gradient descent of umap-learn's `optimize_layout_euclidean`, with the
/// deterministic block-parallel schedule described in the module documentation.
fn optimize(
    points: &mut [[f32; 2]],
    graph: &Graph,
    n_epochs: usize,
    kernel: Kernel,
    params: &UmapParams,
    cancel: &Cancel,
) -> Result<(), EmbedError> {
    let n = points.len();
    let neg_rate = params.negative_sample_rate as f64;
    let mut schedule: Vec<Schedule> = graph
        .period
        .iter()
        .map(|&p| Schedule::new(p, neg_rate))
        .collect();
    let mut moves = vec![[0.0f32; 2]; BLOCK];
    for epoch in 0..n_epochs {
        cancel.check()?;
        let alpha = (params.learning_rate * (1.0 - epoch as f64 / n_epochs as f64)) as f32;
        for start in (0..n).step_by(BLOCK) {
            let end = (start + BLOCK).min(n);
            // Split the block's edge schedules into one slice per work item.
            let mut work = Vec::with_capacity((end - start).div_ceil(CHUNK));
            let mut rest = &mut schedule[graph.indptr[start]..graph.indptr[end]];
            let mut offset = graph.indptr[start];
            for (c, mv) in (start..end).step_by(CHUNK).zip(moves.chunks_mut(CHUNK)) {
                let c_end = (c + CHUNK).min(end);
                let (mine, tail) = rest.split_at_mut(graph.indptr[c_end] - offset);
                offset = graph.indptr[c_end];
                rest = tail;
                work.push((c, c_end, mine, mv));
            }
            let ctx = VertexCtx {
                graph,
                pts: points,
                kernel,
                seed: params.seed,
                epoch,
                neg_rate,
                alpha,
            };
            work.into_par_iter()
                .for_each(|(c, c_end, sched, mv)| chunk_moves(ctx, c..c_end, sched, mv));
            for (p, m) in points[start..end].iter_mut().zip(&moves) {
                p[0] += m[0];
                p[1] += m[1];
            }
        }
    }
    Ok(())
}

/// Rows placed by one call of [`transform_block`]: bounds the memory of the placement
/// (the neighbour lists and memberships of a block) whatever the number of rows.
const TRANSFORM_BLOCK: usize = 1 << 17;

/// umap-learn's `transform`: places the rows `rows` of `x` among the fitted points, from
/// their neighbours among the fitted rows, a block of rows at a time — as umap-learn
/// transforms a large input called in batches: each block's memberships use that block's
/// mean neighbour distance and largest membership.
fn transform(
    fitted: &Fitted,
    x: &dyn Rows,
    rows: &[usize],
    params: &UmapParams,
    a: f64,
    b: f64,
    cancel: &Cancel,
) -> Result<Vec<[f32; 2]>, EmbedError> {
    let n_epochs = params
        .transform_epochs
        .unwrap_or(if rows.len() <= 10_000 { 100 } else { 30 });
    transform_blocks(
        fitted,
        x,
        rows,
        TRANSFORM_BLOCK,
        n_epochs,
        params,
        (a, b),
        cancel,
    )
}

/// [`transform`] with the block size and epochs given.
#[allow(clippy::too_many_arguments)]
fn transform_blocks(
    fitted: &Fitted,
    x: &dyn Rows,
    rows: &[usize],
    block_rows: usize,
    n_epochs: usize,
    params: &UmapParams,
    (a, b): (f64, f64),
    cancel: &Cancel,
) -> Result<Vec<[f32; 2]>, EmbedError> {
    let mut out = Vec::with_capacity(rows.len());
    for (b_i, block) in rows.chunks(block_rows).enumerate() {
        let sub = x.gather(block);
        let first = b_i * block_rows;
        out.extend(transform_block(
            fitted,
            sub.view(),
            first,
            n_epochs,
            params,
            a,
            b,
            cancel,
        )?);
    }
    Ok(out)
}

/// Places the rows of `x`, the placed rows `first..` of the whole transform.
#[allow(clippy::too_many_arguments)]
fn transform_block(
    fitted: &Fitted,
    x: ArrayView2<f64>,
    first: usize,
    n_epochs: usize,
    params: &UmapParams,
    a: f64,
    b: f64,
    cancel: &Cancel,
) -> Result<Vec<[f32; 2]>, EmbedError> {
    let m = x.nrows();
    let n_fit = fitted.points.len();
    let k = params.n_neighbors.min(n_fit);
    let nb = fitted.tree.kneighbors(&to_row_major(x), k, false, cancel)?;
    let mean_all = nb.dist.iter().sum::<f64>() / nb.dist.len().max(1) as f64;
    // Memberships with `local_connectivity - 1 = 0`, as umap-learn's transform.
    let weights: Vec<f64> = (0..m)
        .into_par_iter()
        .with_min_len(CHUNK)
        .flat_map_iter(|i| {
            let d = nb.dist_of(i);
            let (sigma, rho) = smooth_knn(d, 0.0, mean_all);
            d.iter()
                .map(move |&dj| membership(dj, rho, sigma))
                .collect::<Vec<_>>()
        })
        .collect();
    let max = weights.iter().copied().fold(0.0, f64::max);
    let placing = Placing {
        kernel: Kernel {
            a: a as f32,
            b: b as f32,
            gamma: params.repulsion_strength as f32,
        },
        tail: &fitted.points,
        nb: &nb,
        weights: &weights,
        max,
        n_epochs,
        neg_rate: params.negative_sample_rate as f64,
        initial_alpha: params.learning_rate / 4.0,
        seed: params.seed ^ 0x7472_616e,
    };
    let mut out = vec![[0.0f32; 2]; m];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .try_for_each(|(c, chunk)| {
            cancel.check()?;
            place_chunk(&placing, c * CHUNK, first + c * CHUNK, chunk);
            Ok::<(), EmbedError>(())
        })?;
    Ok(out)
}

/// What placing the rows of one block reads.
struct Placing<'a> {
    kernel: Kernel,
    /// The fitted points.
    tail: &'a [[f32; 2]],
    /// The rows' neighbours among the fitted rows.
    nb: &'a crate::neighbors::Neighbourhoods,
    /// The rows' memberships to their neighbours, `rows × k`.
    weights: &'a [f64],
    /// The largest membership.
    max: f64,
    n_epochs: usize,
    neg_rate: f64,
    initial_alpha: f64,
    seed: u64,
}

impl Placing<'_> {
    /// Places the block's rows `from..from + out.len()` (the rows `id..` of the whole
    /// transform) into `out`.
    #[inline(always)]
    fn place_chunk_in(&self, from: usize, id: usize, out: &mut [[f32; 2]]) {
        let Placing {
            kernel,
            tail,
            nb,
            weights,
            max,
            n_epochs,
            neg_rate,
            initial_alpha,
            seed,
        } = *self;
        let k = nb.k;
        let n_fit = tail.len();
        let mut sched: Vec<Schedule> = Vec::with_capacity(k);
        let mut near: Vec<[f32; 2]> = Vec::with_capacity(k);
        let mut others: Vec<[f32; 2]> = Vec::with_capacity(8 * k);
        for (r, slot) in out.iter_mut().enumerate() {
            let i = from + r;
            let w = &weights[i * k..(i + 1) * k];
            let idx = nb.idx_of(i);
            let total: f64 = w.iter().sum();
            let mut p = [0.0f64; 2];
            if total > 0.0 {
                for (wj, &j) in w.iter().zip(idx) {
                    p[0] += wj / total * tail[j][0] as f64;
                    p[1] += wj / total * tail[j][1] as f64;
                }
            } else {
                p = [tail[idx[0]][0] as f64, tail[idx[0]][1] as f64];
            }
            let mut cur = [p[0] as f32, p[1] as f32];
            if n_epochs > 0 && max > 0.0 {
                let cut = max / n_epochs as f64;
                sched.clear();
                sched.extend(w.iter().map(|&wj| {
                    let period = if wj >= cut { max / wj } else { f64::INFINITY };
                    Schedule::new(period, neg_rate)
                }));
                for epoch in 0..n_epochs {
                    let e = epoch as f64;
                    let alpha = (initial_alpha * (1.0 - e / n_epochs as f64)) as f32;
                    let mut rng = SplitMix::new(seed, epoch, id + r);
                    // The epoch's moves are computed from where the row starts it and
                    // applied together, in the batches of the fit.
                    for (s, (&j, &wj)) in sched.iter_mut().zip(idx.iter().zip(w)) {
                        if s.next > e {
                            continue;
                        }
                        near.push(tail[j]);
                        for _ in 0..s.advance(e, max / wj, neg_rate) {
                            others.push(tail[rng.below(n_fit)]);
                        }
                    }
                    let pull = kernel.attract_sum(cur, &mut near);
                    let push = kernel.repel_sum(cur, &mut others);
                    near.clear();
                    others.clear();
                    cur[0] += (pull[0] + push[0]) * alpha;
                    cur[1] += (pull[1] + push[1]) * alpha;
                }
            }
            *slot = cur;
        }
    }
}

wide_fn! {
    /// [`Placing::place_chunk_in`], for AVX2 where the processor has it.
    fn place_chunk(p: &Placing, from: usize, id: usize, out: &mut [[f32; 2]]) => Placing::place_chunk_in
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_are_the_same_with_and_without_avx2() {
        // One epoch's moves of a small layout, and the placement of new rows, through the
        // run-time choice (AVX2 where the processor has it) and through the baseline
        // code, bit for bit.
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 here: the baseline code is compared with itself");
        }
        let bits = |m: &[[f32; 2]]| -> Vec<u32> {
            m.iter()
                .flat_map(|p| [p[0].to_bits(), p[1].to_bits()])
                .collect()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let x = Array2::from_shape_fn((300, 3), |_| rng.gen::<f64>());
        let k = 15;
        let tree = KdTree::build(x.view()).with_leaf_columns();
        let (dist, idx) = neighbour_lists(&tree, &to_row_major(x.view()), k, &Cancel::default())
            .expect("not cancelled");
        let graph = fuzzy_graph(dist, idx, k, 200);
        let pts = initial_layout(300, 9);
        let (a, b) = find_ab_params(1.0, 0.1);
        let schedule = || -> Vec<Schedule> {
            graph
                .period
                .iter()
                .map(|&p| Schedule::new(p, 5.0))
                .collect()
        };
        for epoch in [1, 4, 60] {
            let ctx = VertexCtx {
                graph: &graph,
                pts: &pts,
                kernel: Kernel {
                    a: a as f32,
                    b: b as f32,
                    gamma: 1.0,
                },
                seed: 3,
                epoch,
                neg_rate: 5.0,
                alpha: 0.5,
            };
            let (mut chosen, mut baseline) = (vec![[0.0f32; 2]; 300], vec![[0.0f32; 2]; 300]);
            chunk_moves(ctx, 0..300, &mut schedule(), &mut chosen);
            chunk_moves_in(ctx, 0..300, &mut schedule(), &mut baseline);
            assert_eq!(bits(&chosen), bits(&baseline), "epoch {epoch}");
            assert!(chosen.iter().filter(|m| m[0] != 0.0).count() > 100);
        }

        // The transform's placement of 200 new rows among those 300.
        let new_rows = Array2::from_shape_fn((200, 3), |_| rng.gen::<f64>());
        let nb = tree
            .kneighbors(&to_row_major(new_rows.view()), k, false, &Cancel::default())
            .expect("not cancelled");
        let weights: Vec<f64> = (0..200 * k).map(|_| rng.gen_range(0.05..1.0)).collect();
        let placing = Placing {
            kernel: Kernel {
                a: a as f32,
                b: b as f32,
                gamma: 1.0,
            },
            tail: &pts,
            nb: &nb,
            weights: &weights,
            max: weights.iter().copied().fold(0.0, f64::max),
            n_epochs: 30,
            neg_rate: 5.0,
            initial_alpha: 0.25,
            seed: 11,
        };
        let (mut chosen, mut baseline) = (vec![[0.0f32; 2]; 200], vec![[0.0f32; 2]; 200]);
        place_chunk(&placing, 0, 0, &mut chosen);
        placing.place_chunk_in(0, 0, &mut baseline);
        assert_eq!(bits(&chosen), bits(&baseline), "placement");
        // The optimisation moved the rows from their weighted means.
        let mut start = vec![[0.0f32; 2]; 200];
        Placing {
            n_epochs: 0,
            ..placing
        }
        .place_chunk_in(0, 0, &mut start);
        assert!(chosen.iter().zip(&start).filter(|(c, s)| c != s).count() > 150);
    }

    #[test]
    fn pow_pos_matches_powf() {
        // Exponents of the kernel (b for min_dist 0 to 1 lies in about 0.5..2) and
        // bases from the smallest subnormal to far beyond any layout distance.
        let mut worst = 0.0f64;
        for &e in &[0.5f32, 0.790_8, 0.895_1, 1.0, 1.5, 1.929] {
            // Every 997th positive f32 up to 1e30 (subnormals included).
            for bits in (1..1e30f32.to_bits()).step_by(997) {
                let x = f32::from_bits(bits);
                let want = (x as f64).powf(e as f64);
                let y = (e as f64 * (x as f64).log2()).abs();
                if y < 125.0 {
                    // Single precision holds `e log2 x` to about 6e-8 of itself, which
                    // the power turns into a relative error of that times `|e log2 x|`.
                    let got = pow_pos(x, e) as f64;
                    worst = worst.max((got - want).abs() / want / (1.0 + y));
                }
            }
        }
        assert!(worst < 2e-7, "relative error / (1 + |e log2 x|): {worst:e}");
    }

    #[test]
    fn ab_params_as_umap_learn() {
        // umap-learn's find_ab_params(1.0, 0.1) = (1.5769..., 0.8950...).
        let (a, b) = find_ab_params(1.0, 0.1);
        assert!((a - 1.5769).abs() < 2e-3, "a = {a}");
        assert!((b - 0.8951).abs() < 2e-3, "b = {b}");
    }

    #[test]
    fn placing_in_blocks_puts_rows_by_their_own_group_as_at_once() {
        // Two far groups of a grid; fit on every other row, place the rest.
        let x = Array2::from_shape_fn((600, 2), |(i, j)| {
            let g = if i < 300 { 0.0 } else { 50.0 };
            g + ((i % 300) / if j == 0 { 20 } else { 1 } % 20) as f64 * 0.1
        });
        let p = UmapParams::default();
        let (a, b) = find_ab_params(p.spread, p.min_dist);
        let fit_rows: Vec<usize> = (0..600).step_by(2).collect();
        let rest: Vec<usize> = (1..600).step_by(2).collect();
        let sample = crate::neighbors::select_rows(x.view(), &fit_rows);
        let cancel = Cancel::new();
        let fitted = Fitted::new(
            sample.view(),
            fit(sample.view(), &p, a, b, &cancel).unwrap(),
        );
        let once =
            transform_blocks(&fitted, &x, &rest, usize::MAX, 100, &p, (a, b), &cancel).unwrap();
        let blocks = transform_blocks(&fitted, &x, &rest, 64, 100, &p, (a, b), &cancel).unwrap();
        assert_eq!(once.len(), 300);
        assert_eq!(blocks.len(), 300);
        // Each placed row lands by its own group's fitted points, either way.
        let centre = |rows: &[usize], pts: &[[f32; 2]]| {
            let n = rows.len() as f32;
            let sx: f32 = pts.iter().map(|q| q[0]).sum();
            let sy: f32 = pts.iter().map(|q| q[1]).sum();
            [sx / n, sy / n]
        };
        let (lo, hi) = (&fitted.points[..150], &fitted.points[150..]);
        let (c0, c1) = (centre(&fit_rows[..150], lo), centre(&fit_rows[150..], hi));
        let d2 = |p: [f32; 2], c: [f32; 2]| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2);
        for placed in [&once, &blocks] {
            for (i, &q) in placed.iter().enumerate() {
                assert!(q.iter().all(|v| v.is_finite()));
                let near_own = if i < 150 {
                    d2(q, c0) < d2(q, c1)
                } else {
                    d2(q, c1) < d2(q, c0)
                };
                assert!(near_own, "row {} placed at {q:?}", rest[i]);
            }
        }
    }

    #[test]
    fn smooth_knn_hits_the_target() {
        let d = [0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0];
        let (sigma, rho) = smooth_knn(&d, 1.0, 1.0);
        assert_eq!(rho, 1.0);
        let psum: f64 = d[1..].iter().map(|&x| membership(x, rho, sigma)).sum();
        assert!((psum - (d.len() as f64).log2()).abs() < 1e-4);
    }
}
