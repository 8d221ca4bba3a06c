//! Exact Euclidean k-nearest-neighbour search for the neighbour-based detectors (KNN,
//! LOF), the UMAP neighbour graph and HDBSCAN's core distances and spanning tree: a k-d
//! tree (Bentley 1975) with a bounding box per node, split at the median of the dimension
//! with the widest interquartile range, queried in parallel with rayon. The boxes are
//! drawn in the points' principal axes ([`Axes`]), where they fit correlated features
//! far closer; distances are the points' own.
//!
//! The tree owns a copy of the points, so a fitted detector can keep it for scoring new
//! rows. Ties are cheap: a subtree is skipped unless its box is *strictly* closer than the
//! current k-th neighbour, so thousands of identical rows do not turn a query into a scan.
//! Among neighbours at equal distance, which ones are returned is unspecified (as in
//! scikit-learn); the distances are exact.
//!
//! The detectors, which need distances and per-row statistics but not row identities,
//! use a [`CountedTree`]: the tree over the distinct rows, each weighted by its number of
//! copies, with [`DistinctRows`] to answer each distinct query once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::cancel::{Cancel, Cancelled};

/// Points per leaf.
const LEAF_SIZE: usize = 24;
// A leaf's points fit the bits of a `u32` (see `KdTree::scan_leaf`).
const _: () = assert!(LEAF_SIZE <= 32);
/// Query rows handled between two cancellation checks.
const CHUNK: usize = 512;
/// Fewest queries put in leaf order before a search ([`KdTree::in_leaf_order`]): below a
/// few chunks the reordering would cost more than the cache it saves.
const LEAF_ORDER_MIN: usize = 4 * CHUNK;
/// Points of a node whose quartiles choose its split dimension, at least (see
/// [`KdTree::split_dim`]).
const SPLIT_SAMPLE: usize = 256;

/// Buffers reused while a tree is built.
#[derive(Default)]
struct Scratch {
    col: Vec<f64>,
    keyed: Vec<(f64, usize)>,
}

/// Marks a leaf in [`Node::left`].
const NO_CHILD: usize = usize::MAX;

/// Rows copied per parallel task of [`select_rows`].
const SELECT_CHUNK: usize = 1 << 12;

/// The rows `rows` of `x`, in that order, as a new standard-layout matrix (row by row,
/// in parallel blocks: `ndarray`'s `select` copies element by element, several times
/// slower on the row lists the detectors and clusterings take).
pub fn select_rows(x: ArrayView2<f64>, rows: &[usize]) -> ndarray::Array2<f64> {
    let d = x.ncols();
    let out = match x.as_slice() {
        Some(flat) => gather_rows(flat, d, rows),
        None => gather_with(d, rows, |o, i| {
            o.iter_mut().zip(x.row(i)).for_each(|(o, &v)| *o = v)
        }),
    };
    ndarray::Array2::from_shape_vec((rows.len(), d), out)
        .unwrap_or_else(|_| ndarray::Array2::zeros((0, d)))
}

/// The rows `rows` of `flat` (row-major, `d` values per row), in that order.
fn gather_rows(flat: &[f64], d: usize, rows: &[usize]) -> Vec<f64> {
    gather_with(d, rows, |o, i| o.copy_from_slice(&flat[i * d..(i + 1) * d]))
}

/// `rows.len()` rows of `d` values, row `r` written by `copy(row, rows[r])`, in parallel
/// blocks.
fn gather_with(d: usize, rows: &[usize], copy: impl Fn(&mut [f64], usize) + Sync) -> Vec<f64> {
    let mut out = vec![0.0; rows.len() * d];
    if d > 0 {
        out.par_chunks_mut(SELECT_CHUNK * d)
            .zip(rows.par_chunks(SELECT_CHUNK))
            .for_each(|(dst, rows)| {
                for (o, &i) in dst.chunks_exact_mut(d).zip(rows) {
                    copy(o, i);
                }
            });
    }
    out
}

/// `x` as a row-major slice: itself when it is one already, else a copy.
pub(crate) fn row_major(x: ArrayView2<'_, f64>) -> std::borrow::Cow<'_, [f64]> {
    match x.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(to_row_major(x)),
    }
}

/// Copies `x` into a row-major vector.
pub(crate) fn to_row_major(x: ArrayView2<f64>) -> Vec<f64> {
    x.as_standard_layout().iter().copied().collect()
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Node {
    /// Range of tree positions covered by the node.
    start: usize,
    end: usize,
    /// Child nodes, or [`NO_CHILD`] for a leaf.
    left: usize,
    right: usize,
}

/// A k-d tree over owned points.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KdTree {
    dim: usize,
    /// Points in tree order, row-major.
    points: Vec<f64>,
    /// Original row of each tree position.
    index: Vec<usize>,
    nodes: Vec<Node>,
    /// Per node: lower corner then upper corner of its bounding box, in the axes'
    /// coordinates.
    bounds: Vec<f64>,
    /// The axes the nodes are split and bounded in.
    axes: Axes,
    /// Empty, or the points again, leaf by leaf column-major (see
    /// [`KdTree::with_leaf_columns`]): a leaf over positions `s..e` holds at `s * dim` the
    /// first coordinates of its `e - s` points, then their second ones..., so that a leaf
    /// scan computes its distances a coordinate at a time for all its points.
    #[serde(skip)]
    leaf_cols: Vec<f64>,
}

/// The k nearest neighbours of each query row, nearest first.
#[derive(Debug, Clone)]
pub(crate) struct Neighbourhoods {
    /// Neighbours per row.
    pub k: usize,
    /// Euclidean distances, `rows × k`, row-major.
    pub dist: Vec<f64>,
    /// Original training rows of the neighbours, `rows × k`.
    pub idx: Vec<usize>,
}

impl Neighbourhoods {
    /// Number of query rows.
    pub fn rows(&self) -> usize {
        self.dist.len().checked_div(self.k).unwrap_or(0)
    }

    /// Distances to the neighbours of row `i`, nearest first.
    pub fn dist_of(&self, i: usize) -> &[f64] {
        &self.dist[i * self.k..(i + 1) * self.k]
    }

    /// Neighbours of row `i`, nearest first.
    pub fn idx_of(&self, i: usize) -> &[usize] {
        &self.idx[i * self.k..(i + 1) * self.k]
    }
}

/// The best candidates found so far by one query: (squared distance, row), ascending.
struct Best {
    k: usize,
    items: Vec<(f64, usize)>,
    /// Squared distance a candidate must beat (strictly) to enter.
    bound: f64,
}

impl Best {
    fn new(k: usize) -> Self {
        let mut best = Self {
            k,
            items: Vec::with_capacity(k + 1),
            bound: 0.0,
        };
        best.clear();
        best
    }

    fn clear(&mut self) {
        self.items.clear();
        // Nothing enters a list of no entries.
        self.bound = if self.k == 0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }

    #[inline]
    fn push(&mut self, d2: f64, i: usize) {
        if d2 >= self.bound {
            return;
        }
        if self.k > 0 && self.items.len() == self.k {
            // Full: the new entry, nearer than the farthest, takes its place.
            replace_last_sorted(&mut self.items, (d2, i), |e| e.0);
            self.bound = self.items[self.k - 1].0;
            return;
        }
        insert_sorted(&mut self.items, (d2, i), |e| e.0);
        if self.items.len() == self.k {
            self.bound = self.items[self.k - 1].0;
        }
    }
}

/// Inserts `e` into `items`, sorted ascending by `key`, after the entries with an equal
/// key. The entries after it move up one by one from the back: lists are a few entries
/// long, `Vec::insert` would call `memmove` for a few bytes, and swapping neighbours
/// would read back each entry just written.
#[inline]
fn insert_sorted<T: Copy>(items: &mut Vec<T>, e: T, key: impl Fn(&T) -> f64) {
    let k = key(&e);
    let mut pos = items.len();
    while pos > 0 && key(&items[pos - 1]) > k {
        pos -= 1;
    }
    items.push(e);
    for i in (pos + 1..items.len()).rev() {
        items[i] = items[i - 1];
    }
    items[pos] = e;
}

/// Puts `e` into `items`, sorted ascending by `key` and not empty, in place of its last
/// entry, whose key `e`'s must be below: after the entries with an equal key, moving the
/// entries after it up one by one from the back, in one pass (the list `insert_sorted`
/// then dropping the last entry would give).
#[inline]
fn replace_last_sorted<T: Copy>(items: &mut [T], e: T, key: impl Fn(&T) -> f64) {
    let k = key(&e);
    debug_assert!(items.last().is_some_and(|last| k < key(last)));
    let mut pos = items.len() - 1;
    while pos > 0 && key(&items[pos - 1]) > k {
        items[pos] = items[pos - 1];
        pos -= 1;
    }
    items[pos] = e;
}

/// What a tree walk fills: the squared distance a candidate must beat (strictly), and
/// each point reached (squared distance, row).
trait Candidates {
    fn bound(&self) -> f64;
    fn offer(&mut self, d2: f64, row: usize);
}

impl Candidates for Best {
    #[inline]
    fn bound(&self) -> f64 {
        self.bound
    }
    #[inline]
    fn offer(&mut self, d2: f64, row: usize) {
        self.push(d2, row);
    }
}

#[inline(always)]
pub(crate) fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    lane_sum(a.len().min(b.len()), |j| (a[j] - b[j]) * (a[j] - b[j]))
}

/// Points handled together by [`sq_dists_to`].
const DISTS_BLOCK: usize = 32;

/// The squared distance of `q` to each of the `out.len()` points of `cols`, stored
/// coordinate by coordinate (coordinate `j` of point `i` at `j * out.len() + i`), each
/// summed as [`sq_dist`] sums it (coordinate `j` in lane `j % 4`): the points are the
/// vector lanes, where a row-major [`sq_dist`] per point sums a few coordinates each.
#[inline(always)]
pub(crate) fn sq_dists_to(cols: &[f64], q: &[f64], out: &mut [f64]) {
    let m = out.len();
    assert_eq!(
        cols.len(),
        q.len() * m,
        "one column of m values per coordinate"
    );
    for (b, dst) in out.chunks_mut(DISTS_BLOCK).enumerate() {
        let start = b * DISTS_BLOCK;
        let len = dst.len();
        let mut lanes = [[0.0f64; DISTS_BLOCK]; 4];
        for (j, &qj) in q.iter().enumerate() {
            let col = &cols[j * m + start..j * m + start + len];
            let lane = &mut lanes[j % 4][..len];
            if j < 4 {
                // The first term of a lane (0 + t is t).
                for (acc, &v) in lane.iter_mut().zip(col) {
                    *acc = (v - qj) * (v - qj);
                }
            } else {
                for (acc, &v) in lane.iter_mut().zip(col) {
                    *acc += (v - qj) * (v - qj);
                }
            }
        }
        let [l0, l1, l2, l3] = &lanes;
        for ((((o, a), b), c), e) in dst.iter_mut().zip(l0).zip(l1).zip(l2).zip(l3) {
            *o = (a + b) + (c + e);
        }
    }
}

