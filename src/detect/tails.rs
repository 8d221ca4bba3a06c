//! Per-feature empirical tail probabilities, shared by ECOD and COPOD.
//!
//! Both detectors (Li et al., "ECOD: Unsupervised Outlier Detection Using Empirical
//! Cumulative Distribution Functions", TKDE 2022; Li et al., "COPOD: Copula-Based
//! Outlier Detection", ICDM 2020) score a value by the negative log of its left tail
//! probability `F(x) = #{t <= x} / n` and right tail probability `#{t >= x} / n` under the
//! empirical distribution of the training column, then combine the two tails with the
//! sign of the column's skewness. They differ only in the combination rule, which is
//! given by [`Combine`].
//!
//! Each training column is sorted once; training tails come from the rank of a value in
//! its sorted column (ties share the largest rank, as PyOD's `column_ecdf` and statsmodels'
//! `ECDF`), and a batch of new values is sorted and merged with the training column.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input};
use super::DetectError;
use crate::cancel::Cancel;

/// Sign of a training column's sample skewness, as scipy's `skew` (biased estimator)
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkewSign {
    /// Skewness < 0: the long tail is on the left.
    Negative,
    /// Skewness == 0.
    Zero,
    /// Skewness > 0: the long tail is on the right.
    Positive,
    /// The column is (numerically) constant: scipy returns NaN.
    Undefined,
}

/// How the left and right tail scores of one feature are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// PyOD's `ECOD.decision_function`: the maximum of the left tail, the right tail and
    /// the skewness-selected tail (the skewness is NaN-to-zero'd, so a constant column
    /// gives `U_l + U_r`).
    Ecod,
    /// PyOD's `COPOD.decision_function`: the maximum of the skewness-selected tail and the
    /// mean of both tails; a column whose skewness is undefined contributes nothing (pandas
    /// skips the NaN when summing).
    Copod,
}

impl Combine {
    /// Combines the tail scores `ul = -ln F_left`, `ur = -ln F_right` of one value.
    #[inline]
    pub(crate) fn apply(self, ul: f64, ur: f64, skew: SkewSign) -> f64 {
        match (self, skew) {
            // sign(skew) = 0: U_skew = U_l + U_r, which dominates the other candidates.
            (Combine::Ecod, SkewSign::Zero | SkewSign::Undefined) => ul + ur,
            (Combine::Ecod, _) => ul.max(ur),
            (Combine::Copod, SkewSign::Undefined) => 0.0,
            (Combine::Copod, SkewSign::Zero) => ul + ur,
            (Combine::Copod, SkewSign::Negative) => ul.max(0.5 * (ul + ur)),
            (Combine::Copod, SkewSign::Positive) => ur.max(0.5 * (ul + ur)),
        }
    }
}

/// The fitted tails: every training column sorted ascending, and its skewness sign.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tails {
    sorted: Vec<Vec<f64>>,
    skew: Vec<SkewSign>,
}

/// scipy's test for a zero variance in `skew`: `m2 <= (resolution * mean)^2` with the
/// float64 resolution 1e-15.
const SCIPY_RESOLUTION: f64 = 1e-15;

fn skew_sign(col: &[f64]) -> SkewSign {
    let n = col.len() as f64;
    let mean = col.iter().sum::<f64>() / n;
    let (mut m2, mut m3) = (0.0, 0.0);
    for &v in col {
        let dv = v - mean;
        let d2 = dv * dv;
        m2 += d2;
        m3 += d2 * dv;
    }
    m2 /= n;
    m3 /= n;
    if m2 <= (SCIPY_RESOLUTION * mean) * (SCIPY_RESOLUTION * mean) {
        SkewSign::Undefined
    } else if m3 > 0.0 {
        SkewSign::Positive
    } else if m3 < 0.0 {
        SkewSign::Negative
    } else {
        SkewSign::Zero
    }
}

impl Tails {
    /// Number of fitted columns, `None` before fitting.
    pub(crate) fn n_features(&self) -> Option<usize> {
        if self.sorted.is_empty() {
            None
        } else {
            Some(self.sorted.len())
        }
    }

