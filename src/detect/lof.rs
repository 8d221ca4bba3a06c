//! Local Outlier Factor (Breunig, Kriegel, Ng, Sander 2000), following scikit-learn's
//! `LocalOutlierFactor` as wrapped by PyOD's `pyod.models.lof.LOF` (`novelty=True`):
//!
//! - k-distance of a training row: distance to its k-th neighbour (the row itself
//!   excluded);
//! - reachability distance of `a` from neighbour `b`: `max(d(a, b), k-distance(b))`;
//! - local reachability density: `1 / (mean reachability distance + 1e-10)` (the `1e-10`
//!   guard is scikit-learn's and keeps duplicate rows finite);
//! - score: mean over the neighbours of `lrd(neighbour) / lrd(row)`, which is
//!   `-negative_outlier_factor_` for training rows and `-score_samples` for new rows.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::input::{fitted_tree, neighbour_count};
use super::{DetectError, Detector};
use crate::cancel::Cancel;
use crate::neighbors::{CountedTree, DistinctRows, Neighbourhoods};

const NAME: &str = "lof";
/// scikit-learn's guard against a zero mean reachability distance.
const LRD_EPS: f64 = 1e-10;
const CHUNK: usize = 4096;

/// LOF detector, as PyOD's `LOF(n_neighbors=20)` (scikit-learn's `LocalOutlierFactor`,
/// Euclidean metric).
///
/// `k = max(1, min(n_neighbors, rows - 1))` as scikit-learn; [`Lof::effective_k`] reports
/// it.
///
/// Identical rows are searched once: the tree holds the distinct training rows, each
/// counting as many neighbours as it has copies, and k-distances and densities are kept
/// per distinct row (copies share them: they have the same neighbours). Among neighbours
/// at equal distance, which are used is unspecified, as in scikit-learn.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Lof {
    /// Number of neighbours (PyOD default 20).
    pub n_neighbors: usize,
    tree: Option<CountedTree>,
    cols: Option<usize>,
    k: usize,
    /// k-distance of each distinct training row.
    k_distance: Vec<f64>,
    /// Local reachability density of each distinct training row.
    lrd: Vec<f64>,
}

impl Default for Lof {
    fn default() -> Self {
        Self::new(20)
    }
}

impl Lof {
    /// A detector with `n_neighbors` neighbours.
    pub fn new(n_neighbors: usize) -> Self {
        Self {
            n_neighbors,
            tree: None,
            cols: None,
            k: 0,
            k_distance: Vec::new(),
            lrd: Vec::new(),
        }
    }

    /// The number of neighbours used by the last `fit`.
    pub fn effective_k(&self) -> usize {
        self.k
    }

    /// Local reachability density of each query row from its neighbourhood.
    fn lrd_of(
        &self,
        nb: &Neighbourhoods,
        rows: usize,
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        let mut out = vec![0.0; rows];
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .try_for_each(|(c, chunk)| {
                cancel.check()?;
                for (r, o) in chunk.iter_mut().enumerate() {
                    let i = c * CHUNK + r;
                    let (d, idx) = (nb.dist_of(i), nb.idx_of(i));
                    let reach: f64 = d
                        .iter()
                        .zip(idx)
                        .map(|(&dist, &j)| dist.max(self.k_distance[j]))
                        .sum();
                    *o = 1.0 / (reach / nb.k as f64 + LRD_EPS);
                }
                Ok::<(), DetectError>(())
            })?;
        Ok(out)
    }

    /// Mean of `lrd(neighbour) / lrd(row)` per query row.
    fn ratios(
        &self,
        nb: &Neighbourhoods,
        own_lrd: &[f64],
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        let mut out = vec![0.0; own_lrd.len()];
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .try_for_each(|(c, chunk)| {
                cancel.check()?;
                for (r, o) in chunk.iter_mut().enumerate() {
                    let i = c * CHUNK + r;
                    let s: f64 = nb.idx_of(i).iter().map(|&j| self.lrd[j] / own_lrd[i]).sum();
                    *o = s / nb.k as f64;
                }
                Ok::<(), DetectError>(())
            })?;
        Ok(out)
    }
}

impl Detector for Lof {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Lof(self.clone())
    }

    fn neighbour_method(&self) -> Option<super::NeighbourMethod<'_>> {
        Some(super::NeighbourMethod::Lof(self))
    }

    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let k = neighbour_count(NAME, &x, self.n_neighbors)?;
        cancel.check()?;
        let (tree, of_row) = CountedTree::build(x);
        cancel.check()?;
        let nb = tree.kneighbors_self(k, cancel)?;
        self.fit_from(tree, &of_row, &nb, x.ncols(), cancel)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let (queries, nb) = self.search(x, cancel)?;
        self.score_from(&nb, &queries, cancel)
    }
}

impl Lof {
    /// The distinct rows of `x` and their neighbourhoods among the training rows.
    pub(super) fn search(
        &self,
        x: ArrayView2<f64>,
        cancel: &Cancel,
    ) -> Result<(DistinctRows, Neighbourhoods), DetectError> {
        let tree = fitted_tree(NAME, self.cols, &self.tree, &x)?;
        let queries = DistinctRows::of(x);
        let nb = tree.kneighbors(&queries.points, self.k, cancel)?;
        Ok((queries, nb))
    }

