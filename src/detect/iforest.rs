//! Isolation Forest: Liu, Ting, Zhou, "Isolation Forest", IEEE ICDM 2008. Follows
//! scikit-learn's `sklearn.ensemble.IsolationForest` (which PyOD's `IForest` wraps) with
//! its defaults: 100 trees, each grown on `min(256, n)` rows drawn without replacement,
//! to a depth of at most `ceil(log2(max_samples))`, splitting on a random non-constant
//! feature at a threshold drawn uniformly between its minimum and maximum in the node.

use ndarray::{s, ArrayView2};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input, input};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "iforest";

/// scikit-learn's `FEATURE_THRESHOLD`: a feature whose range within a node is at most this
/// is treated as constant there and not split on.
const FEATURE_THRESHOLD: f64 = 1e-7;

/// Isolation Forest detector (Liu, Ting & Zhou 2008), as scikit-learn's
/// `IsolationForest(n_estimators=100, max_samples='auto', max_features=1.0,
/// bootstrap=False)`.
///
/// A row scores `2^(−E[h(x)] / c(max_samples))`, where `h` is the depth of the leaf the
/// row reaches in a tree plus `c(leaf size)`, and `c(m) = 2 H(m − 1) − 2 (m − 1) / m` is
/// the average path length of an unsuccessful search in a binary search tree. Higher is
/// more anomalous; PyOD's `decision_scores_` is this score shifted by a constant (the
/// contamination offset), so the ranks are the same. As scikit-learn, values are compared
/// in single precision.
///
/// Tree `i` draws from its own generator seeded from `(seed, i)`, so the forest and the
/// scores do not depend on the number of threads that build and score it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IForest {
    /// Number of trees (default 100).
    pub n_estimators: usize,
    /// Rows per tree, capped at the number of rows (default 256).
    pub max_samples: usize,
    /// Seed of the forest.
    pub seed: u64,
    trees: Vec<Tree>,
    n_features: usize,
    /// `c(max_samples)` of the fitted forest.
    norm: f64,
}

/// A node of a tree as it is grown. Rows with `x[feature] <= threshold` go to `left`,
/// the others to `right`; a leaf points to itself, and `path` is its path length
/// `depth + c(leaf size)`.
#[derive(Debug, Clone, Copy)]
struct Node {
    feature: u32,
    left: u32,
    right: u32,
    threshold: f64,
    path: f64,
}

/// Rows scored together, tree by tree: small enough that the rows stay in cache while
/// every tree walks them.
const SCORE_CHUNK: usize = 256;

/// A fitted tree, laid out as a complete binary tree of `depth` levels: internal node `i`
/// (breadth first) has children `2i + 1` and `2i + 2`, so a walk computes where it goes
/// instead of loading it. A leaf grown above the last level becomes a subtree whose
/// nodes send every row left (threshold +∞) and whose leaves all carry its path length.
/// Every walk takes exactly `depth` steps, without branching.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Tree {
    /// The internal nodes' splits, breadth first.
    split: Vec<Split>,
    /// Path length of each leaf of the last level, left to right.
    path: Vec<f64>,
    depth: usize,
    /// Columns of the rows it was grown on; every feature is below it.
    columns: usize,
    /// The first [`TOP`] levels as tables a vector walk looks up (see
    /// [`Tree::add_path_lengths`]); derived from `split`.
    #[serde(skip)]
    top: [TopLevel; TOP],
}

/// Levels of a tree walked in vector registers, where the processor has AVX2: level `l`
/// has `2^l` nodes, and 8 fit a register.
const TOP: usize = 4;

/// The nodes of one level of a tree, for a walk that looks a row's node up by its
/// position in the level.
#[derive(Debug, Clone, Copy, Default)]
struct TopLevel {
    /// Threshold of each node (position in the level).
    threshold: [f32; 8],
    /// Column offset of each node's feature (as [`Split::column`]).
    column: [u32; 8],
    /// The distinct column offsets of the level, `uses` of them.
    used: [u32; 8],
    uses: usize,
}