/// `points` (row-major, `d` coordinates each) coordinate by coordinate, as
/// [`sq_dists_to`] takes them: coordinate `j` of point `i` at `j * m + i`, for `m`
/// points.
pub(crate) fn by_coordinate<T: Copy + Default>(points: &[T], d: usize) -> Vec<T> {
    let mut cols = vec![T::default(); points.len()];
    by_coordinate_into(points, d, &mut cols);
    cols
}

/// [`by_coordinate`] into `cols` (as long as `points`).
fn by_coordinate_into<T: Copy>(points: &[T], d: usize, cols: &mut [T]) {
    let m = points.len().checked_div(d).unwrap_or(0);
    for (i, p) in points.chunks_exact(d.max(1)).enumerate() {
        for (j, &v) in p.iter().enumerate() {
            cols[j * m + i] = v;
        }
    }
}

/// `Σ term(j)` for `j < d` in four independent partial sums (term `j` in sum `j % 4`, the
/// last `d % 4` terms in sums 0, 1, 2), added as `(s0 + s1) + (s2 + s3)`: a single running
/// sum is a chain of dependent adds. Point distances and box distances share this layout
/// (a box's distance is in the tree's turned coordinates, and [`Axes::floor`] lowers it
/// for their rounding).
#[inline(always)]
fn lane_sum(d: usize, term: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let full = d - d % 4;
    for j in (0..full).step_by(4) {
        for (i, a) in acc.iter_mut().enumerate() {
            *a += term(j + i);
        }
    }
    for (i, j) in (full..d).enumerate() {
        acc[i] += term(j);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// [`sq_dist`] of `a` and `b` when it is below `limit`, else `None`, often decided after
/// the first four coordinates: their lane sums are a floor of the whole sum (each lane
/// only grows and rounding is monotone), and the value returned is [`sq_dist`]'s, summed
/// in the same order.
#[inline(always)]
pub(crate) fn sq_dist_below(a: &[f64], b: &[f64], limit: f64) -> Option<f64> {
    let d = a.len().min(b.len());
    let term = |j: usize| (a[j] - b[j]) * (a[j] - b[j]);
    let mut acc = [0.0f64; 4];
    let full = d - d % 4;
    if full > 0 {
        for (i, x) in acc.iter_mut().enumerate() {
            *x += term(i);
        }
        if (acc[0] + acc[1]) + (acc[2] + acc[3]) >= limit {
            return None;
        }
    }
    for j in (4..full).step_by(4) {
        for (i, x) in acc.iter_mut().enumerate() {
            *x += term(j + i);
        }
    }
    for (i, j) in (full..d).enumerate() {
        acc[i] += term(j);
    }
    let sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    (sum < limit).then_some(sum)
}

/// The principal axes of a tree's points, in which its boxes are drawn: the points
/// centred on their mean and turned onto the eigenvectors of their covariance.
///
/// Zeek features are strongly correlated (bytes, packets and IP bytes rise together),
/// and boxes aligned with the features are hulls of long diagonals, loose in every
/// direction; along the principal axes they fit the points, and a search skips more of
/// the tree (measured: neighbour searches on the default features of a conn log take
/// 0.70–0.75 of the time). Distances are still computed on the points' own coordinates,
/// so every neighbour and distance found is the one the points give; only the box
/// floors come from the turned coordinates, which are rounded, and [`Axes::floor`]
/// lowers each below every distance it bounds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Axes {
    /// The points' mean.
    mean: Vec<f64>,
    /// The axes, unit vectors one after another (`dim × dim`, row-major).
    axes: Vec<f64>,
    /// The largest distance of a point from the mean (measured again when a tree is
    /// read back, not taken from the file).
    #[serde(skip)]
    radius: f64,
    /// Relative lowering of a floor: the axes' departure from orthonormality plus the
    /// rounding of the distances compared (see [`Axes::with_margins`]).
    #[serde(skip)]
    shrink: f64,
    /// Error of a turned distance per unit of the two points' distances from the mean.
    #[serde(skip)]
    unit: f64,
    /// Absolute lowering of a floor, for sums of squares that fall below the normal
    /// numbers, where rounding is no longer relative: `d + 2` times the smallest normal
    /// number, far above the subnormal spacing each of the `d + 2` roundings may lose.
    #[serde(skip)]
    tiny: f64,
}

/// Largest departure from orthonormality accepted of the computed axes (in the
/// spectral norm of `AᵀA − I`); Jacobi's rotations give a few multiples of ε. Axes
/// further off (a failed eigen-decomposition) are replaced by the features' own.
const MAX_SKEW: f64 = 1e-9;

impl Axes {
    /// The axes of `points` (`n × dim`, row-major, finite), and the points turned onto
    /// them.
    fn of(points: &[f64], dim: usize) -> (Self, Vec<f64>) {
        let n = points.len().checked_div(dim).unwrap_or(0);
        let mut mean = vec![0.0; dim];
        let mut axes = vec![0.0; dim * dim];
        for j in 0..dim {
            axes[j * dim + j] = 1.0;
        }
        if n >= 2 {
            if let Ok(rows) = ndarray::ArrayView2::from_shape((n, dim), points) {
                let m = rows.sum_axis(ndarray::Axis(0)) / n as f64;
                mean = m.to_vec();
                // PCA's covariance: summed in the same order on any number of threads, so
                // the tree, and the choice among neighbours at equal distances with it,
                // is the same on every run. Never cancelled here.
                if let Ok(cov) = crate::embed::pca::covariance(&rows, &mean, &Cancel::new()) {
                    let (_, vecs) = crate::detect::pca::symmetric_eigen(&cov);
                    let turned: Vec<f64> = vecs.concat();
                    if turned.len() == dim * dim && skew(&turned, dim) <= MAX_SKEW {
                        axes = turned;
                    }
                }
            }
        }
        let mut a = Axes {
            mean,
            axes,
            radius: 0.0,
            shrink: 0.0,
            unit: 0.0,
            tiny: 0.0,
        };
        let (out, radius) = a.turn_all(points);
        a.radius = radius;
        (a.with_margins(), out)
    }

    /// Every point of `points` (row-major) turned, in parallel, and the largest distance
    /// of one from the mean.
    fn turn_all(&self, points: &[f64]) -> (Vec<f64>, f64) {
        let d = self.mean.len().max(1);
        let mut out = vec![0.0; points.len()];
        let far2 = out
            .par_chunks_mut(CHUNK * d)
            .zip(points.par_chunks(CHUNK * d))
            .map(|(o, p)| {
                o.chunks_exact_mut(d)
                    .zip(p.chunks_exact(d))
                    .map(|(o, p)| self.turn(p, o))
                    .fold(0.0, f64::max)
            })
            .reduce(|| 0.0, f64::max);
        (out, far2.sqrt())
    }

    /// The axes with their margins set from their own departure from orthonormality.
    ///
    /// A turned coordinate is a sum of `d` products of a centred value and an axis'
    /// entry, rounded: off by at most `(d + 1) ε r` (`ε` = 2⁻⁵³, `r` the point's distance
    /// from the mean, the axis a unit vector), so a turned point is off by at most
    /// `√d (d + 1) ε r` and the turned distance of two points by the sum of theirs
    /// (`unit`; `f64::EPSILON` is 2ε, and a factor 2 more is room). The axes turn a
    /// difference `x` to a length within `√(1 ± δ)` of `|x|`, `δ` at most [`skew`] plus
    /// `d² ε` for its own rounding; the squared distances and box floors compared are
    /// each rounded by at most `(d + 3) ε` of themselves (`shrink`, with room).
    fn with_margins(mut self) -> Self {
        let d = self.mean.len() as f64;
        self.unit = 2.0 * d.sqrt() * (d + 1.0) * f64::EPSILON;
        let rounding = (d * d + 2.0 * d + 6.0) * f64::EPSILON;
        self.shrink = 2.0 * (skew(&self.axes, self.mean.len()) + rounding);
        self.tiny = (d + 2.0) * f64::MIN_POSITIVE;
        self
    }

    /// Axes read back from a model file: shapes and values checked, margins made again
    /// (the radius is measured on the tree's points, [`KdTree::restore_boxes`]).
    fn restored(self, dim: usize) -> Result<Self, String> {
        use crate::detect::ensure;
        ensure(
            self.mean.len() == dim
                && self.axes.len() == dim * dim
                && self.mean.iter().chain(&self.axes).all(|v| v.is_finite())
                && skew(&self.axes, dim) <= MAX_SKEW,
            "tree axes",
        )?;
        Ok(self.with_margins())
    }

    /// Writes `q` turned onto the axes to `out`; returns `q`'s squared distance from the
    /// mean.
    #[inline(always)]
    fn turn(&self, q: &[f64], out: &mut [f64]) -> f64 {
        let d = self.mean.len();
        let mut r2 = 0.0;
        for (o, axis) in out.iter_mut().zip(self.axes.chunks_exact(d.max(1))) {
            *o = q
                .iter()
                .zip(&self.mean)
                .zip(axis)
                .map(|((v, m), a)| (v - m) * a)
                .sum();
        }
        for (v, m) in q.iter().zip(&self.mean) {
            r2 += (v - m) * (v - m);
        }
        r2
    }

    /// The floor of a squared box distance `b` in turned coordinates for a query at
    /// distance `r` from the mean and the points under the box (at most `radius`): the
    /// turned distance is within `s = unit (r + radius)` of the own one, so the own
    /// squared distance is at least `(√b − s)² / (1 + δ) ≥ b (1 − δ) − 2 s √b`, lowered
    /// again for rounding (the rounded `√b` is within the room of `unit`; `tiny` for sums
    /// below the normal numbers). Values so large that their squares overflow give an
    /// undefined floor, taken as −∞: such a box is never skipped.
    #[inline(always)]
    fn floor(&self, b: f64, r: f64) -> f64 {
        let s = self.unit * (r + self.radius);
        (b * (1.0 - self.shrink) - 2.0 * s * b.sqrt() - self.tiny).max(f64::NEG_INFINITY)
    }
}

/// A bound of the spectral norm of `AᵀA − I` for the `d × d` matrix `a` (row-major):
/// `d` times its largest entry, measured on `AAᵀ`, which has the same eigenvalues.
fn skew(a: &[f64], d: usize) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..d {
        for j in 0..d {
            let dot: f64 = (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            worst = worst.max((dot - want).abs());
        }
    }
    if worst.is_nan() {
        return f64::INFINITY;
    }
    d as f64 * worst
}

/// A query as a tree's searches take it: its own coordinates for distances, its turned
/// ones (see [`Axes`]) for the boxes, and its distance from the axes' mean for the
/// floors' margin.
pub(crate) struct Probe {
    at: Vec<f64>,
    r: f64,
}

impl Probe {
    pub fn new(dim: usize) -> Self {
        Probe {
            at: vec![0.0; dim],
            r: 0.0,
        }
    }
}

/// Nodes of a subtree in pre-order, ids relative to its root (0), with their boxes.
#[derive(Default)]
struct Subtree {
    nodes: Vec<Node>,
    /// Per node: lower corner then upper corner of its bounding box.
    bounds: Vec<f64>,
}

/// Nodes with more points than this have their two halves built in parallel.
const PAR_BUILD: usize = 1 << 13;

/// Builds the subtree over the rows `index` of `points` (row-major, `dim` columns), which
/// sit at tree positions `base..`; `index` is reordered in place (the rows themselves
/// move once, when the whole tree is built).
fn build_subtree(points: &[f64], index: &mut [usize], base: usize, dim: usize) -> Subtree {
    let n = index.len();
    let mut out = Subtree::default();
    if n <= PAR_BUILD {
        build_node(points, index, base, dim, &mut Scratch::default(), &mut out);
        return out;
    }
    let Some(mid) = split_node(points, index, base, dim, &mut Scratch::default(), &mut out) else {
        return out;
    };
    let (li, ri) = index.split_at_mut(mid);
    let (left, right) = rayon::join(
        || build_subtree(points, li, base, dim),
        || build_subtree(points, ri, base + mid, dim),
    );
    let right_root = 1 + left.nodes.len();
    out.nodes[0].left = 1;
    out.nodes[0].right = right_root;
    for (part, shift) in [(left, 1), (right, right_root)] {
        out.nodes.extend(part.nodes.into_iter().map(|mut node| {
            if node.left != NO_CHILD {
                node.left += shift;
                node.right += shift;
            }
            node
        }));
        out.bounds.extend(part.bounds);
    }
    out
}

/// Appends the node over the rows `index` of `points` (tree positions `base..`) to `out`
/// and, when it is too large for a leaf, orders `index` around the rows' median on the
/// split dimension. Returns the number of rows in its left half, or `None` for a leaf.
fn split_node(
    points: &[f64],
    index: &mut [usize],
    base: usize,
    d: usize,
    s: &mut Scratch,
    out: &mut Subtree,
) -> Option<usize> {
    let n = index.len();
    let mut lo = vec![f64::INFINITY; d];
    let mut hi = vec![f64::NEG_INFINITY; d];
    for &i in index.iter() {
        for ((l, h), &v) in lo.iter_mut().zip(&mut hi).zip(&points[i * d..(i + 1) * d]) {
            *l = l.min(v);
            *h = h.max(v);
        }
    }
    out.bounds.extend_from_slice(&lo);
    out.bounds.extend_from_slice(&hi);
    out.nodes.push(Node {
        start: base,
        end: base + n,
        left: NO_CHILD,
        right: NO_CHILD,
    });
    // Identical points are split too (by position), so that a query can stop at the
    // first k of them instead of scanning all.
    if n <= LEAF_SIZE {
        return None;
    }
    let split_dim = KdTree::split_dim(points, index, d, &lo, &hi, &mut s.col);
    let mid = n / 2;
    // The node's rows around their median on `split_dim`, ordered with their keys.
    s.keyed.clear();
    s.keyed
        .extend(index.iter().map(|&i| (points[i * d + split_dim], i)));
    s.keyed
        .select_nth_unstable_by(mid, |a, b| a.0.total_cmp(&b.0));
    for (slot, &(_, i)) in index.iter_mut().zip(&s.keyed) {
        *slot = i;
    }
    Some(mid)
}

/// Builds the subtree over the rows `index` of `points` (tree positions `base..`)
/// sequentially, appending its nodes to `out` in pre-order; returns its root's id in
/// `out`.
fn build_node(
    points: &[f64],
    index: &mut [usize],
    base: usize,
    d: usize,
    s: &mut Scratch,
    out: &mut Subtree,
) -> usize {
    let id = out.nodes.len();
    if let Some(mid) = split_node(points, index, base, d, s, out) {
        let (li, ri) = index.split_at_mut(mid);
        let left = build_node(points, li, base, d, s, out);
        let right = build_node(points, ri, base + mid, d, s, out);
        out.nodes[id].left = left;
        out.nodes[id].right = right;
    }
    id
}

impl KdTree {
    /// Builds the tree over the rows of `x` (checked: at least one row and one column,
    /// finite values).
    pub fn build(x: ArrayView2<f64>) -> Self {
        Self::from_rows(&row_major(x), x.ncols())
    }

    /// Builds the tree over `src` (`rows × dim`, row-major), whose rows it copies in tree
    /// order, its nodes split and bounded in the rows' principal axes ([`Axes`]). The
    /// two halves of a large node are built in parallel.
    pub fn from_rows(src: &[f64], dim: usize) -> Self {
        let n = src.len().checked_div(dim).unwrap_or(0);
        let mut index: Vec<usize> = (0..n).collect();
        let mut sub = Subtree::default();
        let (axes, mut points) = Axes::of(src, dim);
        if n > 0 && dim > 0 {
            sub = build_subtree(&points, &mut index, 0, dim);
            // The turned rows are not needed again: their space takes the own rows in
            // tree order.
            points
                .par_chunks_mut(dim)
                .zip(index.par_iter())
                .for_each(|(p, &i)| p.copy_from_slice(&src[i * dim..(i + 1) * dim]));
        }
        KdTree {
            dim,
            points,
            index,
            nodes: sub.nodes,
            bounds: sub.bounds,
            axes,
            leaf_cols: Vec::new(),
        }
    }

    /// Turns the query `q` (own coordinates) for the tree's boxes.
    #[inline(always)]
    fn aim(&self, q: &[f64], p: &mut Probe) {
        p.r = self.axes.turn(q, &mut p.at).sqrt();
    }

    /// A floor of the squared distance from the query of `p` to every point under `node`.
    #[inline(always)]
    fn floor_to(&self, node: usize, p: &Probe) -> f64 {
        self.axes.floor(self.box_dist2(node, &p.at), p.r)
    }

    /// A squared box distance `b` (from [`KdTree::box_dist2`] with a turned point of the
    /// tree, or [`KdTree::box_box_dist2`]) lowered to a floor of the squared distances
    /// between the tree's own points it bounds.
    #[inline(always)]
    pub fn floor(&self, b: f64) -> f64 {
        self.axes.floor(b, self.axes.radius)
    }

    /// A tree read from a file, with its axes restored: its radius measured on its
    /// points, and whether its boxes bound what the searches take them to bound (a search
    /// must be able to trust them): a node's children cover its positions in two runs,
    /// each child's box lies within its parent's, the two children's boxes are apart
    /// along some axis (a point outside a node lies beyond one of its faces), and each
    /// leaf's box holds its points as turned.
    fn restore_boxes(&mut self) -> bool {
        let d = self.dim;
        let (turned, radius) = self.axes.turn_all(&self.points);
        self.axes.radius = radius;
        let lo = |n: usize| self.corners(n).0;
        let hi = |n: usize| self.corners(n).1;
        let within = |inner: usize, outer: usize| {
            (0..d).all(|j| lo(outer)[j] <= lo(inner)[j] && hi(inner)[j] <= hi(outer)[j])
        };
        self.nodes
            .iter()
            .enumerate()
            .all(|(id, n)| match self.children(id) {
                Some((l, r)) => {
                    let (nl, nr) = (&self.nodes[l], &self.nodes[r]);
                    nl.start == n.start
                        && nl.end == nr.start
                        && nr.end == n.end
                        && within(l, id)
                        && within(r, id)
                        && (0..d).any(|j| hi(l)[j] <= lo(r)[j] || hi(r)[j] <= lo(l)[j])
                }
                None => (n.start..n.end).all(|pos| {
                    let t = &turned[pos * d..(pos + 1) * d];
                    (0..d).all(|j| lo(id)[j] <= t[j] && t[j] <= hi(id)[j])
                }),
            })
    }

    /// Every point turned as the boxes are ([`Axes`]), in tree order, row-major.
    pub fn turned_points(&self) -> Vec<f64> {
        self.axes.turn_all(&self.points).0
    }

    /// The tree with a second copy of its points, leaf by leaf column-major, which
    /// k-nearest-neighbour searches scan several times faster; worth its memory where
    /// searches are many (the detectors' and UMAP's neighbour graphs).
    pub fn with_leaf_columns(mut self) -> Self {
        let dim = self.dim;
        let mut cols = vec![0.0; self.points.len()];
        for node in self.nodes.iter().filter(|n| n.left == NO_CHILD) {
            let at = node.start * dim..node.end * dim;
            by_coordinate_into(&self.points[at.clone()], dim, &mut cols[at]);
        }
        self.leaf_cols = cols;
        self
    }

    /// The dimension to split a node on: the one with the widest interquartile range, or
    /// the widest range if every interquartile range is 0. On a large node the quartiles
    /// are those of every `stride`-th point (from `SPLIT_SAMPLE` to twice as many points):
    /// this only chooses the dimension; the split itself stays at the median.
    ///
    /// The classic rule (widest range, as scikit-learn's `KDTree`) is led astray by
    /// conn-log features: a column that is one value on almost every row and far off on a
    /// few has the widest range, and splitting it at the median separates nothing, so
    /// queries scan many times more points. The interquartile range is the spread where
    /// the median split cuts.
    fn split_dim(
        points: &[f64],
        index: &[usize],
        d: usize,
        lo: &[f64],
        hi: &[f64],
        col: &mut Vec<f64>,
    ) -> usize {
        let n = index.len();
        let stride = (n / SPLIT_SAMPLE).max(1);
        let m = n.div_ceil(stride);
        let mut best = (0, 0.0);
        for j in 0..d {
            col.clear();
            col.extend(index.iter().step_by(stride).map(|&i| points[i * d + j]));
            let (_, &mut q1, above) = col.select_nth_unstable_by(m / 4, f64::total_cmp);
            // The third quartile is among the values above the first (m > 24: see the
            // caller).
            let q3 = *above
                .select_nth_unstable_by(3 * m / 4 - m / 4 - 1, f64::total_cmp)
                .1;
            if q3 - q1 > best.1 {
                best = (j, q3 - q1);
            }
        }
        if best.1 > 0.0 {
            return best.0;
        }
        let mut widest = (0, f64::NEG_INFINITY);
        for j in 0..d {
            if hi[j] - lo[j] > widest.1 {
                widest = (j, hi[j] - lo[j]);
            }
        }
        widest.0
    }

    /// Coordinates per point.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of points in the tree.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Number of nodes. Node 0 is the root, and a node's children have larger ids than the
    /// node itself, so walking the ids backwards visits children before parents.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The two children of `node`, or `None` for a leaf.
    pub fn children(&self, node: usize) -> Option<(usize, usize)> {
        let n = &self.nodes[node];
        (n.left != NO_CHILD).then_some((n.left, n.right))
    }

    /// The tree positions covered by `node`.
    pub fn positions(&self, node: usize) -> std::ops::Range<usize> {
        self.nodes[node].start..self.nodes[node].end
    }

    /// The point stored at tree position `pos`.
    pub fn point_at(&self, pos: usize) -> &[f64] {
        &self.points[pos * self.dim..(pos + 1) * self.dim]
    }

    /// The lower and upper corners of the box of `node`.
    #[inline(always)]
    fn corners(&self, node: usize) -> (&[f64], &[f64]) {
        let d = self.dim;
        self.bounds[2 * d * node..2 * d * (node + 1)].split_at(d)
    }

    /// Squared distance from `q` to the bounding box of `node`.
    #[inline(always)]
    pub fn box_dist2(&self, node: usize, q: &[f64]) -> f64 {
        let d = self.dim;
        let (lo, hi) = self.corners(node);
        // Branch-free: at most one of the two gaps is positive.
        lane_sum(d, |j| {
            let g = (lo[j] - q[j]).max(0.0) + (q[j] - hi[j]).max(0.0);
            g * g
        })
    }

    /// Squared distance between the bounding boxes of nodes `a` and `b` (a floor for the
    /// distance from any point under one to any point under the other).
    pub fn box_box_dist2(&self, a: usize, b: usize) -> f64 {
        let d = self.dim;
        let ((alo, ahi), (blo, bhi)) = (self.corners(a), self.corners(b));
        lane_sum(d, |j| {
            let g = (blo[j] - ahi[j]).max(0.0) + (alo[j] - bhi[j]).max(0.0);
            g * g
        })
    }

    /// Walks the subtree of `root` for query `q` (`p` aimed at it), nearer child first,
    /// handing the points of a leaf nearer than its bound to `found`
    /// ([`KdTree::scan_leaf`]) and skipping subtrees whose box's floor is not strictly
    /// nearer than the bound (checked when the walk reaches them, as a recursive walk
    /// would). A loop over `stack` (scratch space)
    /// rather than a recursion, so that it can be inlined into code compiled for wider
    /// instructions.
    #[inline(always)]
    fn search(
        &self,
        root: usize,
        q: &[f64],
        p: &Probe,
        found: &mut impl Candidates,
        stack: &mut Vec<(usize, f64)>,
    ) {
        // Subtrees still to walk with their box distances, nearer child on top.
        stack.clear();
        stack.push((root, f64::NEG_INFINITY));
        while let Some((node, floor)) = stack.pop() {
            if floor >= found.bound() {
                continue;
            }
            let n = &self.nodes[node];
            if n.left == NO_CHILD {
                self.scan_leaf(n, q, found);
                continue;
            }
            let dl = self.floor_to(n.left, p);
            let dr = self.floor_to(n.right, p);
            if dl <= dr {
                stack.extend([(n.right, dr), (n.left, dl)]);
            } else {
                stack.extend([(n.left, dl), (n.right, dr)]);
            }
        }
    }

    /// Hands every point of leaf `n` nearer than its bound to `found`.
    #[inline(always)]
    fn scan_leaf(&self, n: &Node, q: &[f64], found: &mut impl Candidates) {
        if self.leaf_cols.is_empty() {
            let d = self.dim;
            for pos in n.start..n.end {
                let d2 = sq_dist(q, &self.points[pos * d..(pos + 1) * d]);
                if d2 < found.bound() {
                    found.offer(d2, self.index[pos]);
                }
            }
            return;
        }
        let d = self.dim;
        let m = n.end - n.start;
        let block = &self.leaf_cols[n.start * d..n.end * d];
        // The squared distances to the leaf's points, coordinate by coordinate in the
        // lanes of `lane_sum` (coordinate j in lane j % 4), so each equals `sq_dist`:
        // `sq_dists_to`'s arithmetic, written out here so that the last pass also marks
        // which points are nearer than the bound on entering the leaf (measured 3-7%
        // faster on the neighbour searches than a pass of its own).
        let mut lanes = [[0.0f64; LEAF_SIZE]; 4];
        for (j, col) in block.chunks_exact(m).enumerate() {
            let qj = q[j];
            let lane = &mut lanes[j % 4][..m];
            if j < 4 {
                // The first term of a lane (0 + t is t).
                for (acc, &v) in lane.iter_mut().zip(col) {
                    *acc = (v - qj) * (v - qj);
                }
            } else {
                for (acc, &v) in lane.iter_mut().zip(col) {
                    *acc += (v - qj) * (v - qj);
                }
            }
        }
        // The near points as a bit mask computed without a branch: whether a point is
        // near follows no pattern a branch predictor could learn, and most are not. The
        // bound only shrinks, so the points left out cannot enter; those in are checked
        // again against the current bound.
        let [l0, l1, l2, l3] = &lanes;
        let mut d2s = [0.0f64; LEAF_SIZE];
        let bound = found.bound();
        let mut near: u32 = 0;
        for (i, ((((a, b), c), e), d2)) in l0
            .iter()
            .zip(l1)
            .zip(l2)
            .zip(l3)
            .zip(&mut d2s[..m])
            .enumerate()
        {
            *d2 = (a + b) + (c + e);
            near |= u32::from(*d2 < bound) << i;
        }
        let index = &self.index[n.start..n.end];
        while near != 0 {
            let i = near.trailing_zeros() as usize;
            near &= near - 1;
            if d2s[i] < found.bound() {
                found.offer(d2s[i], index[i]);
            }
        }
    }

    /// `search` over the queries (`rows × dim`, row-major) put in the order of the
    /// leaves they fall in (down the tree, into the nearer child's box at each node),
    /// with its neighbourhoods given back in the queries' order. Searches one after
    /// another then walk the same part of the tree and find it in cache, where queries
    /// in the order of a log's rows jump across it; each query's neighbours are the same
    /// in any order. A few queries are searched as they are.
    fn in_leaf_order(
        &self,
        queries: &[f64],
        k: usize,
        search: impl FnOnce(&[f64]) -> Result<Neighbourhoods, Cancelled>,
    ) -> Result<Neighbourhoods, Cancelled> {
        let d = self.dim;
        let rows = queries.len().checked_div(d).unwrap_or(0);
        if rows < LEAF_ORDER_MIN || self.nodes.is_empty() {
            return search(queries);
        }
        let leaf: Vec<usize> = (0..rows)
            .into_par_iter()
            .with_min_len(CHUNK)
            .map_init(
                || Probe::new(d),
                |p, i| {
                    let q = &queries[i * d..(i + 1) * d];
                    self.aim(q, p);
                    let q = &p.at;
                    let mut node = 0;
                    while let Some((l, r)) = self.children(node) {
                        node = if self.box_dist2(l, q) <= self.box_dist2(r, q) {
                            l
                        } else {
                            r
                        };
                    }
                    // Leaves are numbered in tree order by their first position.
                    self.nodes[node].start
                },
            )
            .collect();
        let mut order: Vec<usize> = (0..rows).collect();
        order.par_sort_by_key(|&i| leaf[i]);
        drop(leaf);
        let mut sorted = Vec::with_capacity(queries.len());
        for &i in &order {
            sorted.extend_from_slice(&queries[i * d..(i + 1) * d]);
        }
        let found = search(&sorted)?;
        drop(sorted);
        let mut dist = vec![0.0; rows * k];
        let mut idx = vec![0usize; rows * k];
        for (j, &i) in order.iter().enumerate() {
            dist[i * k..(i + 1) * k].copy_from_slice(found.dist_of(j));
            idx[i * k..(i + 1) * k].copy_from_slice(found.idx_of(j));
        }
        Ok(Neighbourhoods { k, dist, idx })
    }

    /// The parent of every node (the root's is [`NO_CHILD`]) and the leaf holding every
    /// tree position.
    fn parents_and_leaves(&self) -> (Vec<usize>, Vec<usize>) {
        let mut parent = vec![NO_CHILD; self.nodes.len()];
        let mut leaf = vec![0; self.len()];
        for (id, n) in self.nodes.iter().enumerate() {
            if n.left == NO_CHILD {
                leaf[n.start..n.end].fill(id);
            } else {
                parent[n.left] = id;
                parent[n.right] = id;
            }
        }
        (parent, leaf)
    }

    /// Whether `q` lies inside the box of `node` and every point outside the node is at a
    /// squared distance of at least `bound` from it. A point outside a node lies beyond
    /// one face of its box (every ancestor split at a median put it on the other side),
    /// so its turned distance to a `q` inside the box is at least `q`'s gap to that face,
    /// and its own squared distance at least the gap's square lowered by [`Axes::floor`].
    #[inline(always)]
    fn ball_inside(&self, node: usize, p: &Probe, bound: f64) -> bool {
        let (lo, hi) = self.corners(node);
        let q = &p.at;
        (0..self.dim).all(|j| {
            let (a, b) = (q[j] - lo[j], hi[j] - q[j]);
            a >= 0.0
                && b >= 0.0
                && self.axes.floor(a * a, p.r) >= bound
                && self.axes.floor(b * b, p.r) >= bound
        })
    }

    /// The search of [`KdTree::search`] for `q`, a point of leaf `leaf`, from the leaf up:
    /// the leaf, then at each level the sibling subtree unless its box is too far, until
    /// the current bound lies inside the node reached (nothing outside can enter). A
    /// search from the root computes two boxes per level down to the leaf and checks
    /// every level again on the way back; a query's neighbours are mostly in or near its
    /// own leaf.
    #[inline(always)]
    fn climb_search(
        &self,
        leaf: usize,
        parent: &[usize],
        q: &[f64],
        p: &Probe,
        found: &mut impl Candidates,
        stack: &mut Vec<(usize, f64)>,
    ) {
        self.scan_leaf(&self.nodes[leaf], q, found);
        let mut node = leaf;
        while parent[node] != NO_CHILD {
            if self.ball_inside(node, p, found.bound()) {
                return;
            }
            let up = &self.nodes[parent[node]];
            let sibling = if up.left == node { up.right } else { up.left };
            if self.floor_to(sibling, p) < found.bound() {
                self.search(sibling, q, p, found, stack);
            }
            node = parent[node];
        }
    }

    /// The `k` nearest tree points of every row of `queries` (`rows × dim`, row-major), in
    /// parallel. With `exclude_self`, `queries` must be the training rows in their original
    /// order and a row is not its own neighbour (scikit-learn's `kneighbors()` without `X`:
    /// `k + 1` are searched, then the row itself is dropped, or the farthest one if the row
    /// is hidden among duplicates). `k` must be at most `len()` (`len() - 1` with
    /// `exclude_self`).
    pub fn kneighbors(
        &self,
        queries: &[f64],
        k: usize,
        exclude_self: bool,
        cancel: &Cancel,
    ) -> Result<Neighbourhoods, Cancelled> {
        if exclude_self {
            return self.kneighbors_in_order(queries, k, true, cancel);
        }
        self.in_leaf_order(queries, k, |q| {
            self.kneighbors_in_order(q, k, false, cancel)
        })
    }

    /// [`KdTree::kneighbors`], the queries searched in the order given.
    fn kneighbors_in_order(
        &self,
        queries: &[f64],
        k: usize,
        exclude_self: bool,
        cancel: &Cancel,
    ) -> Result<Neighbourhoods, Cancelled> {
        let d = self.dim;
        let rows = queries.len().checked_div(d).unwrap_or(0);
        let mut dist = vec![0.0; rows * k];
        let mut idx = vec![0usize; rows * k];
        if k == 0 || rows == 0 {
            return Ok(Neighbourhoods { k, dist, idx });
        }
        dist.par_chunks_mut(CHUNK * k)
            .zip(idx.par_chunks_mut(CHUNK * k))
            .enumerate()
            .try_for_each(|(c, (dchunk, ichunk))| {
                cancel.check()?;
                let first = c * CHUNK;
                kneighbors_chunk(self, queries, k, exclude_self, first, dchunk, ichunk);
                Ok(())
            })?;
        Ok(Neighbourhoods { k, dist, idx })
    }

    /// The `k` neighbours of the queries `first..` into `dchunk` / `ichunk` (see
    /// [`KdTree::kneighbors`]: one more is searched with `exclude_self`).
    #[inline(always)]
    fn kneighbors_chunk_in(
        &self,
        queries: &[f64],
        k: usize,
        exclude_self: bool,
        first: usize,
        dchunk: &mut [f64],
        ichunk: &mut [usize],
    ) {
        let d = self.dim;
        let mut best = Best::new(k + usize::from(exclude_self));
        let mut stack = Vec::with_capacity(64);
        let mut probe = Probe::new(d);
        for (r, (drow, irow)) in dchunk
            .chunks_exact_mut(k)
            .zip(ichunk.chunks_exact_mut(k))
            .enumerate()
        {
            let row = first + r;
            best.clear();
            if !self.nodes.is_empty() {
                let q = &queries[row * d..(row + 1) * d];
                self.aim(q, &mut probe);
                self.search(0, q, &probe, &mut best, &mut stack);
            }
            if exclude_self {
                let drop = best
                    .items
                    .iter()
                    .position(|&(_, i)| i == row)
                    .unwrap_or(best.items.len().saturating_sub(1));
                if drop < best.items.len() {
                    best.items.remove(drop);
                }
            }
            let got = best.items.len().min(k);
            for ((dist, id), &(d2, i)) in drow.iter_mut().zip(irow.iter_mut()).zip(&best.items) {
                *dist = d2.sqrt();
                *id = i;
            }
            fill_short_row(drow, irow, got);
        }
    }
}

/// Fills the slots of a neighbour row after its first `got` (fewer than asked, not
/// reachable with a valid `k`) with the farthest found, or with 0 if none was, so that
/// the row stays well formed.
fn fill_short_row(drow: &mut [f64], irow: &mut [usize], got: usize) {
    let (fill_d, fill_i) = match got {
        0 => (0.0, 0),
        _ => (drow[got - 1], irow[got - 1]),
    };
    drow[got..].fill(fill_d);
    irow[got..].fill(fill_i);
}

wide_fn! {
    /// [`KdTree::kneighbors_chunk_in`], for AVX2 where the processor has it.
    fn kneighbors_chunk(
        t: &KdTree,
        queries: &[f64],
        k: usize,
        exclude_self: bool,
        first: usize,
        dchunk: &mut [f64],
        ichunk: &mut [usize],
    ) => KdTree::kneighbors_chunk_in
}

/// Hashes rows by the bit patterns of their values: each 64-bit word goes through
/// SplitMix64's finaliser (Steele, Lea, Flood 2014), so that rows differing only in low
/// mantissa bits, or only in high ones, still spread over the table.
#[derive(Default)]
struct RowHasher(u64);

impl Hasher for RowHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        let mut z = (self.0 ^ word).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

/// A row compared by the bit patterns of its values (so `0.0` and `-0.0` differ, which
/// only costs a missed merge: they are still at distance 0 from each other).
struct RowKey<'a>(&'a [f64]);