    /// The tree of the training rows.
    pub(super) fn tree(&self) -> Option<&CountedTree> {
        self.tree.as_ref()
    }

    /// Fits on the training rows behind `tree` (`of_row` maps them to its distinct rows)
    /// from the distinct rows' own neighbourhoods (its k nearest training rows each), and
    /// returns the training scores.
    pub(super) fn fit_from(
        &mut self,
        tree: CountedTree,
        of_row: &[usize],
        nb: &Neighbourhoods,
        cols: usize,
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        let (distinct, k) = (tree.distinct_len(), nb.k);
        self.k = k;
        self.k_distance = (0..distinct).map(|i| nb.dist_of(i)[k - 1]).collect();
        self.lrd = Vec::new();
        let lrd = self.lrd_of(nb, distinct, cancel)?;
        self.lrd = lrd;
        let scores = self.ratios(nb, &self.lrd, cancel)?;
        self.tree = Some(tree);
        self.cols = Some(cols);
        Ok(of_row.iter().map(|&d| scores[d]).collect())
    }

    /// The scores of the rows behind `queries` from their distinct rows' neighbourhoods
    /// ([`Lof::effective_k`] each).
    pub(super) fn score_from(
        &self,
        nb: &Neighbourhoods,
        queries: &DistinctRows,
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        let own = self.lrd_of(nb, queries.len(), cancel)?;
        Ok(queries.expand(&self.ratios(nb, &own, cancel)?))
    }
}

impl Lof {
    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(mut self, columns: usize) -> Result<Self, String> {
        use super::ensure;
        self.tree = Some(CountedTree::restore_fitted(
            self.tree.take(),
            self.cols,
            self.k,
            columns,
        )?);
        let distinct = self.tree.as_ref().map_or(0, CountedTree::distinct_len);
        ensure(
            self.k_distance.len() == distinct && self.lrd.len() == distinct,
            "densities",
        )?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn cloud_with_far_point() -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut x = Array2::from_shape_fn((400, 3), |_| rng.gen::<f64>());
        x.row_mut(77).fill(5.0);
        x
    }

    fn argmax(v: &[f64]) -> usize {
        (0..v.len())
            .max_by(|&a, &b| v[a].total_cmp(&v[b]))
            .unwrap_or(0)
    }

    #[test]
    fn far_point_scores_highest() {
        let x = cloud_with_far_point();
        let mut lof = Lof::default();
        let s = lof.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 77);
        // Inliers of a uniform cloud have LOF close to 1.
        let median = {
            let mut v = s.clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        assert!((median - 1.0).abs() < 0.1, "median {median}");
        let q = Array2::from_shape_vec((2, 3), vec![0.5, 0.5, 0.5, 4.0, 4.0, 4.0]).unwrap();
        let t = lof.score(q.view(), &Cancel::new()).unwrap();
        assert!(t[1] > t[0] && t[0] < 1.5);
    }

    #[test]
    fn hand_computed_line() {
        // 0, 1, 2, 10 with k = 1: k-distances 1, 1, 1, 8.
        let x = Array2::from_shape_vec((4, 1), vec![0.0, 1.0, 2.0, 10.0]).unwrap();
        let mut lof = Lof::new(1);
        let s = lof.fit(x.view(), &Cancel::new()).unwrap();
        // lrd = 1/reach: row 0 -> nb 1 reach max(1,1)=1; row 1 -> nb 0 (tie with 2) reach 1;
        // row 2 -> nb 1 reach 1; row 3 -> nb 2 reach max(8,1)=8.
        let lrd = [1.0, 1.0, 1.0, 1.0 / 8.0];
        let want = [1.0, 1.0, 1.0, lrd[2] / lrd[3]];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn identical_rows_stay_finite() {
        let c = Cancel::new();
        let mut x = Array2::from_elem((200, 3), 0.25);
        let mut lof = Lof::default();
        let s = lof.fit(x.view(), &c).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert!(s.iter().all(|&v| (v - 1.0).abs() < 1e-9));
        // Mostly duplicates plus a few distinct rows.
        for i in 0..10 {
            x[[i, 0]] = 1.0 + i as f64;
        }
        let s = lof.fit(x.view(), &c).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        let t = lof.score(x.view(), &c).unwrap();
        assert!(t.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_input_is_an_error() {
        let c = Cancel::new();
        let mut lof = Lof::default();
        assert!(lof.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(lof.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        assert!(lof.fit(Array2::zeros((1, 2)).view(), &c).is_err());
        let mut x = Array2::<f64>::zeros((10, 2));
        x[[0, 0]] = f64::INFINITY;
        assert!(lof.fit(x.view(), &c).is_err());
        lof.fit(cloud_with_far_point().view(), &c).unwrap();
        assert!(lof.score(Array2::zeros((2, 2)).view(), &c).is_err());
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_far_point();
        let a = Lof::default().fit(x.view(), &Cancel::new()).unwrap();
        let b = Lof::default().fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