/// A laid-out internal node: one load gives a walk both the feature and the threshold.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Split {
    /// Single-precision threshold: the largest `f32` at or below the drawn threshold, so
    /// that an `f32` value is at or below it exactly when it is at or below the drawn one.
    threshold: f32,
    /// Where the feature's values of a group of rows start: `feature * LANES` (see
    /// [`Tree::add_path_lengths`]).
    column: u32,
}

/// The largest `f32` at or below `t`.
fn f32_at_or_below(t: f64) -> f32 {
    let f = t as f32;
    if f64::from(f) <= t {
        f
    } else if f == 0.0 {
        // Below zero: the negative value nearest zero.
        -f32::from_bits(1)
    } else if f > 0.0 {
        f32::from_bits(f.to_bits() - 1)
    } else {
        f32::from_bits(f.to_bits() + 1)
    }
}

/// Rows walked through a tree together, so that their independent node loads overlap
/// (16 measured faster than 8 and 32, and than 64 rows laid out row by row).
const LANES: usize = 16;

/// Euler–Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// scikit-learn's `_average_path_length`: `c(m)` for a leaf of `m` rows.
fn average_path_length(m: usize) -> f64 {
    match m {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let m = m as f64;
            2.0 * ((m - 1.0).ln() + EULER_GAMMA) - 2.0 * (m - 1.0) / m
        }
    }
}

/// Value as the trees see it: scikit-learn converts the input to `float32` (and refuses
/// values beyond its range; here they are held at its largest finite values, so that no
/// value or threshold is infinite).
#[inline]
fn single32(v: f64) -> f32 {
    v.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32
}

/// [`single32`] as a double.
#[inline]
fn single(v: f64) -> f64 {
    f64::from(single32(v))
}