impl Hash for RowKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0 {
            state.write_u64(v.to_bits());
        }
    }
}

impl PartialEq for RowKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for RowKey<'_> {}

/// The hash [`distinct_among`] gives a row, and whether two rows are the same there (bit
/// for bit), for callers that find distinct rows a block at a time.
pub(crate) fn row_hash(row: &[f64]) -> u64 {
    let mut h = RowHasher::default();
    RowKey(row).hash(&mut h);
    h.finish()
}

/// Whether rows `a` and `b` are the same bit for bit (as [`distinct_among`] compares them).
pub(crate) fn same_row(a: &[f64], b: &[f64]) -> bool {
    RowKey(a) == RowKey(b)
}

/// Hash shards of [`distinct_among`], built in parallel (a power of two).
const SHARDS: usize = 64;

/// The distinct rows among the rows `rows` of `x` (compared bit for bit), numbered in
/// order of first occurrence in `rows`: the first row of each, and for each entry of
/// `rows` the number of its distinct row.
pub(crate) fn distinct_among(x: ArrayView2<f64>, rows: &[usize]) -> (Vec<usize>, Vec<u32>) {
    let flat = row_major(x);
    let d = x.ncols();
    let row = |i: usize| &flat[i * d..(i + 1) * d];
    let hashes: Vec<u64> = rows
        .par_iter()
        .with_min_len(1 << 12)
        .map(|&i| {
            let mut h = RowHasher::default();
            RowKey(row(i)).hash(&mut h);
            h.finish()
        })
        .collect();
    // The entries of each shard (top bits of the hash), in order; each shard's table is
    // built on its own thread.
    let shard = |h: u64| (h >> (64 - SHARDS.trailing_zeros())) as usize;
    let mut start = vec![0usize; SHARDS + 1];
    for &h in &hashes {
        start[shard(h) + 1] += 1;
    }
    for s in 0..SHARDS {
        start[s + 1] += start[s];
    }
    let mut next = start.clone();
    let mut by_shard = vec![0u32; rows.len()];
    for (j, &h) in hashes.iter().enumerate() {
        let s = shard(h);
        by_shard[next[s]] = j as u32;
        next[s] += 1;
    }
    let tables: Vec<(Vec<u32>, Vec<u32>)> = (0..SHARDS)
        .into_par_iter()
        .map(|s| {
            let entries = &by_shard[start[s]..start[s + 1]];
            let mut ids: HashMap<Hashed, u32, BuildHasherDefault<RowHasher>> =
                HashMap::with_capacity_and_hasher(entries.len(), BuildHasherDefault::default());
            let mut first = Vec::new();
            let local = entries
                .iter()
                .map(|&j| {
                    let key = Hashed {
                        hash: hashes[j as usize],
                        row: RowKey(row(rows[j as usize])),
                    };
                    *ids.entry(key).or_insert_with(|| {
                        first.push(j);
                        (first.len() - 1) as u32
                    })
                })
                .collect();
            (first, local)
        })
        .collect();
    // Numbered shard by shard, then renumbered by first occurrence (a shard's entries are
    // in order, so each distinct row's first entry is its first occurrence).
    let mut first_at: Vec<u32> = Vec::new();
    let mut of = vec![0u32; rows.len()];
    for (s, (f, local)) in tables.into_iter().enumerate() {
        let base = first_at.len() as u32;
        for (&j, l) in by_shard[start[s]..start[s + 1]].iter().zip(local) {
            of[j as usize] = base + l;
        }
        first_at.extend(f);
    }
    let mut order: Vec<u32> = (0..first_at.len() as u32).collect();
    order.sort_unstable_by_key(|&id| first_at[id as usize]);
    let mut renumber = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        renumber[old as usize] = new as u32;
    }
    of.iter_mut().for_each(|o| *o = renumber[*o as usize]);
    let first = order
        .iter()
        .map(|&id| rows[first_at[id as usize] as usize])
        .collect();
    (first, of)
}

