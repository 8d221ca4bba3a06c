//! KNN and LOF from one neighbour search.
//!
//! Both detectors ask a tree over the same training rows for each row's nearest
//! neighbours, nearest first. When KNN asks for no more neighbours than LOF (the defaults
//! ask for 5 and 20), LOF's neighbours of a row begin with KNN's, and KNN's scores read
//! only the distances (equal among tied neighbours, whichever are listed); so one search
//! with LOF's k gives both detectors exactly the scores of their own searches. These
//! searches are most of the default ensemble's time.

use ndarray::ArrayView2;

use super::input::neighbour_count;
use super::knn::Knn;
use super::lof::Lof;
use super::{DetectError, Detector};
use crate::cancel::Cancel;
use crate::neighbors::CountedTree;

/// A KNN and a LOF detector fitted on the same rows, sharing their searches.
pub(crate) struct KnnLof {
    knn: Knn,
    lof: Lof,
}

/// Each detector's scores, or why it failed.
pub(crate) type Both = (Result<Vec<f64>, DetectError>, Result<Vec<f64>, DetectError>);

impl KnnLof {
    /// The pair, when one search serves both (KNN's `n_neighbors` is at most LOF's).
    pub fn new(knn: Knn, lof: Lof) -> Option<Self> {
        (knn.n_neighbors <= lof.n_neighbors).then_some(Self { knn, lof })
    }

    /// Fits both on `x` and returns their training scores (KNN's, LOF's).
    pub fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Both {
        let ks = (
            neighbour_count("knn", &x, self.knn.n_neighbors),
            neighbour_count("lof", &x, self.lof.n_neighbors),
        );
        let (Ok(knn_k), Ok(lof_k)) = ks else {
            // Either cannot fit: each says why on its own.
            return (self.knn.fit(x, cancel), self.lof.fit(x, cancel));
        };
        let mut run = || {
            cancel.check()?;
            let (tree, of_row) = CountedTree::build(x);
            cancel.check()?;
            let nb = tree.kneighbors_self(lof_k, cancel)?;
            let knn = self.knn.fit_from(&nb, &of_row, knn_k.min(lof_k), x.ncols());
            let lof = self.lof.fit_from(tree, &of_row, &nb, x.ncols(), cancel)?;
            Ok((knn, lof))
        };
        both(run())
    }

    /// Scores the rows of `x` (KNN's scores, LOF's).
    pub fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Both {
        score_together(&self.knn, &self.lof, x, cancel)
    }

    /// The two detectors as fitted, each able to score on its own.
    pub fn into_parts(mut self) -> (Knn, Lof) {
        if let Some(tree) = self.lof.tree() {
            self.knn.set_tree(tree.clone());
        }
        (self.knn, self.lof)
    }
}

/// Whether fitted `knn` and `lof` can score with one search: fitted on the same rows
/// (their trees are equal), KNN with no more neighbours than LOF.
pub(crate) fn can_share(knn: &Knn, lof: &Lof) -> bool {
    knn.effective_k() <= lof.effective_k() && knn.tree().is_some() && knn.tree() == lof.tree()
}

/// Scores the rows of `x` with both detectors, one search for both (KNN's scores, LOF's):
/// LOF's tree is searched, so they must have been fitted on the same rows (fitted
/// together, or [`can_share`]).
pub(crate) fn score_together(knn: &Knn, lof: &Lof, x: ArrayView2<f64>, cancel: &Cancel) -> Both {
    debug_assert!(knn.effective_k() <= lof.effective_k());
    both(lof.search(x, cancel).and_then(|(queries, nb)| {
        let k = knn.score_from(&nb, &queries);
        Ok((k, lof.score_from(&nb, &queries, cancel)?))
    }))
}

/// One outcome for both, or the same error for each (named after each).
fn both(r: Result<(Vec<f64>, Vec<f64>), DetectError>) -> Both {
    match r {
        Ok((a, b)) => (Ok(a), Ok(b)),
        Err(e) => {
            let mut knn = e.clone();
            if let DetectError::Input { detector, .. } | DetectError::State { detector, .. } =
                &mut knn
            {
                *detector = "knn";
            }
            (Err(knn), Err(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::knn::KnnMethod;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// A cloud with copies of rows (as conn logs have), ties and a far row.
    fn cloud(rows: usize, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut x = Array2::from_shape_fn((rows, 3), |_| (rng.gen::<f64>() * 20.0).round());
        for i in (0..rows).step_by(7) {
            let src = x.row(i / 2).to_owned();
            x.row_mut(i).assign(&src);
        }
        x.row_mut(rows / 3).fill(90.0);
        x
    }

    #[test]
    fn one_search_gives_each_detector_its_own_scores() {
        let c = Cancel::new();
        for (rows, knn_k, lof_k) in [(400, 5, 20), (400, 20, 20), (300, 1, 7), (3, 5, 20)] {
            for method in [KnnMethod::Largest, KnnMethod::Mean, KnnMethod::Median] {
                let x = cloud(rows, rows as u64 + knn_k as u64);
                let (mut knn, mut lof) = (Knn::new(knn_k, method), Lof::new(lof_k));
                let alone = (
                    knn.fit(x.view(), &c).unwrap(),
                    lof.fit(x.view(), &c).unwrap(),
                );
                let mut pair = KnnLof::new(Knn::new(knn_k, method), Lof::new(lof_k)).unwrap();
                let (a, b) = pair.fit(x.view(), &c);
                assert_eq!(
                    (a.unwrap(), b.unwrap()),
                    alone,
                    "{rows} rows, k {knn_k}/{lof_k}"
                );
                // New rows, some equal to training rows, some far.
                let mut q = cloud(150, 99);
                q.row_mut(0).assign(&x.row(1));
                q.row_mut(1).fill(-40.0);
                let (a, b) = pair.score(q.view(), &c);
                let alone = (
                    knn.score(q.view(), &c).unwrap(),
                    lof.score(q.view(), &c).unwrap(),
                );
                assert_eq!((a.unwrap(), b.unwrap()), alone);
                // Apart, each scores as before.
                let (knn2, lof2) = pair.into_parts();
                assert_eq!(knn2.score(q.view(), &c).unwrap(), alone.0);
                assert_eq!(lof2.score(q.view(), &c).unwrap(), alone.1);
            }
        }
    }

    #[test]
    fn more_neighbours_for_knn_than_lof_run_apart() {
        assert!(KnnLof::new(Knn::new(21, KnnMethod::Largest), Lof::new(20)).is_none());
    }

    #[test]
    fn each_detector_says_why_it_cannot_fit() {
        let c = Cancel::new();
        let mut pair = KnnLof::new(Knn::default(), Lof::default()).unwrap();
        let (a, b) = pair.fit(Array2::zeros((1, 2)).view(), &c);
        assert!(a.unwrap_err().to_string().starts_with("knn: "));
        assert!(b.unwrap_err().to_string().starts_with("lof: "));
        assert!(pair.fit(cloud(50, 1).view(), &c).0.is_ok());
        let (a, b) = pair.score(Array2::zeros((2, 5)).view(), &c);
        assert!(a.unwrap_err().to_string().starts_with("knn: "));
        assert!(b.unwrap_err().to_string().starts_with("lof: "));
        c.cancel();
        let (a, b) = pair.fit(cloud(50, 1).view(), &c);
        assert_eq!(
            (a, b),
            (Err(DetectError::Cancelled), Err(DetectError::Cancelled))
        );
    }
}
