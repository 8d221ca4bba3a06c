//! Exact Euclidean k-nearest-neighbour search for the neighbour-based detectors (KNN,
//! LOF), the UMAP neighbour graph and HDBSCAN's core distances and spanning tree: a k-d tree (Bentley 1975) with a bounding box per node, split at the median of the
//! widest dimension, queried in parallel with rayon.
//!
//! The tree owns a copy of the points, so a fitted detector can keep it for scoring new
//! rows. Ties are cheap: a subtree is skipped unless its box is *strictly* closer than the
//! current k-th neighbour, so thousands of identical rows do not turn a query into a scan.
//! Among neighbours at equal distance, which ones are returned is unspecified (as in
//! scikit-learn); the distances are exact.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::cancel::{Cancel, Cancelled};
use crate::detect::DetectError;

/// Points per leaf.
const LEAF_SIZE: usize = 24;
/// Query rows handled between two cancellation checks.
const CHUNK: usize = 512;
/// Marks a leaf in [`Node::left`].
const NO_CHILD: usize = usize::MAX;

/// Checks that `x` has rows and columns and holds only finite numbers.
pub(crate) fn check_matrix(detector: &'static str, x: ArrayView2<f64>) -> Result<(), DetectError> {
    if x.nrows() == 0 {
        return Err(DetectError::Input {
            detector,
            reason: "no rows to work on".into(),
        });
    }
    if x.ncols() == 0 {
        return Err(DetectError::Input {
            detector,
            reason: "no feature columns".into(),
        });
    }
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(DetectError::Input {
            detector,
            reason: format!("value {v} at row {r}, column {c} is not a finite number"),
        });
    }
    Ok(())
}

/// Checks that `x` can be scored by a model fitted on `fitted_cols` columns.
pub(crate) fn check_score_input(
    detector: &'static str,
    fitted_cols: Option<usize>,
    x: ArrayView2<f64>,
) -> Result<(), DetectError> {
    let Some(cols) = fitted_cols else {
        return Err(DetectError::State {
            detector,
            reason: "score called before fit".into(),
        });
    };
    if x.ncols() != cols {
        return Err(DetectError::State {
            detector,
            reason: format!("fitted on {cols} columns, asked to score {}", x.ncols()),
        });
    }
    if x.nrows() == 0 {
        return Ok(());
    }
    check_matrix(detector, x)
}

/// Copies `x` into a row-major vector.
pub(crate) fn to_row_major(x: ArrayView2<f64>) -> Vec<f64> {
    x.as_standard_layout().iter().copied().collect()
}

#[derive(Debug, Clone)]
struct Node {
    /// Range of tree positions covered by the node.
    start: usize,
    end: usize,
    /// Child nodes, or [`NO_CHILD`] for a leaf.
    left: usize,
    right: usize,
}

/// A k-d tree over owned points.
#[derive(Debug, Clone)]
pub(crate) struct KdTree {
    dim: usize,
    /// Points in tree order, row-major.
    points: Vec<f64>,
    /// Original row of each tree position.
    index: Vec<usize>,
    nodes: Vec<Node>,
    /// Per node: lower corner then upper corner of its bounding box.
    bounds: Vec<f64>,
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
    /// Distances to the neighbours of row `i`, nearest first.
    pub fn dist_of(&self, i: usize) -> &[f64] {
        &self.dist[i * self.k..(i + 1) * self.k]
    }

    /// Neighbours of row `i`, nearest first.
    pub fn idx_of(&self, i: usize) -> &[usize] {
        &self.idx[i * self.k..(i + 1) * self.k]
    }
}

/// The best candidates found so far by one query: squared distances ascending.
struct Best {
    k: usize,
    d2: Vec<f64>,
    idx: Vec<usize>,
}

impl Best {
    fn new(k: usize) -> Self {
        Self {
            k,
            d2: Vec::with_capacity(k + 1),
            idx: Vec::with_capacity(k + 1),
        }
    }

    fn clear(&mut self) {
        self.d2.clear();
        self.idx.clear();
    }

    /// Squared distance a candidate must beat (strictly) to enter.
    fn bound(&self) -> f64 {
        if self.d2.len() < self.k {
            f64::INFINITY
        } else {
            self.d2[self.k - 1]
        }
    }

    fn push(&mut self, d2: f64, i: usize) {
        if d2 >= self.bound() {
            return;
        }
        let pos = self.d2.partition_point(|&v| v <= d2);
        self.d2.insert(pos, d2);
        self.idx.insert(pos, i);
        if self.d2.len() > self.k {
            self.d2.pop();
            self.idx.pop();
        }
    }
}