/// A row with its hash computed beforehand.
#[derive(PartialEq, Eq)]
struct Hashed<'a> {
    hash: u64,
    row: RowKey<'a>,
}

impl Hash for Hashed<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The distinct rows of a matrix, in order of first occurrence, with multiplicities.
/// Conn-log matrices repeat rows a lot (scans, retries: about half the rows of a real
/// log are copies), and every neighbour query answered once per distinct row is one
/// saved.
#[derive(Debug, Clone)]
pub(crate) struct DistinctRows {
    /// Values per row.
    pub dim: usize,
    /// The distinct rows, row-major.
    pub points: Vec<f64>,
    /// How many input rows equal each distinct row.
    pub count: Vec<usize>,
    /// The distinct row of each input row.
    pub of_row: Vec<usize>,
}

impl DistinctRows {
    /// Collapses identical rows of `x`.
    pub fn of(x: ArrayView2<f64>) -> Self {
        let all: Vec<usize> = (0..x.nrows()).collect();
        let (first, of) = distinct_among(x, &all);
        let mut count = vec![0usize; first.len()];
        for &o in &of {
            count[o as usize] += 1;
        }
        let dim = x.ncols();
        let flat = row_major(x);
        let mut points = Vec::with_capacity(first.len() * dim);
        for &i in &first {
            points.extend_from_slice(&flat[i * dim..(i + 1) * dim]);
        }
        Self {
            dim,
            points,
            count,
            of_row: of.into_iter().map(|o| o as usize).collect(),
        }
    }

