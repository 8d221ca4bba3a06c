//! k-nearest-neighbour distance detector (Ramaswamy, Rastogi, Shim 2000; Angiulli,
//! Pizzuti 2002), following PyOD's `pyod.models.knn.KNN`: the score of a row is its
//! Euclidean distance to its k-th nearest neighbour (`largest`), or the mean or median
//! of the distances to its k nearest neighbours.

use ndarray::ArrayView2;

use super::input::{fitted_tree, neighbour_count};
use super::{DetectError, Detector};
use crate::cancel::Cancel;
use crate::neighbors::{CountedTree, DistinctRows, Neighbourhoods};

const NAME: &str = "knn";

/// How the distances to the k nearest neighbours become one score (PyOD's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum KnnMethod {
    /// Distance to the k-th nearest neighbour (PyOD's default).
    #[default]
    Largest,
    /// Mean distance to the k nearest neighbours.
    Mean,
    /// Median distance to the k nearest neighbours (mean of the two middle ones for an
    /// even k, as numpy).
    Median,
}

/// KNN distance detector, as PyOD's `KNN(n_neighbors=5, method='largest')` with the
/// Euclidean metric.
///
/// Training scores exclude the row itself, as PyOD (which calls scikit-learn's
/// `kneighbors()` without `X`); a duplicate row is still a neighbour at distance 0.
/// New rows are scored against all training rows (a new row identical to a training row
/// has that row as a neighbour at distance 0, as PyOD's `decision_function`).
///
/// When the training set has `n <= n_neighbors` rows, k is clamped to `n - 1` (PyOD would
/// refuse); [`Knn::effective_k`] reports the value used.
///
/// Identical rows are searched once: the tree holds the distinct training rows, each
/// counting as many neighbours as it has copies, and each distinct query row is answered
/// once for all its copies. The distances, and so the scores, are those of a search over
/// every row.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Knn {
    /// Number of neighbours (PyOD default 5).
    pub n_neighbors: usize,
    /// How neighbour distances are combined (PyOD default `Largest`).
    pub method: KnnMethod,
    tree: Option<CountedTree>,
    cols: Option<usize>,
    k: usize,
}

impl Default for Knn {
    fn default() -> Self {
        Self::new(5, KnnMethod::Largest)
    }
}

impl Knn {
    /// A detector with `n_neighbors` neighbours and the given combination method.
    pub fn new(n_neighbors: usize, method: KnnMethod) -> Self {
        Self {
            n_neighbors,
            method,
            tree: None,
            cols: None,
            k: 0,
        }
    }

    /// The number of neighbours actually used by the last `fit` (`n_neighbors`, or
    /// `rows - 1` when the training set was smaller).
    pub fn effective_k(&self) -> usize {
        self.k
    }

    /// The score of each of the first `rows` query rows from its neighbours: the first
    /// `k` of them (`nb` may hold more, nearest first).
    fn combine(&self, nb: &Neighbourhoods, k: usize, rows: usize) -> Vec<f64> {
        (0..rows)
            .map(|i| {
                let d = &nb.dist_of(i)[..k.min(nb.k)];
                match self.method {
                    KnnMethod::Largest => d.last().copied().unwrap_or(0.0),
                    KnnMethod::Mean => {
                        if d.is_empty() {
                            0.0
                        } else {
                            d.iter().sum::<f64>() / d.len() as f64
                        }
                    }
                    KnnMethod::Median => median_sorted(d),
                }
            })
            .collect()
    }
}

/// Median of an ascending slice (0 for an empty one).
fn median_sorted(d: &[f64]) -> f64 {
    let n = d.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        d[n / 2]
    } else {
        (d[n / 2 - 1] + d[n / 2]) / 2.0
    }
}

impl Detector for Knn {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Knn(self.clone())
    }

    fn neighbour_method(&self) -> Option<super::NeighbourMethod<'_>> {
        Some(super::NeighbourMethod::Knn(self))
    }

    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let k = neighbour_count(NAME, &x, self.n_neighbors)?;
        cancel.check()?;
        let (tree, of_row) = CountedTree::build(x);
        cancel.check()?;
        let nb = tree.kneighbors_self(k, cancel)?;
        let scores = self.fit_from(&nb, &of_row, k, x.ncols());
        self.tree = Some(tree);
        Ok(scores)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let tree = fitted_tree(NAME, self.cols, &self.tree, &x)?;
        let k = self.k.min(tree.len());
        let queries = DistinctRows::of(x);
        let nb = tree.kneighbors(&queries.points, k, cancel)?;
        Ok(self.score_from(&nb, &queries))
    }
}