    /// Fits on `x` and returns the training scores under `combine`: the tails of a
    /// training value are taken from the training ECDF itself (`#{t <= x} / n`), exactly
    /// as PyOD's `decision_scores_`.
    pub(crate) fn fit(
        detector: &'static str,
        x: ArrayView2<f64>,
        combine: Combine,
        cancel: &Cancel,
    ) -> Result<(Tails, Vec<f64>), DetectError> {
        check_matrix(detector, &x, 1)?;
        let (n, d) = x.dim();
        let nf = n as f64;
        let mut scores = vec![0.0; n];
        let mut sorted = Vec::with_capacity(d);
        let mut skew = Vec::with_capacity(d);
        let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(n);
        for col in x.axis_iter(Axis(1)) {
            cancel.check()?;
            pairs.clear();
            pairs.extend(col.iter().enumerate().map(|(i, &v)| (v, i as u32)));
            pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let values: Vec<f64> = pairs.iter().map(|p| p.0).collect();
            let sign = skew_sign(&values);
            // Walk runs of equal values: every member of a run [start, end) has
            // #{t <= v} = end and #{t >= v} = n - start.
            let mut start = 0;
            while start < n {
                let v = pairs[start].0;
                let mut end = start + 1;
                while end < n && pairs[end].0 == v {
                    end += 1;
                }
                let ul = -(end as f64 / nf).ln();
                let ur = -((n - start) as f64 / nf).ln();
                let o = combine.apply(ul, ur, sign);
                for p in &pairs[start..end] {
                    scores[p.1 as usize] += o;
                }
                start = end;
            }
            sorted.push(values);
            skew.push(sign);
        }
        Ok((Tails { sorted, skew }, scores))
    }

    /// Tail scores of the values of column `j` of a batch, passed to `emit(row, score)`.
    /// A new value is counted as if it alone were added to the training column:
    /// `(#{t <= x} + 1) / (n + 1)`, so no probability is zero. The batch column is sorted
    /// and merged with the sorted training column, which is linear after the sort.
    fn column_scores(
        &self,
        j: usize,
        col: ndarray::ArrayView1<f64>,
        combine: Combine,
        pairs: &mut Vec<(f64, u32)>,
        mut emit: impl FnMut(usize, f64),
    ) {
        let train = &self.sorted[j];
        let n = train.len();
        let n1 = (n + 1) as f64;
        pairs.clear();
        pairs.extend(col.iter().enumerate().map(|(i, &v)| (v, i as u32)));
        pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let (mut lt, mut le) = (0, 0);
        let mut start = 0;
        while start < pairs.len() {
            let v = pairs[start].0;
            let mut end = start + 1;
            while end < pairs.len() && pairs[end].0 == v {
                end += 1;
            }
            while lt < n && train[lt] < v {
                lt += 1;
            }
            le = le.max(lt);
            while le < n && train[le] <= v {
                le += 1;
            }
            let ul = -((le + 1) as f64 / n1).ln();
            let ur = -((n - lt + 1) as f64 / n1).ln();
            let o = combine.apply(ul, ur, self.skew[j]);
            for p in &pairs[start..end] {
                emit(p.1 as usize, o);
            }
            start = end;
        }
    }

    /// Per-feature contributions (rows × features) of new rows; their row sums are the
    /// scores of [`Tails::score`].
    pub(crate) fn contributions(
        &self,
        detector: &'static str,
        x: ArrayView2<f64>,
        combine: Combine,
        cancel: &Cancel,
    ) -> Result<Array2<f64>, DetectError> {
        check_score_input(detector, self.n_features(), &x)?;
        let (n, d) = x.dim();
        let mut out = Array2::<f64>::zeros((n, d));
        let mut pairs = Vec::with_capacity(n);
        for (j, col) in x.axis_iter(Axis(1)).enumerate() {
            cancel.check()?;
            self.column_scores(j, col, combine, &mut pairs, |i, o| out[[i, j]] = o);
        }
        Ok(out)
    }

    /// Scores new rows (see [`Tails::column_scores`] for how a new value is placed).
    pub(crate) fn score(
        &self,
        detector: &'static str,
        x: ArrayView2<f64>,
        combine: Combine,
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        check_score_input(detector, self.n_features(), &x)?;
        let mut out = vec![0.0; x.nrows()];
        let mut pairs = Vec::with_capacity(x.nrows());
        for (j, col) in x.axis_iter(Axis(1)).enumerate() {
            cancel.check()?;
            self.column_scores(j, col, combine, &mut pairs, |i, o| out[i] += o);
        }
        Ok(out)
    }
}