    /// Number of distinct rows.
    pub fn len(&self) -> usize {
        self.count.len()
    }

    /// Copies one value per distinct row back to every input row.
    pub fn expand<T: Copy>(&self, per_distinct: &[T]) -> Vec<T> {
        self.of_row.iter().map(|&d| per_distinct[d]).collect()
    }
}

/// The best candidates of a query on a [`CountedTree`]: (squared distance, distinct
/// point, multiplicity), ascending. Only as many entries are kept as it takes for the
/// multiplicities to reach `k`. Rows and multiplicities are kept as `u32` (16-byte entries
/// move faster): distinct rows are numbered in `u32` (see [`distinct_among`]).
struct CountedBest {
    k: usize,
    items: Vec<(f64, u32, u32)>,
    total: usize,
    /// Squared distance a candidate must beat (strictly) to enter.
    bound: f64,
}

impl CountedBest {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
            total: 0,
            bound: f64::INFINITY,
        }
    }

    fn clear(&mut self) {
        self.items.clear();
        self.total = 0;
        self.bound = f64::INFINITY;
    }

    #[inline]
    fn push(&mut self, d2: f64, id: usize, count: usize) {
        if count == 0 || d2 >= self.bound {
            return;
        }
        if count == 1 && self.total >= self.k && self.items.last().is_some_and(|e| e.2 == 1) {
            // The usual case once the list is full: the entries before the farthest
            // count fewer than `k` copies (the loop below keeps it so) and it has one,
            // so they count `k - 1` and the total is `k`; the new row, nearer, takes the
            // farthest one's place and the total stays.
            replace_last_sorted(&mut self.items, (d2, id as u32, 1), |e| e.0);
            self.bound = self.items[self.items.len() - 1].0;
            return;
        }
        insert_sorted(&mut self.items, (d2, id as u32, count as u32), |e| e.0);
        self.total += count;
        while let Some(&(_, _, last)) = self.items.last() {
            let last = last as usize;
            if self.total - last < self.k {
                break;
            }
            self.total -= last;
            self.items.pop();
        }
        if self.total >= self.k {
            self.bound = self.items.last().map_or(f64::INFINITY, |e| e.0);
        }
    }
}