/// A generator per tree, independent of the others and of the thread that uses it.
fn tree_rng(seed: u64, tree: usize) -> Xoshiro256PlusPlus {
    // SplitMix64 finaliser over (seed, tree) so nearby seeds give unrelated streams.
    let mut z = seed
        ^ (tree as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Xoshiro256PlusPlus::seed_from_u64(z ^ (z >> 31))
}

/// A tree being grown, node by node.
struct Growth {
    nodes: Vec<Node>,
    /// Depth of the deepest leaf.
    depth: usize,
}

impl Tree {
    /// Grows a tree on the rows `rows` of `x`.
    fn grow(x: &ArrayView2<f64>, rows: &mut [usize], max_depth: usize, rng: &mut impl Rng) -> Tree {
        let mut g = Growth {
            nodes: Vec::with_capacity(2 * rows.len()),
            depth: 0,
        };
        let mut features: Vec<usize> = (0..x.ncols()).collect();
        g.grow_node(x, rows, 0, max_depth, &mut features, rng);
        Tree::lay_out(&g, x.ncols())
    }

    /// The grown tree `g` (over rows of `columns` values) laid out level by level.
    fn lay_out(g: &Growth, columns: usize) -> Tree {
        let internal = (1usize << g.depth) - 1;
        let mut tree = Tree {
            split: vec![
                Split {
                    threshold: f32::INFINITY,
                    column: 0,
                };
                internal
            ],
            path: vec![0.0; internal + 1],
            depth: g.depth,
            columns,
            top: [TopLevel::default(); TOP],
        };
        tree.place(&g.nodes, 0, 0, 0);
        tree.index_top();
        tree
    }

    /// Fills the tables of the first levels from the splits.
    fn index_top(&mut self) {
        self.top = [TopLevel::default(); TOP];
        for (level, top) in self.top.iter_mut().enumerate().take(self.depth) {
            let first = (1 << level) - 1;
            for (p, node) in self.split[first..2 * first + 1].iter().enumerate() {
                top.threshold[p] = node.threshold;
                top.column[p] = node.column;
                if !top.used[..top.uses].contains(&node.column) {
                    top.used[top.uses] = node.column;
                    top.uses += 1;
                }
            }
        }
    }

    /// Checks a saved tree's shape against what the walks assume (every split inside the
    /// tree, every column below `columns`), and derives its tables.
    fn restore(mut self, columns: usize) -> Result<Self, String> {
        use super::ensure;
        // A tree of more than 2^32 nodes is not addressed by the walks' `u32` positions.
        ensure(self.depth < 32, "tree depth")?;
        let internal = (1usize << self.depth) - 1;
        ensure(self.split.len() == internal, "tree splits")?;
        ensure(self.path.len() == internal + 1, "tree leaves")?;
        ensure(self.columns == columns, "tree columns")?;
        ensure(
            self.split
                .iter()
                .all(|s| s.column as usize % LANES == 0 && (s.column as usize) < columns * LANES),
            "split columns",
        )?;
        self.index_top();
        Ok(self)
    }

    /// Lays grown node `node` out at position `pos` of level `level`.
    fn place(&mut self, grown: &[Node], node: u32, pos: usize, level: usize) {
        let n = &grown[node as usize];
        if level == self.depth {
            self.path[pos - self.split.len()] = n.path;
            return;
        }
        let (left, right) = if n.left == node {
            // A leaf above the last level: every row goes left, all leaves below it
            // carry its path length.
            (node, node)
        } else {
            assert!(
                (n.feature as usize) < self.columns,
                "a feature of the matrix"
            );
            self.split[pos] = Split {
                threshold: f32_at_or_below(n.threshold),
                column: u32::try_from(n.feature as usize * LANES).expect("a column offset"),
            };
            (n.left, n.right)
        };
        self.place(grown, left, 2 * pos + 1, level + 1);
        self.place(grown, right, 2 * pos + 2, level + 1);
    }
}

impl Growth {
    /// Grows the node holding `rows` at `depth`; returns its index.
    fn grow_node(
        &mut self,
        x: &ArrayView2<f64>,
        rows: &mut [usize],
        depth: usize,
        max_depth: usize,
        features: &mut [usize],
        rng: &mut impl Rng,
    ) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            feature: 0,
            left: id,
            right: id,
            threshold: f64::INFINITY,
            path: depth as f64 + average_path_length(rows.len()),
        });
        self.depth = self.depth.max(depth);
        if depth >= max_depth || rows.len() < 2 {
            return id;
        }
        // Draw features uniformly without replacement until one is not constant here.
        let mut remaining = features.len();
        let mut split = None;
        while remaining > 0 {
            let pick = rng.gen_range(0..remaining);
            let f = features[pick];
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &r in rows.iter() {
                let v = single(x[[r, f]]);
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi <= lo + FEATURE_THRESHOLD {
                features.swap(pick, remaining - 1);
                remaining -= 1;
                continue;
            }
            let mut t = rng.gen_range(lo..hi);
            if t >= hi {
                t = lo;
            }
            split = Some((f, t));
            break;
        }
        let Some((f, t)) = split else {
            return id;
        };
        // Partition: rows with x <= t first.
        let mut mid = 0;
        for i in 0..rows.len() {
            if single(x[[rows[i], f]]) <= t {
                rows.swap(i, mid);
                mid += 1;
            }
        }
        let (left_rows, right_rows) = rows.split_at_mut(mid);
        let left = self.grow_node(x, left_rows, depth + 1, max_depth, features, rng);
        let right = self.grow_node(x, right_rows, depth + 1, max_depth, features, rng);
        self.nodes[id as usize] = Node {
            feature: f as u32,
            left,
            right,
            threshold: t,
            path: 0.0,
        };
        id
    }
}

