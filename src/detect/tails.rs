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

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input};
use super::DetectError;
use crate::cancel::Cancel;

/// Sign of a training column's sample skewness, as scipy's `skew` (biased estimator)
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// The fitted tails: every training column sorted ascending, its skewness sign, and the
/// table of tail scores new values take theirs from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tails {
    /// Shared by an ECOD and a COPOD fitted together (the same columns, sorted once).
    #[serde(with = "shared_columns")]
    sorted: std::sync::Arc<Vec<Vec<f64>>>,
    skew: Vec<SkewSign>,
    /// `-ln(k / (n + 1))` for `k` in `0..=n + 1`, `n` training rows: the tail score of a
    /// new value with `k - 1` training values at or beyond it (see
    /// [`Tails::column_scores`]).
    new_tail: Vec<f64>,
}

/// The first index from `from` on where `pred` fails, `pred` holding on a prefix of
/// `s[from..]`: found by probing ever twice as far from `from`, then by halving. A batch's
/// values walk a sorted training column this way in steps about as long as the gaps
/// between them, so a batch much smaller than the column (a lean run's blocks of distinct
/// rows) reads a few of its values per row instead of all of them.
fn gallop(s: &[f64], from: usize, pred: impl Fn(f64) -> bool) -> usize {
    let (mut lo, mut step) = (from, 1);
    loop {
        let probe = lo + step - 1;
        if probe >= s.len() || !pred(s[probe]) {
            let hi = probe.min(s.len());
            return lo + s[lo..hi].partition_point(|&t| pred(t));
        }
        lo = probe + 1;
        step *= 2;
    }
}

/// Shared columns written as the columns themselves (the file format of a model does not
/// change with the sharing; serde's own support for `Arc` is behind a feature that would
/// rebuild every crate depending on serde).
mod shared_columns {
    use std::sync::Arc;