/// A walk of a [`CountedTree`]'s tree for one query: each distinct row reached counts
/// its copies, one fewer for the query's own distinct row `own`.
struct Counted<'a> {
    best: &'a mut CountedBest,
    count: &'a [usize],
    own: usize,
}

impl Candidates for Counted<'_> {
    #[inline]
    fn bound(&self) -> f64 {
        self.best.bound
    }
    #[inline]
    fn offer(&mut self, d2: f64, id: usize) {
        let copies = self.count[id] - usize::from(id == self.own);
        self.best.push(d2, id, copies);
    }
}

/// A k-d tree over the distinct rows of a training matrix, each counting as many
/// neighbours as it has copies. Answers the same k-nearest-neighbour distances as a
/// [`KdTree`] over all rows, with a tree and a leaf scan over the distinct rows only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CountedTree {
    tree: KdTree,
    /// Multiplicity of each distinct row; a distinct row's id is its tree position.
    count: Vec<usize>,
    /// Training rows in all.
    rows: usize,
}

impl CountedTree {
    /// Builds the tree over the distinct rows of `x`; returns it with the map from
    /// training rows to distinct rows.
    ///
    /// Distinct rows are numbered by their position in the tree, so that results in
    /// tree order are results by distinct row.
    pub fn build(x: ArrayView2<f64>) -> (Self, Vec<usize>) {
        let mut distinct = DistinctRows::of(x);
        let tree = KdTree::from_rows(&distinct.points, distinct.dim);
        // The tree holds the points now.
        distinct.points = Vec::new();
        let mut tree = tree.with_leaf_columns();
        let mut pos_of = vec![0; tree.len()];
        for (pos, &id) in tree.index.iter().enumerate() {
            pos_of[id] = pos;
        }
        let count = tree.index.iter().map(|&id| distinct.count[id]).collect();
        let of_row = distinct.of_row.iter().map(|&id| pos_of[id]).collect();
        tree.index = (0..tree.len()).collect();
        let counted = Self {
            tree,
            count,
            rows: x.nrows(),
        };
        (counted, of_row)
    }

    /// Number of training rows (copies counted).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// The saved tree of a neighbour detector fitted on `cols` columns with `k`
    /// neighbours, checked against `columns` features (see [`CountedTree::restore`]).
    pub fn restore_fitted(
        tree: Option<Self>,
        cols: Option<usize>,
        k: usize,
        columns: usize,
    ) -> Result<Self, String> {
        use crate::detect::ensure;
        let tree = tree.ok_or("not fitted")?.restore(columns)?;
        ensure(cols == Some(columns), "columns")?;
        ensure(k >= 1 && k <= tree.len(), "neighbours")?;
        Ok(tree)
    }

    /// A saved tree, checked to be one a search can walk (see
    /// [`crate::detect::Saved::restore`]), with its leaf columns made again.
    pub fn restore(self, columns: usize) -> Result<Self, String> {
        use crate::detect::ensure;
        let t = &self.tree;
        let n = t.index.len();
        ensure(t.dim == columns && columns > 0, "tree columns")?;
        ensure(n > 0 && t.points.len() == n * t.dim, "tree points")?;
        ensure(t.index.iter().all(|&i| i < n), "tree index")?;
        ensure(t.bounds.len() == t.nodes.len() * 2 * t.dim, "tree bounds")?;
        // Children come after their parent (as the tree is built), so a walk ends.
        ensure(
            t.nodes.iter().enumerate().all(|(i, nd)| {
                nd.start <= nd.end
                    && nd.end <= n
                    && ((nd.left == NO_CHILD && nd.right == NO_CHILD)
                        || (nd.left > i
                            && nd.right > i
                            && nd.left < t.nodes.len()
                            && nd.right < t.nodes.len()))
            }),
            "tree nodes",
        )?;
        ensure(
            !t.nodes.is_empty() && t.nodes[0].start == 0 && t.nodes[0].end == n,
            "tree root",
        )?;
        ensure(
            self.count.len() == n && self.count.iter().all(|&c| c > 0),
            "row counts",
        )?;
        ensure(
            self.count.iter().try_fold(0usize, |a, &c| a.checked_add(c)) == Some(self.rows),
            "row total",
        )?;
        let CountedTree {
            mut tree,
            count,
            rows,
        } = self;
        tree.axes = tree.axes.restored(columns)?;
        ensure(tree.restore_boxes(), "tree bounds")?;
        Ok(CountedTree {
            tree: tree.with_leaf_columns(),
            count,
            rows,
        })
    }

    /// Number of distinct training rows; their ids are `0..distinct_len()`.
    pub fn distinct_len(&self) -> usize {
        self.count.len()
    }

    /// The tree over the distinct rows, a distinct row's id being its tree position.
    pub fn tree(&self) -> &KdTree {
        &self.tree
    }

    /// The `k` nearest training rows of each query (`rows × dim`, row-major), in
    /// parallel: distances, and the distinct training rows they are copies of (a distinct
    /// row appears once per copy used). `k` must be at most `len()`.
    pub fn kneighbors(
        &self,
        queries: &[f64],
        k: usize,
        cancel: &Cancel,
    ) -> Result<Neighbourhoods, Cancelled> {
        self.tree.in_leaf_order(queries, k, |q| {
            let rows = q.len().checked_div(self.tree.dim).unwrap_or(0);
            self.neighbourhoods(rows, k, cancel, Queries::Rows(q))
        })
    }

    /// The `k` nearest neighbours of each distinct training row among the other training
    /// rows, by distinct-row id: a row is not its own neighbour, but its copies are (as
    /// scikit-learn's `kneighbors()` without `X`), so its own distinct row counts one copy
    /// less. `k` must be at most `len() - 1`.
    ///
    /// The queries run in tree order, so that consecutive queries walk the same branches.
    pub fn kneighbors_self(&self, k: usize, cancel: &Cancel) -> Result<Neighbourhoods, Cancelled> {
        let (parent, leaf) = self.tree.parents_and_leaves();
        let queries = Queries::Own {
            parent: &parent,
            leaf: &leaf,
        };
        self.neighbourhoods(self.tree.len(), k, cancel, queries)
    }

    /// Runs `rows` queries.
    fn neighbourhoods(
        &self,
        rows: usize,
        k: usize,
        cancel: &Cancel,
        queries: Queries,
    ) -> Result<Neighbourhoods, Cancelled> {
        let mut dist = vec![0.0; rows * k];
        let mut idx = vec![0usize; rows * k];
        if k == 0 || rows == 0 || self.tree.nodes.is_empty() {
            return Ok(Neighbourhoods { k, dist, idx });
        }
        dist.par_chunks_mut(CHUNK * k)
            .zip(idx.par_chunks_mut(CHUNK * k))
            .enumerate()
            .try_for_each(|(c, (dchunk, ichunk))| {
                cancel.check()?;
                counted_chunk(self, k, queries, c * CHUNK, dchunk, ichunk);
                Ok(())
            })?;
        Ok(Neighbourhoods { k, dist, idx })
    }

