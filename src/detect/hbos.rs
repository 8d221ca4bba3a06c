//! HBOS: Goldstein, Dengel, "Histogram-based Outlier Score (HBOS): A fast Unsupervised
//! Anomaly Detection Algorithm", KI 2012. Follows PyOD's `pyod.models.hbos.HBOS` with its
//! defaults (static bins): per feature a density histogram of `n_bins` equal-width bins
//! (numpy's `histogram(density=True)`), a value scores `log2(density + alpha)` of its bin,
//! and the row score is minus the sum over features.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input, input, CHUNK_ROWS};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "hbos";

/// HBOS detector (Goldstein & Dengel 2012), as PyOD's `HBOS(n_bins=10, alpha=0.1,
/// tol=0.5)`.
///
/// Bin assignment follows PyOD's `np.digitize(x, edges, right=True)`: bin `i` is
/// `(e_i, e_{i+1}]`, and a value equal to the lowest edge falls "left of the bins". A
/// value outside the edges by at most `tol` bin widths gets the nearest edge bin's score;
/// further out it gets the lowest score of all bins. Scores are `-Σ log2(density + alpha)`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Hbos {
    /// Number of equal-width bins per feature (PyOD default 10).
    pub n_bins: usize,
    /// Added to every density before the logarithm (PyOD default 0.1).
    pub alpha: f64,
    /// Fraction of a bin width within which an out-of-range value still counts in the
    /// edge bin (PyOD default 0.5).
    pub tol: f64,
    columns: Vec<Column>,
}

/// One fitted feature: its bin edges and the `log2(density + alpha)` of every bin.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Column {
    edges: Vec<f64>,
    log_density: Vec<f64>,
    min_log_density: f64,
}

impl Default for Hbos {
    fn default() -> Self {
        Self::new(10, 0.1, 0.5)
    }
}

/// numpy's `linspace(start, stop, num)` with `endpoint=True`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let step = (stop - start) / div;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

impl Column {
    /// numpy's `histogram(col, bins=n_bins, density=True)` for equal-width bins.
    fn fit(col: &[f64], n_bins: usize, alpha: f64) -> Column {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in col {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo == hi {
            lo -= 0.5;
            hi += 0.5;
        }
        let edges = linspace(lo, hi, n_bins + 1);
        let mut counts = vec![0usize; n_bins];
        let norm = n_bins as f64 / (hi - lo);
        for &v in col {
            // As numpy: a first guess from the position, corrected against the edges;
            // bin i is [e_i, e_{i+1}) and the last bin is closed.
            let mut i = (((v - lo) * norm) as usize).min(n_bins - 1);
            if v < edges[i] && i > 0 {
                i -= 1;
            } else if i + 1 < n_bins && v >= edges[i + 1] {
                i += 1;
            }
            counts[i] += 1;
        }
        let total = col.len() as f64;
        let log_density: Vec<f64> = counts
            .iter()
            .zip(edges.windows(2))
            .map(|(&c, e)| (c as f64 / (e[1] - e[0]) / total + alpha).log2())
            .collect();
        let min_log_density = log_density.iter().copied().fold(f64::INFINITY, f64::min);
        Column {
            edges,
            log_density,
            min_log_density,
        }
    }

    /// `log2(density + alpha)` for value `v`, as PyOD's `_calculate_outlier_scores`.
    #[inline]
    fn log_density(&self, v: f64, tol: f64) -> f64 {
        let n_bins = self.log_density.len();
        let e = &self.edges;
        // np.digitize(right=True): the number of edges strictly below v.
        let b = e.partition_point(|&t| t < v);
        if b == 0 {
            if e[0] - v <= (e[1] - e[0]) * tol {
                self.log_density[0]
            } else {
                self.min_log_density
            }
        } else if b == n_bins + 1 {
            if v - e[n_bins] <= (e[n_bins] - e[n_bins - 1]) * tol {
                self.log_density[n_bins - 1]
            } else {
                self.min_log_density
            }
        } else {
            self.log_density[b - 1]
        }
    }
}

impl Hbos {
    /// An unfitted HBOS detector with the given number of bins, `alpha` and `tol`.
    pub fn new(n_bins: usize, alpha: f64, tol: f64) -> Self {
        Hbos {
            n_bins,
            alpha,
            tol,
            columns: Vec::new(),
        }
    }