impl Tree {
    /// Adds the path length `h(x)` of every row of `groups` to `out`: groups of
    /// [`LANES`] rows of `d` single-precision values, each group column by column (value
    /// `f` of row `l` of a group at `f * LANES + l`).
    ///
    /// The rows of a group walk together, their positions held in registers, so that
    /// their independent loads overlap. Where the processor has AVX2, the first [`TOP`]
    /// levels are walked in vector lanes instead, each row's node looked up in a
    /// register-held table of its level (a gather instruction, the direct way, measured
    /// slower than scalar loads): the same comparisons, so the same leaves.
    fn add_path_lengths(&self, groups: &[f32], d: usize, out: &mut [f64]) {
        assert_eq!(
            groups.len(),
            out.len() * d,
            "one row of d values per output"
        );
        assert!(self.columns == d && d > 0, "rows of the tree's width");
        assert_eq!(out.len() % LANES, 0, "whole groups of rows");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, as just checked; the shapes are asserted.
            unsafe { self.add_path_lengths_avx2(groups, d, out) };
            return;
        }
        self.add_path_lengths_scalar(groups, d, out);
    }

    /// [`Tree::add_path_lengths`] without vector instructions (same asserts).
    fn add_path_lengths_scalar(&self, groups: &[f32], d: usize, out: &mut [f64]) {
        for (o, g) in out
            .chunks_exact_mut(LANES)
            .zip(groups.chunks_exact(LANES * d))
        {
            let mut at = [0u32; LANES];
            // SAFETY: every walk starts at the root (level 0); the shapes are asserted.
            unsafe { self.walk(g, &mut at, 0) };
            self.add_leaves(&at, o);
        }
    }

    /// Walks the rows of group `g` from level `from`, at the nodes `at`, to the last
    /// level.
    ///
    /// # Safety
    /// Every node of `at` must be a node of level `from` (`2^from - 1 ..= 2^(from+1) - 2`),
    /// `from <= depth`, and `g` must hold [`LANES`] rows of the tree's `columns` values.
    #[inline(always)]
    unsafe fn walk(&self, g: &[f32], at: &mut [u32; LANES], from: usize) {
        let split = &self.split[..];
        for _ in from..self.depth {
            for (l, i) in at.iter_mut().enumerate() {
                // SAFETY: a walk at a node of level s < depth (as `at` is on entry, and
                // stays after each step) is below `first_leaf = 2^depth - 1`, the length
                // of `split`; every feature is below `columns` (see `Tree::place`;
                // pass-through nodes keep column 0), so `column + l < LANES * columns`,
                // the length of `g`.
                let right = unsafe {
                    let s = split.get_unchecked(*i as usize);
                    *g.get_unchecked(s.column as usize + l) > s.threshold
                };
                *i = 2 * *i + 1 + u32::from(right);
            }
        }
    }

    /// Adds the path length of each leaf `at` (nodes of the last level) to `out`.
    #[inline(always)]
    fn add_leaves(&self, at: &[u32; LANES], out: &mut [f64]) {
        let first_leaf = self.split.len();
        for (o, &i) in out.iter_mut().zip(at) {
            *o += self.path[i as usize - first_leaf];
        }
    }

    /// [`Tree::add_path_lengths`] with its first levels in AVX2 lanes: eight rows per
    /// register, a level's thresholds and columns permuted into the rows' lanes, and each
    /// row's value picked among the columns the level uses.
    ///
    /// # Safety
    /// The processor must have AVX2, and the shapes must be those
    /// [`Tree::add_path_lengths`] asserts.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn add_path_lengths_avx2(&self, groups: &[f32], d: usize, out: &mut [f64]) {
        use std::arch::x86_64::*;
        /// `f32` lanes of an AVX2 register.
        const REG: usize = 8;
        const _: () = assert!(LANES % REG == 0);
        let top = self.depth.min(TOP);
        for (o, g) in out
            .chunks_exact_mut(LANES)
            .zip(groups.chunks_exact(LANES * d))
        {
            let mut at = [0u32; LANES];
            for (h, at) in at.chunks_exact_mut(REG).enumerate() {
                // SAFETY (for the loads): a column offset is `f * LANES` with `f < d`, so
                // `offset + h * REG + REG <= LANES * d`, the length of `g`.
                let lanes = g.as_ptr().add(h * REG);
                // Position of each row's node in its level.
                let mut pos = _mm256_setzero_si256();
                for level in &self.top[..top] {
                    let threshold =
                        _mm256_permutevar8x32_ps(_mm256_loadu_ps(level.threshold.as_ptr()), pos);
                    let column = _mm256_permutevar8x32_epi32(
                        _mm256_loadu_si256(level.column.as_ptr().cast()),
                        pos,
                    );
                    let mut value = _mm256_loadu_ps(lanes.add(level.used[0] as usize));
                    for &c in &level.used[1..level.uses] {
                        let here = _mm256_cmpeq_epi32(column, _mm256_set1_epi32(c as i32));
                        value = _mm256_blendv_ps(
                            value,
                            _mm256_loadu_ps(lanes.add(c as usize)),
                            _mm256_castsi256_ps(here),
                        );
                    }
                    // All ones (−1) where the row goes right: pos = 2 pos + right.
                    let right = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(value, threshold));
                    pos = _mm256_sub_epi32(_mm256_add_epi32(pos, pos), right);
                }
                // The node: its level starts at 2^top - 1.
                let node = _mm256_add_epi32(pos, _mm256_set1_epi32((1 << top) - 1));
                _mm256_storeu_si256(at.as_mut_ptr().cast(), node);
            }
            // SAFETY: the vector walk leaves every row at a node of level `top`.
            unsafe { self.walk(g, &mut at, top) };
            self.add_leaves(&at, o);
        }
    }
}