    /// The neighbours of the queries `first..` into `drows` / `irows` (`k` per query).
    #[inline(always)]
    fn counted_chunk_in(
        &self,
        k: usize,
        queries: Queries,
        first: usize,
        drows: &mut [f64],
        irows: &mut [usize],
    ) {
        let d = self.tree.dim;
        let mut best = CountedBest::new(k);
        let mut stack = Vec::with_capacity(64);
        let mut probe = Probe::new(d);
        for (r, (drow, irow)) in drows
            .chunks_exact_mut(k)
            .zip(irows.chunks_exact_mut(k))
            .enumerate()
        {
            let q = first + r;
            best.clear();
            // A distinct row's id is its tree position: an own query does not count itself.
            let own = match queries {
                Queries::Rows(_) => NO_CHILD,
                Queries::Own { .. } => q,
            };
            let mut found = Counted {
                best: &mut best,
                count: &self.count,
                own,
            };
            match queries {
                Queries::Rows(rows) => {
                    let point = &rows[q * d..(q + 1) * d];
                    self.tree.aim(point, &mut probe);
                    self.tree.search(0, point, &probe, &mut found, &mut stack);
                }
                Queries::Own { parent, leaf } => {
                    let point = self.tree.point_at(q);
                    self.tree.aim(point, &mut probe);
                    self.tree
                        .climb_search(leaf[q], parent, point, &probe, &mut found, &mut stack);
                }
            }
            let mut j = 0;
            for &(d2, id, m) in &best.items {
                let dist = d2.sqrt();
                for _ in 0..(m as usize).min(k - j) {
                    drow[j] = dist;
                    irow[j] = id as usize;
                    j += 1;
                }
            }
            fill_short_row(drow, irow, j);
        }
    }
}

/// The queries of a [`CountedTree`] search.
#[derive(Clone, Copy)]
enum Queries<'a> {
    /// Rows × dim, row-major.
    Rows(&'a [f64]),
    /// The tree's own distinct rows, in tree order, each starting from its leaf
    /// (`leaf`) and climbing (`parent`).
    Own {
        parent: &'a [usize],
        leaf: &'a [usize],
    },
}