    fn fitted_columns(&self) -> Option<usize> {
        if self.columns.is_empty() {
            None
        } else {
            Some(self.columns.len())
        }
    }
}

impl Detector for Hbos {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Hbos(self.clone())
    }

    /// Builds the histograms and returns the training scores (PyOD scores the training
    /// matrix with the same rule as new rows, so `fit` and `score` agree on it).
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.fit_model(x, cancel)?;
        self.score(x, cancel)
    }

    fn fit_model(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<bool, DetectError> {
        if self.n_bins == 0 {
            return Err(input(NAME, "n_bins must be at least 1".to_string()));
        }
        if !(self.alpha > 0.0 && self.tol >= 0.0 && self.alpha.is_finite()) {
            return Err(input(
                NAME,
                "alpha must be > 0 and tol must be >= 0".to_string(),
            ));
        }
        check_matrix(NAME, &x, 1)?;
        let columns: Result<Vec<Column>, DetectError> = (0..x.ncols())
            .into_par_iter()
            .map(|j| {
                cancel.check()?;
                let values: Vec<f64> = x.column(j).iter().copied().collect();
                Ok(Column::fit(&values, self.n_bins, self.alpha))
            })
            .collect();
        self.columns = columns?;
        Ok(true)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        check_score_input(NAME, self.fitted_columns(), &x)?;
        let mut out = vec![0.0; x.nrows()];
        out.par_chunks_mut(CHUNK_ROWS).enumerate().try_for_each(
            |(c, chunk)| -> Result<(), DetectError> {
                cancel.check()?;
                for (r, o) in chunk.iter_mut().enumerate() {
                    let row = x.row(c * CHUNK_ROWS + r);
                    let s: f64 = row
                        .iter()
                        .zip(&self.columns)
                        .map(|(&v, col)| col.log_density(v, self.tol))
                        .sum();
                    *o = -s;
                }
                Ok(())
            },
        )?;
        Ok(out)
    }
}

impl Hbos {
    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(self, columns: usize) -> Result<Self, String> {
        super::ensure(self.columns.len() == columns && columns > 0, "columns")?;
        super::ensure(
            self.columns
                .iter()
                .all(|c| !c.log_density.is_empty() && c.edges.len() == c.log_density.len() + 1),
            "bins",
        )?;
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
        let mut x = cloud_with_outlier(400, 3, 1);
        // Keep the outlier inside the range but in an empty region.
        x.row_mut(399).fill(-2.9);
        x.row_mut(398).fill(8.0);
        let mut d = Hbos::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(argmax(&s) >= 398);
        // Far outside the fitted range: the lowest density of the column.
        let far = array![[100.0, 100.0, 100.0]];
        let f = d.score(far.view(), &Cancel::new()).unwrap();
        assert!(f[0] >= s.iter().copied().fold(f64::MIN, f64::max));
    }

    #[test]
    fn hand_computed_scores() {
        // 10 values 0..9 in 10 bins of width 0.9: each bin holds one value, density
        // 1/(10 * 0.9); the value 0 sits on the lowest edge and still gets bin 0.
        let x = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
        let s = Hbos::default().fit(x.view(), &Cancel::new()).unwrap();
        let want = -(1.0f64 / 9.0 + 0.1).log2();
        for v in &s {
            assert!((v - want).abs() < 1e-12, "{s:?}");
        }
    }

    #[test]
    fn constant_column_and_identical_rows() {
        let mut x = cloud_with_outlier(100, 2, 2);
        x.column_mut(1).fill(3.0);
        let mut d = Hbos::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        let same = Array2::from_elem((50, 3), 1.5);
        let s = Hbos::default().fit(same.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|&v| v == s[0] && v.is_finite()));
    }

    #[test]
    fn fit_and_score_agree() {
        let x = cloud_with_outlier(300, 4, 3);
        let mut d = Hbos::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(s, d.score(x.view(), &Cancel::new()).unwrap());
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = Hbos::default();
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((3, 0)).view(), &c).is_err());
        assert!(d.fit(array![[1.0], [f64::NAN]].view(), &c).is_err());
        d.fit(Array2::zeros((5, 2)).view(), &c).unwrap();
        assert!(d.score(Array2::zeros((2, 3)).view(), &c).is_err());
        assert!(Hbos::new(0, 0.1, 0.5)
            .fit(Array2::zeros((5, 2)).view(), &c)
            .is_err());
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_outlier(300, 3, 4);
        let a = Hbos::default().fit(x.view(), &Cancel::new()).unwrap();
        let b = Hbos::default().fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