/// The rows of `x` in single precision, in groups of [`LANES`] rows laid out column by
/// column (as [`Tree::add_path_lengths`] reads them), the last group padded with zeros.
fn grouped(x: ArrayView2<f64>) -> Vec<f32> {
    let d = x.ncols();
    let mut groups = vec![0.0f32; x.nrows().div_ceil(LANES) * LANES * d];
    for (r, row) in x.outer_iter().enumerate() {
        let group = &mut groups[r / LANES * LANES * d..];
        for (f, &v) in row.iter().enumerate() {
            group[f * LANES + r % LANES] = single32(v);
        }
    }
    groups
}

impl Default for IForest {
    fn default() -> Self {
        Self::new(100, 256, 42)
    }
}

impl IForest {
    /// An unfitted forest of `n_estimators` trees on `max_samples` rows each, seeded.
    pub fn new(n_estimators: usize, max_samples: usize, seed: u64) -> Self {
        IForest {
            n_estimators,
            max_samples,
            seed,
            trees: Vec::new(),
            n_features: 0,
            norm: 1.0,
        }
    }

    /// A saved forest, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(mut self, columns: usize) -> Result<Self, String> {
        super::ensure(!self.trees.is_empty(), "no trees")?;
        super::ensure(self.n_features == columns, "columns")?;
        super::ensure(self.norm.is_finite(), "normaliser")?;
        self.trees = self
            .trees
            .into_iter()
            .map(|t| t.restore(columns))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    fn fitted_columns(&self) -> Option<usize> {
        if self.trees.is_empty() {
            None
        } else {
            Some(self.n_features)
        }
    }
}