wide_fn! {
    /// [`CountedTree::counted_chunk_in`], for AVX2 where the processor has it.
    fn counted_chunk(
        t: &CountedTree,
        k: usize,
        queries: Queries,
        first: usize,
        drows: &mut [f64],
        irows: &mut [usize],
    ) => CountedTree::counted_chunk_in
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Rows of a 2-D latent factor spread over `d` correlated columns (as bytes, packets
    /// and IP bytes rise together), in groups far apart with tiny spreads inside, some
    /// rows repeated, far from the origin.
    pub(crate) fn correlated(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mix: Vec<[f64; 2]> = (0..d)
            .map(|_| [rng.gen::<f64>(), rng.gen::<f64>()])
            .collect();
        let mut x = Array2::zeros((n, d));
        let mut last = vec![0.0; d];
        for i in 0..n {
            if i % 7 == 3 {
                x.row_mut(i).assign(&ndarray::ArrayView1::from(&last[..]));
                continue;
            }
            let group = (i % 5) as f64 * 1e4;
            let tiny = if i % 2 == 0 { 1e-7 } else { 1.0 };
            let (u, v) = (group + rng.gen::<f64>() * tiny, rng.gen::<f64>() * tiny);
            for (j, m) in mix.iter().enumerate() {
                x[[i, j]] = 1e6 + m[0] * u + m[1] * v + rng.gen::<f64>() * 1e-9;
                last[j] = x[[i, j]];
            }
        }
        x
    }

    /// Every box floor of a tree drawn in its rows' principal axes is at most every
    /// distance it bounds, from the tree's own rows and from queries anywhere (near, far
    /// off, beyond the rows' range), and a ball found inside a node holds no row outside
    /// it: correlated rows far from the origin, rows at the scale of raw byte counts, one
    /// column. It fails with the floors' margins set to zero: the rounding is real.
    #[test]
    fn turned_floors_stay_below_the_distances_they_bound() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let bytes = Array2::from_shape_fn((500, 6), |(i, j)| {
            let base = (i % 7) as f64 * 1e9;
            base * (1.0 + j as f64) + rng.gen::<f64>() * 1e3
        });
        // Spread at 1e-149 (its covariance still a normal number) with pairs 1.5e-162
        // apart, whose squared distances fall below the normal numbers.
        let minute = Array2::from_shape_fn((300, 4), |(i, j)| {
            let v = ((i / 2) as f64 * 0.37 + j as f64).sin() * 1e-149;
            if i % 2 == 1 {
                v + 1.5e-162
            } else {
                v
            }
        });
        let cases = [
            correlated(900, 8, 1),
            correlated(400, 13, 2),
            correlated(300, 3, 3),
            correlated(200, 1, 4),
            bytes,
            minute,
        ];
        for x in cases {
            let (n, d) = x.dim();
            let rows = to_row_major(x.view());
            let tree = KdTree::from_rows(&rows, d);
            let turned = tree.turned_points();
            let mut queries: Vec<f64> = (0..n).step_by(7).flat_map(|i| x.row(i).to_vec()).collect();
            // Between rows, far outside them, and a hair off a row (on the minute rows, an
            // own squared distance below the normal numbers; elsewhere the row itself).
            for i in (0..n).step_by(11) {
                let j = (i * 7 + 3) % n;
                queries.extend(x.row(i).iter().zip(x.row(j)).map(|(a, b)| (a + b) / 2.0));
                queries.extend(x.row(i).iter().map(|v| v * -3.0 + 1e3));
            }
            for i in 0..n {
                queries.extend(x.row(i).iter().map(|v| v + 1.5e-162));
            }
            let mut p = Probe::new(d);
            let (mut checked, mut balls) = (0, 0);
            for q in queries.chunks_exact(d) {
                tree.aim(q, &mut p);
                for node in 0..tree.node_count() {
                    let floor = tree.floor_to(node, &p);
                    for pos in tree.positions(node) {
                        let dist = sq_dist(q, tree.point_at(pos));
                        assert!(floor <= dist, "node {node}: {floor} > {dist}");
                        checked += 1;
                    }
                    // The largest bound (a power of ten) the node's ball is found within.
                    let Some(bound) = (-320..40)
                        .map(|e| 10f64.powi(e))
                        .take_while(|&b| tree.ball_inside(node, &p, b))
                        .last()
                    else {
                        continue;
                    };
                    for pos in (0..tree.len()).filter(|pos| !tree.positions(node).contains(pos)) {
                        let dist = sq_dist(q, tree.point_at(pos));
                        assert!(dist >= bound, "outside {node}: {dist} < {bound}");
                        balls += 1;
                    }
                }
            }
            for a in 0..tree.node_count() {
                for b in (0..tree.node_count()).step_by(5) {
                    let floor = tree.floor(tree.box_box_dist2(a, b));
                    for p in tree.positions(a).step_by(3) {
                        for q in tree.positions(b).step_by(3) {
                            let dist = sq_dist(tree.point_at(q), tree.point_at(p));
                            assert!(floor <= dist, "{a}, {b}: {floor} > {dist}");
                        }
                    }
                }
                for pos in tree.positions(a) {
                    let q = &turned[pos * d..(pos + 1) * d];
                    let floor = tree.floor(tree.box_dist2(a, q));
                    assert!(floor <= 0.0, "a row's own node is at distance 0");
                }
            }
            assert!(checked > 10_000, "{checked} pairs checked");
            assert!(balls > 1_000, "{balls} rows outside a ball checked");
        }
        // Rows on a diagonal, small multiples of 2⁻²⁵⁶ (their mean exactly 0, so a query
        // near the origin turns without being absorbed), and queries a hair beyond the
        // origin's row along it: their own squared distance to that row rounds to 0 (each
        // term below half the smallest subnormal), their turned distance to a box whose
        // face the row is on to a subnormal above 0, where rounding is no longer relative.
        let step = 2f64.powi(-256);
        let line: Vec<f64> = (-50..=50).flat_map(|k| [k as f64 * step; 2]).collect();
        let tree = KdTree::from_rows(&line, 2);
        let origin = (0..tree.len())
            .find(|&pos| tree.point_at(pos) == [0.0, 0.0])
            .unwrap();
        let mut p = Probe::new(2);
        let mut beyond = 0;
        for q in [[-1.5e-162, -1.5e-162], [1.5e-162, 1.5e-162]] {
            tree.aim(&q, &mut p);
            assert_eq!(sq_dist(&q, tree.point_at(origin)), 0.0);
            for node in (0..tree.node_count()).filter(|&n| tree.positions(n).contains(&origin)) {
                beyond += usize::from(tree.box_dist2(node, &p.at) > 0.0);
                assert!(tree.floor_to(node, &p) <= 0.0, "node {node}");
            }
        }
        assert!(beyond > 0, "a box the origin's row is on the face of");
    }

    /// Many queries are searched in leaf order: each gets the neighbours it gets
    /// searched alone, in its own place, as a scan of every point finds them.
    #[test]
    fn queries_in_leaf_order_find_what_they_find_alone() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let x = Array2::from_shape_fn((1500, 5), |_| (rng.gen::<f64>() * 8.0).round());
        let q = Array2::from_shape_fn((3 * LEAF_ORDER_MIN, 5), |_| rng.gen::<f64>() * 9.0);
        let flat = row_major(q.view());
        let c = Cancel::new();
        let tree = KdTree::build(x.view()).with_leaf_columns();
        let sorted = tree.kneighbors(&flat, 7, false, &c).unwrap();
        let alone = tree.kneighbors_in_order(&flat, 7, false, &c).unwrap();
        assert_eq!((&sorted.dist, &sorted.idx), (&alone.dist, &alone.idx));
        for (i, row) in q.outer_iter().enumerate().step_by(97) {
            let mut all: Vec<f64> = x
                .outer_iter()
                .map(|p| sq_dist(p.as_slice().unwrap(), row.as_slice().unwrap()).sqrt())
                .collect();
            all.sort_by(f64::total_cmp);
            assert_eq!(sorted.dist_of(i), &all[..7], "query {i}");
        }
        let (counted, _) = CountedTree::build(x.view());
        let sorted = counted.kneighbors(&flat, 7, &c).unwrap();
        let rows = flat.len() / 5;
        let alone = counted
            .neighbourhoods(rows, 7, &c, Queries::Rows(&flat))
            .unwrap();
        assert_eq!((&sorted.dist, &sorted.idx), (&alone.dist, &alone.idx));
    }

    #[test]
    fn a_saved_tree_is_checked_before_it_is_searched() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let x = Array2::from_shape_fn((500, 3), |_| rng.gen::<f64>());
        let (tree, _) = CountedTree::build(x.view());
        let q = [1.0, 2.0, 3.0];
        let want = tree.kneighbors(&q, 5, &Cancel::new()).unwrap().dist;
        let back = tree.clone().restore(3).unwrap();
        assert_eq!(back.kneighbors(&q, 5, &Cancel::new()).unwrap().dist, want);
        assert!(tree.clone().restore(4).is_err());
        // A child that points back up (a walk would never end), a node past the points,
        // counts that do not add up.
        let mut cycle = tree.clone();
        let parent = cycle
            .tree
            .nodes
            .iter()
            .position(|n| n.left != NO_CHILD)
            .unwrap();
        let child = cycle.tree.nodes[parent].left;
        cycle.tree.nodes[child].left = parent;
        cycle.tree.nodes[child].right = parent;
        assert!(cycle.restore(3).is_err());
        let mut past = tree.clone();
        past.tree.nodes[1].end = past.tree.index.len() + 1;
        assert!(past.restore(3).is_err());
        let mut counts = tree.clone();
        counts.count[0] += 1;
        assert!(counts.restore(3).is_err());
        // Boxes that do not hold their points: a leaf's box shrunk, the axes turned
        // otherwise (two swapped: still orthonormal, but not the boxes' axes).
        let mut shrunk = tree.clone();
        let leaf = shrunk
            .tree
            .nodes
            .iter()
            .position(|n| n.left == NO_CHILD)
            .unwrap();
        shrunk.tree.bounds[2 * 3 * leaf + 3] -= 1e-9;
        assert!(shrunk.restore(3).is_err());
        let mut swapped = tree.clone();
        swapped.tree.axes.axes.swap(0, 3);
        swapped.tree.axes.axes.swap(1, 4);
        swapped.tree.axes.axes.swap(2, 5);
        assert!(swapped.restore(3).is_err());
        // The radius is measured again, not read: a saved one counts for nothing.
        let mut small = tree;
        small.tree.axes.radius = 0.0;
        assert_eq!(
            small.restore(3).unwrap().tree.axes.radius,
            back.tree.axes.radius
        );
    }

    #[test]
    fn distances_in_lanes_equal_row_distances() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        for d in 1..=9 {
            for m in [1, 5, 32, 33, 70] {
                let points: Vec<f64> = (0..m * d).map(|_| rng.gen::<f64>() * 1e3 - 5e2).collect();
                let q: Vec<f64> = (0..d).map(|_| rng.gen::<f64>()).collect();
                let mut out = vec![f64::NAN; m];
                sq_dists_to(&by_coordinate(&points, d), &q, &mut out);
                for (i, p) in points.chunks_exact(d).enumerate() {
                    assert_eq!(
                        out[i].to_bits(),
                        sq_dist(p, &q).to_bits(),
                        "d {d} m {m} i {i}"
                    );
                }
            }
        }
    }

    fn brute(x: &Array2<f64>, q: &[f64], k: usize) -> Vec<f64> {
        let mut d: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| sq_dist(&r.to_vec(), q).sqrt())
            .collect();
        d.sort_by(f64::total_cmp);
        d.truncate(k);
        d
    }

    #[test]
    fn large_trees_are_well_formed_and_exact() {
        // Enough rows for the halves of the top nodes to be built in parallel, with
        // coarse values on one column (ties on split values) and a few far rows.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let n = 3 * PAR_BUILD;
        let x = Array2::<f64>::from_shape_fn((n, 4), |(i, j)| match j {
            0 => f64::from(rng.gen_range(0..6u8)),
            _ if i % 997 == 0 => 50.0 + rng.gen::<f64>(),
            _ => rng.gen::<f64>(),
        });
        let tree = KdTree::build(x.view());
        let d = 4;
        let turned = tree.turned_points();
        let mut seen = vec![false; n];
        for id in 0..tree.node_count() {
            let r = tree.positions(id);
            let (lo, hi) = tree.corners(id);
            for pos in r.clone() {
                // The boxes hold the points as turned; the tree keeps their own values.
                let t = &turned[pos * d..(pos + 1) * d];
                assert!((0..d).all(|j| lo[j] <= t[j] && t[j] <= hi[j]));
                let p = tree.point_at(pos);
                assert_eq!(p, x.row(tree.index[pos]).as_slice().unwrap());
            }
            match tree.children(id) {
                Some((l, rt)) => {
                    assert!(l > id && rt > id);
                    assert_eq!(tree.positions(l).start, r.start);
                    assert_eq!(tree.positions(l).end, tree.positions(rt).start);
                    assert_eq!(tree.positions(rt).end, r.end);
                }
                None => {
                    assert!(r.len() <= LEAF_SIZE);
                    for pos in r {
                        assert!(!seen[tree.index[pos]]);
                        seen[tree.index[pos]] = true;
                    }
                }
            }
        }
        assert!(seen.iter().all(|&v| v));
        // Searches from a row's own leaf up give the distances of a brute-force search, on
        // these rows and on continuous ones (where the climb stops below the root).
        let smooth = Array2::<f64>::from_shape_fn((n, 3), |_| rng.gen::<f64>());
        for x in [x, smooth] {
            let (counted, of_row) = CountedTree::build(x.view());
            for k in [1, 5, 20] {
                let nb = counted.kneighbors_self(k, &Cancel::new()).unwrap();
                for i in (0..n).step_by(41) {
                    let q = x.row(i).to_vec();
                    let mut all: Vec<f64> = (0..n)
                        .filter(|&j| j != i)
                        .map(|j| sq_dist(&q, x.row(j).as_slice().unwrap()).sqrt())
                        .collect();
                    all.sort_by(f64::total_cmp);
                    assert_eq!(nb.dist_of(of_row[i]), &all[..k], "row {i}, k {k}");
                }
            }
        }
    }

    #[test]
    fn counted_tree_matches_all_rows() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        // Values from a small set: most rows have copies, some many.
        let x = Array2::<f64>::from_shape_fn((900, 3), |(i, _)| {
            if i % 5 == 0 {
                0.25
            } else {
                f64::from(rng.gen_range(0..4u8)) / 3.0
            }
        });
        let rows = to_row_major(x.view());
        let full = KdTree::build(x.view());
        let (tree, of_row) = CountedTree::build(x.view());
        let distinct = DistinctRows::of(x.view());
        assert_eq!(tree.len(), 900);
        assert!(tree.distinct_len() <= 65);
        // The same grouping as `DistinctRows`, numbered by tree position: each id holds
        // its rows' values and counts them.
        assert_eq!(tree.distinct_len(), distinct.len());
        for (i, &id) in of_row.iter().enumerate() {
            assert_eq!(tree.tree.point_at(id), &rows[i * 3..i * 3 + 3]);
        }
        for id in 0..tree.distinct_len() {
            assert_eq!(tree.count[id], of_row.iter().filter(|&&o| o == id).count());
        }
        for k in [1, 5, 20] {
            let want = full.kneighbors(&rows, k, true, &Cancel::new()).unwrap();
            let got = tree.kneighbors_self(k, &Cancel::new()).unwrap();
            for i in 0..900 {
                let own = of_row[i];
                assert_eq!(got.dist_of(own), want.dist_of(i), "row {i}, k {k}");
                for (&d, &j) in got.dist_of(own).iter().zip(got.idx_of(own)) {
                    let p = tree.tree.point_at(j);
                    assert_eq!(sq_dist(&rows[i * 3..i * 3 + 3], p).sqrt(), d);
                }
                // No distinct row is used more often than it has copies (one fewer for
                // the row's own).
                for &j in got.idx_of(own) {
                    let used = got.idx_of(own).iter().filter(|&&v| v == j).count();
                    assert!(used + usize::from(j == own) <= tree.count[j]);
                }
            }
            let q: Vec<f64> = (0..40 * 3).map(|_| rng.gen::<f64>()).collect();
            let want = full.kneighbors(&q, k, false, &Cancel::new()).unwrap();
            let got = tree.kneighbors(&q, k, &Cancel::new()).unwrap();
            assert_eq!(got.dist, want.dist);
            let got = tree
                .kneighbors(&distinct.points, k, &Cancel::new())
                .unwrap();
            assert!((0..distinct.len()).all(|i| got.dist_of(i)[0] == 0.0));
        }
        // Every row identical: k neighbours at distance 0, from the one distinct row.
        let same = Array2::from_elem((30, 2), 1.5);
        let (tree, _) = CountedTree::build(same.view());
        let nb = tree.kneighbors_self(29, &Cancel::new()).unwrap();
        assert!(nb.dist.iter().all(|&d| d == 0.0) && nb.idx.iter().all(|&i| i == 0));
    }

    #[test]
    fn distinct_among_groups_exactly_the_equal_rows() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let x = Array2::<f64>::from_shape_fn((5000, 2), |_| f64::from(rng.gen_range(0..40u8)));
        let rows: Vec<usize> = (0..5000).filter(|i| i % 3 != 0).collect();
        let (first, of) = distinct_among(x.view(), &rows);
        assert_eq!(of.len(), rows.len());
        let mut seen = std::collections::HashSet::new();
        for (j, &i) in rows.iter().enumerate() {
            let f = first[of[j] as usize];
            assert_eq!(x.row(f), x.row(i), "entry {j}");
            seen.insert((x[[i, 0]] as u8, x[[i, 1]] as u8));
        }
        assert_eq!(first.len(), seen.len(), "one entry per distinct row");
        assert!(
            first.windows(2).all(|w| w[0] < w[1]),
            "numbered by first occurrence"
        );
        for (j, &i) in rows.iter().enumerate() {
            assert!(
                first[of[j] as usize] <= i,
                "entry {j} comes after its first"
            );
        }
        assert_eq!(
            distinct_among(x.view(), &rows),
            (first, of),
            "deterministic"
        );
    }

    #[test]
    fn matches_brute_force() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut x = Array2::<f64>::zeros((700, 3));
        for (i, v) in x.iter_mut().enumerate() {
            // Some exact duplicates, some spread.
            *v = if i % 7 == 0 { 0.5 } else { rng.gen::<f64>() };
        }
        let q = to_row_major(x.view());
        let plain = KdTree::build(x.view());
        // The leaf scans over columns give the very distances of the scans over rows.
        let columns = KdTree::build(x.view()).with_leaf_columns();
        assert!(columns.leaf_cols.len() == q.len() && plain.leaf_cols.is_empty());
        for tree in [plain, columns] {
            let nb = tree.kneighbors(&q, 6, false, &Cancel::new()).unwrap();
            for i in 0..x.nrows() {
                let want = brute(&x, &q[i * 3..i * 3 + 3], 6);
                assert_eq!(nb.dist_of(i), &want[..]);
            }
            let nb = tree.kneighbors(&q, 5, true, &Cancel::new()).unwrap();
            for i in 0..x.nrows() {
                assert!(!nb.idx_of(i).contains(&i));
                let want = brute(&x, &q[i * 3..i * 3 + 3], 6);
                assert_eq!(nb.dist_of(i), &want[1..]);
            }
        }
    }
}
