//! ECOD: Li, Zhao, Hu, Botta, Ionescu, Chen, "ECOD: Unsupervised Outlier Detection Using
//! Empirical Cumulative Distribution Functions", IEEE TKDE 2022. Follows PyOD's
//! `pyod.models.ecod.ECOD` (3.x): per feature, the left and right empirical tail
//! probabilities `-ln F`, combined as the maximum of the left tail, the right tail and the
//! skewness-selected tail, summed over features.

use ndarray::{Array2, ArrayView2};

use super::tails::{Combine, Tails};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "ecod";

/// ECOD detector (Li et al. 2022), as PyOD's `ECOD`. Parameter-free and deterministic.
///
/// `fit` returns PyOD's `decision_scores_` (tails from the training ECDF). New rows are
/// scored against the training ECDFs only, each row as if it alone were appended to the
/// training data: a tail probability is `(#{t <= x} + 1) / (n + 1)`. PyOD instead
/// appends the whole batch to the training data, so its scores for a batch depend on the
/// other rows of the batch; for a single row both agree exactly.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Ecod {
    tails: Tails,
}

impl Ecod {
    /// An unfitted ECOD detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Per-feature contributions (rows × features) of rows of `x`, scored against the
    /// fitted ECDFs as in [`Detector::score`]: each row's contributions sum to its score.
    /// Used to explain which features made a row anomalous.
    pub fn contributions(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, DetectError> {
        self.tails
            .contributions(NAME, x, Combine::Ecod, &Cancel::new())
    }
}

impl Detector for Ecod {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Ecod(self.clone())
    }

    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let (tails, scores) = Tails::fit(NAME, x, Combine::Ecod, cancel)?;
        self.tails = tails;
        Ok(scores)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.tails.score(NAME, x, Combine::Ecod, cancel)
    }
}

impl Ecod {
    /// The detector of tails fitted for it (see [`super::tails::Tails::fit_each`]).
    pub(crate) fn from_tails(tails: Tails) -> Self {
        Self { tails }
    }

    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(self, columns: usize) -> Result<Self, String> {
        self.tails.check(columns)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::input::testdata::{argmax, cloud_with_outlier};
    use ndarray::{array, Array2};

    #[test]
    fn far_point_scores_highest() {
        let x = cloud_with_outlier(400, 3, 1);
        let mut d = Ecod::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 399);
        let t = d.score(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&t), 399);
    }

    #[test]
    fn hand_computed_scores() {
        // Column [1, 2, 3, 10]: skewness > 0, so each value scores max(U_l, U_r).
        let x = array![[1.0], [2.0], [3.0], [10.0]];
        let s = Ecod::new().fit(x.view(), &Cancel::new()).unwrap();
        let want = [
            -(0.25f64).ln(),
            -(0.5f64).ln(),
            -(0.5f64).ln(),
            -(0.25f64).ln(),
        ];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{s:?}");
        }
    }

    #[test]
    fn constant_column_and_identical_rows() {
        let mut x = cloud_with_outlier(100, 2, 2);
        x.column_mut(1).fill(3.0);
        let mut d = Ecod::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert!(d
            .score(x.view(), &Cancel::new())
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));
        let same = Array2::from_elem((50, 3), 1.5);
        let s = Ecod::new().fit(same.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|&v| v == s[0] && v.is_finite()));
    }

    #[test]
    fn contributions_sum_to_scores() {
        let x = cloud_with_outlier(200, 4, 3);
        let mut d = Ecod::new();
        d.fit(x.view(), &Cancel::new()).unwrap();
        let c = d.contributions(x.view()).unwrap();
        let s = d.score(x.view(), &Cancel::new()).unwrap();
        for (row, v) in c.rows().into_iter().zip(&s) {
            assert!((row.sum() - v).abs() < 1e-9);
        }
        assert_eq!(c.dim(), (200, 4));
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = Ecod::new();
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((3, 0)).view(), &c).is_err());
        assert!(d.fit(array![[1.0], [f64::NAN]].view(), &c).is_err());
        d.fit(Array2::zeros((5, 2)).view(), &c).unwrap();
        assert!(d.score(Array2::zeros((2, 3)).view(), &c).is_err());
        assert!(d.contributions(Array2::zeros((2, 3)).view()).is_err());
        c.cancel();
        assert_eq!(
            d.fit(Array2::zeros((5, 2)).view(), &c),
            Err(DetectError::Cancelled)
        );
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_outlier(300, 3, 4);
        let a = Ecod::new().fit(x.view(), &Cancel::new()).unwrap();
        let b = Ecod::new().fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