    pub fn serialize<S: serde::Serializer>(
        v: &Arc<Vec<Vec<f64>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(v.as_ref(), s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Arc<Vec<Vec<f64>>>, D::Error> {
        <Vec<Vec<f64>> as serde::Deserialize>::deserialize(d).map(Arc::new)
    }
}

/// `-ln(k / m)` for `k` in `0..=count`: the tail scores a column takes its values from, one
/// logarithm per possible count rather than one per value.
fn neg_ln_fractions(count: usize, m: f64) -> Vec<f64> {
    (0..count + 1)
        .into_par_iter()
        .with_min_len(1 << 12)
        .map(|k| -(k as f64 / m).ln())
        .collect()
}

/// `v` as an unsigned integer in the order of `f64::total_cmp`, which integer comparisons
/// sort faster than the comparison itself.
fn order_key(v: f64) -> u64 {
    let i = v.to_bits() as i64;
    ((i ^ (((i >> 63) as u64) >> 1) as i64) as u64) ^ (1 << 63)
}

/// The value of an [`order_key`].
fn from_order_key(k: u64) -> f64 {
    let i = (k ^ (1 << 63)) as i64;
    f64::from_bits((i ^ (((i >> 63) as u64) >> 1) as i64) as u64)
}

/// The values of `col` with their positions, in `f64::total_cmp` order (ties in any order:
/// they are equal bit for bit).
fn sorted_with_positions(col: ndarray::ArrayView1<f64>) -> Vec<(u64, u32)> {
    let mut pairs: Vec<(u64, u32)> = col
        .iter()
        .enumerate()
        .map(|(i, &v)| (order_key(v), i as u32))
        .collect();
    pairs.sort_unstable_by_key(|p| p.0);
    pairs
}

/// Adds one column's values to `out`, row by row: called column after column, each row's
/// sum is taken in column order from 0.
fn add_column(out: &mut [f64], column: &[f64]) {
    for (o, v) in out.iter_mut().zip(column) {
        *o += v;
    }
}

/// Columns worked on at once per thread by [`by_column_groups`]: two, so that a thread
/// that finishes a short column takes another while the group's longest is sorted, and
/// the group's temporaries (a fit's sorted pairs, values and scores: 32 bytes a training
/// row per column) stay a small part of what the fit holds.
const GROUP_PER_THREAD: usize = 2;

/// Runs `work` on every column `0..d` and hands each result to `each(column, result)` in
/// column order. The columns go in groups ([`GROUP_PER_THREAD`] per thread): a group is
/// worked on side by side, and only its results (per-row vectors) are held at once.
fn by_column_groups<T: Send>(
    d: usize,
    cancel: &Cancel,
    work: impl Fn(usize) -> T + Sync,
    mut each: impl FnMut(usize, T),
) -> Result<(), DetectError> {
    let group = GROUP_PER_THREAD * rayon::current_num_threads().max(1);
    for start in (0..d).step_by(group) {
        let results = (start..(start + group).min(d))
            .into_par_iter()
            .map(|j| {
                cancel.check()?;
                Ok(work(j))
            })
            .collect::<Result<Vec<T>, DetectError>>()?;
        for (j, r) in results.into_iter().enumerate() {
            each(start + j, r);
        }
    }
    Ok(())
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
    /// as PyOD's `decision_scores_`. Columns are fitted in parallel.
    pub(crate) fn fit(
        detector: &'static str,
        x: ArrayView2<f64>,
        combine: Combine,
        cancel: &Cancel,
    ) -> Result<(Tails, Vec<f64>), DetectError> {
        let (tails, mut scores) = Self::fit_each(detector, x, &[combine], cancel)?;
        Ok((tails, scores.pop().unwrap_or_default()))
    }

    /// [`Tails::fit`] under each rule of `combines` at once (an ECOD and a COPOD fitted
    /// together): the columns are sorted once, and each rule's training scores are its
    /// scores alone.
    pub(crate) fn fit_each(
        detector: &'static str,
        x: ArrayView2<f64>,
        combines: &[Combine],
        cancel: &Cancel,
    ) -> Result<(Tails, Vec<Vec<f64>>), DetectError> {
        check_matrix(detector, &x, 1)?;
        let (n, d) = x.dim();
        let tail = neg_ln_fractions(n, n as f64);
        let mut scores = vec![vec![0.0; n]; combines.len()];
        let mut sorted = Vec::with_capacity(d);
        let mut skew = Vec::with_capacity(d);
        let fit_column = |j: usize| {
            let pairs = sorted_with_positions(x.column(j));
            let values: Vec<f64> = pairs.iter().map(|p| from_order_key(p.0)).collect();
            let sign = skew_sign(&values);
            let mut columns = vec![vec![0.0; n]; combines.len()];
            // Walk runs of equal values: every member of a run [start, end) has
            // #{t <= v} = end and #{t >= v} = n - start.
            let mut start = 0;
            while start < n {
                let v = values[start];
                let mut end = start + 1;
                while end < n && values[end] == v {
                    end += 1;
                }
                for (column, combine) in columns.iter_mut().zip(combines) {
                    let o = combine.apply(tail[end], tail[n - start], sign);
                    for p in &pairs[start..end] {
                        column[p.1 as usize] = o;
                    }
                }
                start = end;
            }
            (values, sign, columns)
        };
        by_column_groups(d, cancel, fit_column, |_, (values, sign, columns)| {
            for (s, column) in scores.iter_mut().zip(&columns) {
                add_column(s, column);
            }
            sorted.push(values);
            skew.push(sign);
        })?;
        let new_tail = neg_ln_fractions(n + 1, (n + 1) as f64);
        Ok((
            Tails {
                sorted: std::sync::Arc::new(sorted),
                skew,
                new_tail,
            },
            scores,
        ))
    }

    /// Tail scores of the values of column `j` of a batch, one per row. A new value is
    /// counted as if it alone were added to the training column: `(#{t <= x} + 1) /
    /// (n + 1)`, so no probability is zero. The batch column is sorted and merged with
    /// the sorted training column, which is linear after the sort.
    fn column_scores(&self, j: usize, col: ndarray::ArrayView1<f64>, combine: Combine) -> Vec<f64> {
        let train = &self.sorted[j];
        let n = train.len();
        let pairs = sorted_with_positions(col);
        let mut out = vec![0.0; pairs.len()];
        let (mut lt, mut le) = (0, 0);
        let mut start = 0;
        while start < pairs.len() {
            let v = from_order_key(pairs[start].0);
            let mut end = start + 1;
            while end < pairs.len() && from_order_key(pairs[end].0) == v {
                end += 1;
            }
            lt = gallop(train, lt, |t| t < v);
            le = gallop(train, le.max(lt), |t| t <= v);
            let ul = self.new_tail[le + 1];
            let ur = self.new_tail[n - lt + 1];
            let o = combine.apply(ul, ur, self.skew[j]);
            for p in &pairs[start..end] {
                out[p.1 as usize] = o;
            }
            start = end;
        }
        out
    }

    /// Every column's tail scores of new rows, handed to `each(column, scores)` in column
    /// order (see [`by_column_groups`]).
    fn each_column_scores(
        &self,
        detector: &'static str,
        x: ArrayView2<f64>,
        combine: Combine,
        cancel: &Cancel,
        each: impl FnMut(usize, Vec<f64>),
    ) -> Result<(), DetectError> {
        check_score_input(detector, self.n_features(), &x)?;
        by_column_groups(
            x.ncols(),
            cancel,
            |j| self.column_scores(j, x.column(j), combine),
            each,
        )
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
        let mut out = Array2::<f64>::zeros(x.dim());
        self.each_column_scores(detector, x, combine, cancel, |j, c| {
            out.column_mut(j)
                .iter_mut()
                .zip(c)
                .for_each(|(o, v)| *o = v);
        })?;
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
        let mut out = vec![0.0; x.nrows()];
        self.each_column_scores(detector, x, combine, cancel, |_, c| {
            add_column(&mut out, &c)
        })?;
        Ok(out)
    }
}

impl Tails {
    /// Checks saved tails against `columns` features (see [`super::Saved::restore`]).
    pub(crate) fn check(&self, columns: usize) -> Result<(), String> {
        use super::ensure;
        let n = self.sorted.first().map_or(0, Vec::len);
        ensure(columns > 0 && self.sorted.len() == columns, "columns")?;
        ensure(self.skew.len() == columns, "skewness")?;
        ensure(
            n > 0 && self.sorted.iter().all(|c| c.len() == n),
            "training values",
        )?;
        ensure(self.new_tail.len() == n + 2, "tail table")?;
        ensure(
            self.sorted
                .iter()
                .all(|c| c.windows(2).all(|w| w[0] <= w[1])),
            "unsorted training values",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn galloping_finds_what_a_walk_finds() {
        // Runs of ties, gaps, both ends, and every start.
        let mut s: Vec<f64> = (0..300).map(|i| f64::from((i / 7) as u32) * 0.5).collect();
        s.extend([100.0, 100.0, 250.0]);
        let walk = |from: usize, pred: &dyn Fn(f64) -> bool| {
            let mut i = from;
            while i < s.len() && pred(s[i]) {
                i += 1;
            }
            i
        };
        let mut v = -1.0;
        while v < 260.0 {
            for from in 0..=s.len() {
                let lt = walk(from, &|t| t < v);
                assert_eq!(gallop(&s, from, |t| t < v), lt, "< {v} from {from}");
                let le = walk(from, &|t| t <= v);
                assert_eq!(gallop(&s, from, |t| t <= v), le, "<= {v} from {from}");
            }
            v += 0.25;
        }
        assert_eq!(gallop(&[], 0, |_| true), 0);
    }

    #[test]
    fn order_keys_sort_as_total_cmp_and_give_the_values_back() {
        let values = [
            -f64::INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -f64::from_bits(1),
            -0.0,
            0.0,
            f64::from_bits(1),
            1e-300,
            3.0,
            f64::MAX,
            f64::INFINITY,
        ];
        for (i, &a) in values.iter().enumerate() {
            assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
            for &b in &values {
                assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} {b}");
            }
            if i > 0 {
                assert!(order_key(values[i - 1]) < order_key(a));
            }
        }
    }
}