impl Knn {
    /// Fits with `k` neighbours from the training rows' own neighbourhoods (by distinct
    /// row, at least `k` each; `of_row` maps training rows to them) and returns the
    /// training scores. The tree is set apart (see [`Knn::set_tree`]).
    pub(super) fn fit_from(
        &mut self,
        nb: &Neighbourhoods,
        of_row: &[usize],
        k: usize,
        cols: usize,
    ) -> Vec<f64> {
        let scores = self.combine(nb, k, nb.rows());
        self.k = k;
        self.cols = Some(cols);
        of_row.iter().map(|&d| scores[d]).collect()
    }

    /// The tree of the training rows.
    pub(super) fn tree(&self) -> Option<&CountedTree> {
        self.tree.as_ref()
    }

    /// The tree of the training rows the last fit was made from.
    pub(super) fn set_tree(&mut self, tree: CountedTree) {
        self.tree = Some(tree);
    }

    /// The scores of the rows behind `queries` from their distinct rows' neighbourhoods
    /// (at least `k` each).
    pub(super) fn score_from(&self, nb: &Neighbourhoods, queries: &DistinctRows) -> Vec<f64> {
        queries.expand(&self.combine(nb, self.k, queries.len()))
    }

    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(mut self, columns: usize) -> Result<Self, String> {
        self.tree = Some(CountedTree::restore_fitted(
            self.tree.take(),
            self.cols,
            self.k,
            columns,
        )?);
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
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut x = Array2::from_shape_fn((300, 4), |_| rng.gen::<f64>());
        x.row_mut(123).fill(8.0);
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
        for method in [KnnMethod::Largest, KnnMethod::Mean, KnnMethod::Median] {
            let mut knn = Knn::new(5, method);
            let s = knn.fit(x.view(), &Cancel::new()).unwrap();
            assert_eq!(argmax(&s), 123);
            let far = Array2::from_elem((1, 4), 9.0);
            let near = Array2::from_elem((1, 4), 0.5);
            let t = knn.score(far.view(), &Cancel::new()).unwrap();
            let u = knn.score(near.view(), &Cancel::new()).unwrap();
            assert!(t[0] > u[0]);
        }
    }

    #[test]
    fn exact_distances_on_a_line() {
        // Points 0, 1, 3, 6, 10 on a line; k = 2, largest.
        let x = Array2::from_shape_vec((5, 1), vec![0.0, 1.0, 3.0, 6.0, 10.0]).unwrap();
        let mut knn = Knn::new(2, KnnMethod::Largest);
        let s = knn.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(s, vec![3.0, 2.0, 3.0, 4.0, 7.0]);
        let mut knn = Knn::new(2, KnnMethod::Mean);
        let s = knn.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(s, vec![2.0, 1.5, 2.5, 3.5, 5.5]);
        // A new point at 2: neighbours 1 and 3 (the training rows count).
        let q = Array2::from_shape_vec((1, 1), vec![2.0]).unwrap();
        assert_eq!(knn.score(q.view(), &Cancel::new()).unwrap(), vec![1.0]);
    }

    #[test]
    fn identical_rows_and_small_n() {
        let x = Array2::from_elem((50, 3), 1.5);
        let mut knn = Knn::default();
        let s = knn.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|&v| v == 0.0));
        let x = Array2::from_shape_vec((3, 1), vec![0.0, 1.0, 5.0]).unwrap();
        let s = knn.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(knn.effective_k(), 2);
        assert_eq!(s, vec![5.0, 4.0, 5.0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut knn = Knn::default();
        let c = Cancel::new();
        assert!(knn.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(knn.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        assert!(knn.fit(Array2::zeros((5, 0)).view(), &c).is_err());
        let mut x = Array2::<f64>::zeros((10, 2));
        x[[3, 1]] = f64::NAN;
        assert!(knn.fit(x.view(), &c).is_err());
        knn.fit(cloud_with_far_point().view(), &c).unwrap();
        assert!(matches!(
            knn.score(Array2::zeros((2, 3)).view(), &c),
            Err(DetectError::State { .. })
        ));
        c.cancel();
        assert_eq!(
            knn.fit(cloud_with_far_point().view(), &c),
            Err(DetectError::Cancelled)
        );
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_far_point();
        let a = Knn::default().fit(x.view(), &Cancel::new()).unwrap();
        let b = Knn::default().fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