pub(crate) fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl KdTree {
    /// Builds the tree over the rows of `x` (checked: at least one row and one column,
    /// finite values).
    pub fn build(x: ArrayView2<f64>) -> Self {
        let dim = x.ncols();
        let n = x.nrows();
        let src = to_row_major(x);
        let mut tree = KdTree {
            dim,
            points: Vec::new(),
            index: (0..n).collect(),
            nodes: Vec::new(),
            bounds: Vec::new(),
        };
        if n > 0 && dim > 0 {
            tree.build_node(&src, 0, n);
        }
        let mut points = Vec::with_capacity(n * dim);
        for &i in &tree.index {
            points.extend_from_slice(&src[i * dim..(i + 1) * dim]);
        }
        tree.points = points;
        tree
    }

    fn build_node(&mut self, src: &[f64], start: usize, end: usize) -> usize {
        let d = self.dim;
        let id = self.nodes.len();
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for &i in &self.index[start..end] {
            let row = &src[i * d..(i + 1) * d];
            for j in 0..d {
                lo[j] = lo[j].min(row[j]);
                hi[j] = hi[j].max(row[j]);
            }
        }
        let mut split_dim = 0;
        let mut widest = f64::NEG_INFINITY;
        for j in 0..d {
            if hi[j] - lo[j] > widest {
                widest = hi[j] - lo[j];
                split_dim = j;
            }
        }
        self.bounds.extend_from_slice(&lo);
        self.bounds.extend_from_slice(&hi);
        self.nodes.push(Node {
            start,
            end,
            left: NO_CHILD,
            right: NO_CHILD,
        });
        // Identical points are split too (by position), so that a query can stop at the
        // first k of them instead of scanning all.
        if end - start > LEAF_SIZE {
            let mid = start + (end - start) / 2;
            self.index[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
                src[a * d + split_dim].total_cmp(&src[b * d + split_dim])
            });
            let left = self.build_node(src, start, mid);
            let right = self.build_node(src, mid, end);
            self.nodes[id].left = left;
            self.nodes[id].right = right;
        }
        id
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

    /// The original row of tree position `pos`.
    pub fn row_at(&self, pos: usize) -> usize {
        self.index[pos]
    }

    /// Squared distance from `q` to the bounding box of `node`.
    pub fn box_dist2(&self, node: usize, q: &[f64]) -> f64 {
        let d = self.dim;
        let lo = &self.bounds[2 * d * node..2 * d * node + d];
        let hi = &self.bounds[2 * d * node + d..2 * d * (node + 1)];
        let mut s = 0.0;
        for j in 0..d {
            let v = q[j];
            if v < lo[j] {
                s += (lo[j] - v) * (lo[j] - v);
            } else if v > hi[j] {
                s += (v - hi[j]) * (v - hi[j]);
            }
        }
        s
    }

    fn search(&self, node: usize, q: &[f64], best: &mut Best) {
        let n = &self.nodes[node];
        if n.left == NO_CHILD {
            let d = self.dim;
            for pos in n.start..n.end {
                let p = &self.points[pos * d..(pos + 1) * d];
                best.push(sq_dist(q, p), self.index[pos]);
            }
            return;
        }
        let dl = self.box_dist2(n.left, q);
        let dr = self.box_dist2(n.right, q);
        let (first, d_first, second, d_second) = if dl <= dr {
            (n.left, dl, n.right, dr)
        } else {
            (n.right, dr, n.left, dl)
        };
        if d_first < best.bound() {
            self.search(first, q, best);
        }
        if d_second < best.bound() {
            self.search(second, q, best);
        }
    }

    fn query_into(&self, q: &[f64], best: &mut Best) {
        best.clear();
        if !self.nodes.is_empty() {
            self.search(0, q, best);
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
        let d = self.dim;
        let rows = queries.len().checked_div(d).unwrap_or(0);
        let mut dist = vec![0.0; rows * k];
        let mut idx = vec![0usize; rows * k];
        if k == 0 || rows == 0 {
            return Ok(Neighbourhoods { k, dist, idx });
        }
        let search_k = if exclude_self { k + 1 } else { k };
        dist.par_chunks_mut(CHUNK * k)
            .zip(idx.par_chunks_mut(CHUNK * k))
            .enumerate()
            .try_for_each(|(c, (dchunk, ichunk))| {
                cancel.check()?;
                let mut best = Best::new(search_k);
                for r in 0..dchunk.len() / k {
                    let row = c * CHUNK + r;
                    self.query_into(&queries[row * d..(row + 1) * d], &mut best);
                    if exclude_self {
                        let drop = best
                            .idx
                            .iter()
                            .position(|&i| i == row)
                            .unwrap_or(best.idx.len().saturating_sub(1));
                        if drop < best.idx.len() {
                            best.idx.remove(drop);
                            best.d2.remove(drop);
                        }
                    }
                    let got = best.d2.len().min(k);
                    for j in 0..got {
                        dchunk[r * k + j] = best.d2[j].sqrt();
                        ichunk[r * k + j] = best.idx[j];
                    }
                    // Fewer points than asked (not reachable with a valid `k`): repeat the
                    // farthest so the row stays well formed.
                    for j in got..k {
                        dchunk[r * k + j] = if got > 0 {
                            dchunk[r * k + got - 1]
                        } else {
                            0.0
                        };
                        ichunk[r * k + j] = if got > 0 { ichunk[r * k + got - 1] } else { 0 };
                    }
                }
                Ok(())
            })?;
        Ok(Neighbourhoods { k, dist, idx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

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
    fn matches_brute_force() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut x = Array2::<f64>::zeros((700, 3));
        for (i, v) in x.iter_mut().enumerate() {
            // Some exact duplicates, some spread.
            *v = if i % 7 == 0 { 0.5 } else { rng.gen::<f64>() };
        }
        let tree = KdTree::build(x.view());
        let q = to_row_major(x.view());
        let nb = tree.kneighbors(&q, 6, false, &Cancel::new()).unwrap();
        for i in 0..x.nrows() {
            let want = brute(&x, &q[i * 3..i * 3 + 3], 6);
            for (a, b) in nb.dist_of(i).iter().zip(&want) {
                assert!((a - b).abs() < 1e-12);
            }
        }
        let nb = tree.kneighbors(&q, 5, true, &Cancel::new()).unwrap();
        for i in 0..x.nrows() {
            assert!(!nb.idx_of(i).contains(&i));
            let want = brute(&x, &q[i * 3..i * 3 + 3], 6);
            for (a, b) in nb.dist_of(i).iter().zip(&want[1..]) {
                assert!((a - b).abs() < 1e-12);
            }
        }
    }
}