impl Detector for IForest {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Grows the forest (trees in parallel) and returns the training scores, which are
    /// the scores of `score` on the training matrix, as in scikit-learn.
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.fit_model(x, cancel)?;
        self.score(x, cancel)
    }

    fn fit_model(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<bool, DetectError> {
        if self.n_estimators == 0 || self.max_samples < 2 {
            return Err(input(
                NAME,
                "needs at least one tree and max_samples >= 2".to_string(),
            ));
        }
        check_matrix(NAME, &x, 2)?;
        let n = x.nrows();
        let m = self.max_samples.min(n);
        let max_depth = (m as f64).log2().ceil() as usize;
        let trees: Result<Vec<Tree>, DetectError> = (0..self.n_estimators)
            .into_par_iter()
            .map(|i| {
                cancel.check()?;
                let mut rng = tree_rng(self.seed, i);
                let mut rows = sample(&mut rng, n, m).into_vec();
                Ok(Tree::grow(&x, &mut rows, max_depth, &mut rng))
            })
            .collect();
        self.trees = trees?;
        self.n_features = x.ncols();
        self.norm = average_path_length(m);
        Ok(true)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        check_score_input(NAME, self.fitted_columns(), &x)?;
        let d = x.ncols();
        let denom = self.trees.len() as f64 * self.norm;
        let mut out = vec![0.0; x.nrows()];
        out.par_chunks_mut(SCORE_CHUNK).enumerate().try_for_each(
            |(c, chunk)| -> Result<(), DetectError> {
                cancel.check()?;
                // Copy the chunk's rows once, grouped, then walk tree by tree so each
                // tree's nodes stay in cache.
                let start = c * SCORE_CHUNK;
                let groups = grouped(x.slice(s![start..start + chunk.len(), ..]));
                let padded = groups.len() / d;
                let mut paths = vec![0.0; padded];
                for tree in &self.trees {
                    tree.add_path_lengths(&groups, d, &mut paths);
                }
                for (o, p) in chunk.iter_mut().zip(paths) {
                    *o = (-p / denom).exp2();
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn save(&self) -> super::Saved {
        super::Saved::IForest(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::input::testdata::{argmax, cloud_with_outlier};
    use ndarray::{array, Array2};

    #[test]
    fn path_length_normaliser() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // c(256) = 2 (ln 255 + γ) − 2 · 255 / 256
        assert!((average_path_length(256) - 10.244_770_920_631_823).abs() < 1e-9);
    }

    #[test]
    fn values_beyond_single_precision_do_not_break_the_trees() {
        let mut x = cloud_with_outlier(300, 2, 5);
        x[[7, 0]] = 1e300;
        x[[8, 0]] = -1e300;
        x[[9, 1]] = f64::MAX;
        let mut d = IForest::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1.0));
        assert_eq!(s, d.score(x.view(), &Cancel::new()).unwrap());
    }

    #[test]
    fn laid_out_tree_walks_as_grown() {
        // Root: x0 <= 0.5 goes to a leaf at depth 1; else x1 <= 2 splits into two leaves
        // at depth 2.
        let leaf = |id: u32, path: f64| Node {
            feature: 0,
            left: id,
            right: id,
            threshold: f64::INFINITY,
            path,
        };
        let g = Growth {
            nodes: vec![
                Node {
                    feature: 0,
                    left: 1,
                    right: 2,
                    threshold: 0.5,
                    path: 0.0,
                },
                leaf(1, 10.0),
                Node {
                    feature: 1,
                    left: 3,
                    right: 4,
                    threshold: 2.0,
                    path: 0.0,
                },
                leaf(3, 20.0),
                leaf(4, 30.0),
            ],
            depth: 2,
        };
        let tree = Tree::lay_out(&g, 2);
        let rows = array![[0.2, 9.0], [0.5, -1.0], [0.7, 1.0], [0.7, 2.0], [0.7, 3.0]];
        let groups = grouped(rows.view());
        let mut out = vec![1.0; groups.len() / 2];
        tree.add_path_lengths(&groups, 2, &mut out);
        assert_eq!(out[..5], [11.0, 11.0, 21.0, 21.0, 31.0]);
        let mut scalar = vec![1.0; groups.len() / 2];
        tree.add_path_lengths_scalar(&groups, 2, &mut scalar);
        assert_eq!(out, scalar);
    }

    #[test]
    fn vector_walk_reaches_the_leaves_of_the_scalar_walk() {
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
        // Trees of 0 to 8 levels of splits (fewer than the vector part walks, and more),
        // on 1 to 20 columns, some of them of few distinct values (pass-through nodes).
        for (d, samples) in [
            (1, 256),
            (3, 2),
            (3, 4),
            (3, 9),
            (7, 256),
            (20, 256),
            (5, 40),
            (4, 0),
        ] {
            // `samples` 0: a constant matrix, whose trees are a single leaf.
            let (constant, samples) = (samples == 0, samples.max(2));
            let x = Array2::from_shape_fn((700, d), |(_, j)| {
                if constant {
                    1.0
                } else if j % 2 == 1 {
                    f64::from(rng.gen_range(0..3u8))
                } else {
                    rng.gen::<f64>() * 10.0 - 5.0
                }
            });
            let mut f = IForest::new(20, samples, 3);
            f.fit_model(x.view(), &Cancel::new()).unwrap();
            let groups = grouped(x.view());
            for tree in &f.trees {
                let mut vector = vec![0.0; groups.len() / d];
                let mut scalar = vec![0.0; groups.len() / d];
                tree.add_path_lengths(&groups, d, &mut vector);
                tree.add_path_lengths_scalar(&groups, d, &mut scalar);
                assert_eq!(vector, scalar, "d {d}, depth {}", tree.depth);
            }
        }
    }

    #[test]
    fn single_precision_thresholds_split_as_the_drawn_ones() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        for _ in 0..10_000 {
            let t: f64 = rng.gen_range(-1e6..1e6) * rng.gen::<f64>().powi(8);
            let r = f32_at_or_below(t);
            // The f32 values around r, in order (bit steps away from zero and back).
            let step = |v: f32, up: bool| {
                let b = v.to_bits() as i64 + if (v >= 0.0) == up { 1 } else { -1 };
                f32::from_bits(b as u32)
            };
            let above = step(r, true);
            assert!(f64::from(r) <= t && f64::from(above) > t, "{t} {r}");
            // Every f32 value near t falls on the same side of both.
            for v in [step(r, false), r, above, step(above, true)] {
                assert_eq!(f64::from(v) <= t, v <= r, "{t} {v}");
            }
        }
        assert_eq!(f32_at_or_below(0.5), 0.5);
        // 0.1f32 is just above 0.1; -0.1f32 just below -0.1.
        assert_eq!(f32_at_or_below(0.1), f32::from_bits(0.1f32.to_bits() - 1));
        assert_eq!(f32_at_or_below(-0.1), -0.1f32);
        assert_eq!(f32_at_or_below(-1e-300), -f32::from_bits(1));
    }

    #[test]
    fn a_saved_forest_is_checked_before_it_walks() {
        let x = cloud_with_outlier(300, 3, 1);
        let mut f = IForest::default();
        let want = f.fit(x.view(), &Cancel::new()).unwrap();
        let back = f.clone().restore(3).unwrap();
        assert_eq!(back.score(x.view(), &Cancel::new()).unwrap(), want);
        // Fewer features than the model's; a split on a column past the last feature; a
        // tree with a level missing.
        assert!(f.clone().restore(2).is_err());
        let mut beyond = f.clone();
        beyond.trees[3].split[0].column = (3 * LANES) as u32;
        assert!(beyond.restore(3).is_err());
        let mut short = f.clone();
        short.trees[0].path.pop();
        assert!(short.restore(3).is_err());
        let mut deep = f;
        deep.trees[1].depth += 1;
        assert!(deep.restore(3).is_err());
    }

    #[test]
    fn far_point_scores_highest() {
        let x = cloud_with_outlier(1000, 3, 1);
        let mut d = IForest::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 999);
        assert!(s.iter().all(|&v| v > 0.0 && v < 1.0));
    }

    #[test]
    fn constant_column_and_identical_rows() {
        let mut x = cloud_with_outlier(300, 3, 2);
        x.column_mut(1).fill(3.0);
        let mut d = IForest::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert_eq!(argmax(&s), 299);
        let same = Array2::from_elem((50, 3), 1.5);
        let s = IForest::default().fit(same.view(), &Cancel::new()).unwrap();
        // Nothing to split: every row sits in the root leaf of 50 rows.
        assert!(s.iter().all(|&v| (v - 0.5).abs() < 1e-12));
    }

    #[test]
    fn fit_and_score_agree() {
        let x = cloud_with_outlier(600, 4, 3);
        let mut d = IForest::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(s, d.score(x.view(), &Cancel::new()).unwrap());
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = IForest::default();
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((1, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((3, 0)).view(), &c).is_err());
        assert!(d.fit(array![[1.0], [f64::NAN]].view(), &c).is_err());
        d.fit(Array2::zeros((5, 2)).view(), &c).unwrap();
        assert!(d.score(Array2::zeros((2, 3)).view(), &c).is_err());
        c.cancel();
        assert_eq!(
            d.fit(Array2::zeros((5, 2)).view(), &c),
            Err(DetectError::Cancelled)
        );
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let x = cloud_with_outlier(3000, 3, 4);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| IForest::new(50, 256, 7).fit(x.view(), &Cancel::new()))
                .unwrap()
        };
        let a = run(1);
        assert_eq!(a, run(2));
        assert_eq!(a, run(3));
        let other = IForest::new(50, 256, 8)
            .fit(x.view(), &Cancel::new())
            .unwrap();
        assert_ne!(a, other);
    }
}
