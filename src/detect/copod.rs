//! COPOD: Li, Zhao, Botta, Ionescu, Hu, "COPOD: Copula-Based Outlier Detection",
//! IEEE ICDM 2020. Follows PyOD's `pyod.models.copod.COPOD` (3.x): per feature, the
//! empirical-copula left and right tail scores `-ln F`, combined as the maximum of the
//! skewness-selected tail and the mean of both tails, summed over features.

use ndarray::{Array2, ArrayView2};

use super::tails::{Combine, Tails};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "copod";

/// COPOD detector (Li et al. 2020), as PyOD's `COPOD`. Parameter-free and deterministic.
///
/// `fit` returns PyOD's `decision_scores_` (tails from the training ECDF; PyOD computes
/// them on the training matrix appended to itself, which gives the same ECDF). A column
/// whose skewness is undefined (constant) contributes nothing, as in PyOD where the NaN
/// is skipped by the pandas sum. New rows are scored against the training ECDFs only,
/// each row as if it alone were appended to the training data: a tail probability is
/// `(#{t <= x} + 1) / (n + 1)`. PyOD appends the whole batch instead, so its scores for a
/// batch depend on the other rows of the batch; for a single row both agree exactly.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Copod {
    tails: Tails,
}

impl Copod {
    /// An unfitted COPOD detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Per-feature contributions (rows × features) of rows of `x`, scored against the
    /// fitted ECDFs as in [`Detector::score`]: each row's contributions sum to its score.
    /// Used to explain which features made a row anomalous.
    pub fn contributions(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, DetectError> {
        self.tails
            .contributions(NAME, x, Combine::Copod, &Cancel::new())
    }
}

impl Detector for Copod {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Copod(self.clone())
    }

    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let (tails, scores) = Tails::fit(NAME, x, Combine::Copod, cancel)?;
        self.tails = tails;
        Ok(scores)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.tails.score(NAME, x, Combine::Copod, cancel)
    }
}

impl Copod {
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
        let mut d = Copod::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 399);
        let t = d.score(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&t), 399);
    }

    #[test]
    fn hand_computed_scores() {
        // Column [1, 2, 3, 10]: skewness > 0, so each value scores max(U_r, (U_l+U_r)/2).
        let x = array![[1.0], [2.0], [3.0], [10.0]];
        let s = Copod::new().fit(x.view(), &Cancel::new()).unwrap();
        let l = |p: f64| -p.ln();
        let want = [
            0.5 * l(0.25),
            0.5 * (l(0.5) + l(0.75)),
            l(0.5).max(0.5 * (l(0.75) + l(0.5))),
            l(0.25),
        ];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{s:?}");
        }
    }

    #[test]
    fn new_values_score_their_hand_computed_tails() {
        // Training column [1, 2, 3, 10] (skewness > 0); a new value counts as if it alone
        // were added: left tail (#{t <= v} + 1) / 5, right tail (#{t >= v} + 1) / 5.
        let mut d = Copod::new();
        d.fit(array![[1.0], [2.0], [3.0], [10.0]].view(), &Cancel::new())
            .unwrap();
        let l = |p: f64| -p.ln();
        let s = d
            .score(array![[0.0], [2.0], [2.5], [11.0]].view(), &Cancel::new())
            .unwrap();
        let want = [
            0.5 * l(0.2),
            l(0.8).max(0.5 * (l(0.6) + l(0.8))),
            l(0.6),
            l(0.2),
        ];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{s:?} vs {want:?}");
        }
        // −0 and +0 are one value, in the training column and in a batch.
        let mut d = Copod::new();
        let t = d
            .fit(array![[-0.0], [0.0], [1.0], [2.0]].view(), &Cancel::new())
            .unwrap();
        assert_eq!(t[0], t[1]);
        // Left tail 2 / 4, right tail 4 / 4.
        assert!((t[0] - 0.5 * l(0.5)).abs() < 1e-12, "{t:?}");
        let s = d
            .score(array![[0.0], [-0.0]].view(), &Cancel::new())
            .unwrap();
        assert_eq!(s[0], s[1]);
        assert!((s[0] - 0.5 * l(0.6)).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn constant_column_and_identical_rows() {
        let mut x = cloud_with_outlier(100, 2, 2);
        x.column_mut(1).fill(3.0);
        let mut d = Copod::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert!(d
            .score(x.view(), &Cancel::new())
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));
        let same = Array2::from_elem((50, 3), 1.5);
        let s = Copod::new().fit(same.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|&v| v == s[0] && v.is_finite()));
    }

    #[test]
    fn contributions_sum_to_scores() {
        let x = cloud_with_outlier(200, 4, 3);
        let mut d = Copod::new();
        d.fit(x.view(), &Cancel::new()).unwrap();
        let c = d.contributions(x.view()).unwrap();
        let s = d.score(x.view(), &Cancel::new()).unwrap();
        for (row, v) in c.rows().into_iter().zip(&s) {
            assert!((row.sum() - v).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = Copod::new();
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((3, 0)).view(), &c).is_err());
        assert!(d.fit(array![[1.0], [f64::INFINITY]].view(), &c).is_err());
        d.fit(Array2::zeros((5, 2)).view(), &c).unwrap();
        assert!(d.score(Array2::zeros((2, 3)).view(), &c).is_err());
        assert!(d.contributions(Array2::zeros((2, 1)).view()).is_err());
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_outlier(300, 3, 4);
        let a = Copod::new().fit(x.view(), &Cancel::new()).unwrap();
        let b = Copod::new().fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
