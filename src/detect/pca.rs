//! PCA outlier score: Shyu, Chen, Sarinnapakorn, Chang, "A Novel Anomaly Detection Scheme
//! Based on Principal Component Classifier", ICDM Foundation and New Direction of Data
//! Mining workshop 2003. Follows PyOD's `pyod.models.pca.PCA` with its defaults
//! (`standardization=True`, all components, `n_selected_components=None`,
//! `weighted=True`), on top of scikit-learn's `PCA`.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input, CHUNK_ROWS};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "pca";

/// Components whose share of the variance is at most this are left out of the score: they
/// span directions in which the (standardized) training data does not vary at all, such
/// as a constant column or an exact linear dependence, and their computed eigenvalue is
/// rounding noise (PyOD divides by it anyway, which lets that noise dominate the score).
const MIN_VARIANCE_RATIO: f64 = 1e-12;

/// PCA detector as PyOD's `PCA()`: the training matrix is standardized (zero mean, unit
/// variance, constant columns left unscaled as scikit-learn's `StandardScaler`), the
/// principal axes are the eigenvectors of its covariance matrix (signs fixed as
/// scikit-learn's `svd_flip`: the largest-magnitude entry of each axis is positive), and
/// a row `z` scores `Σ_j ‖z − v_j‖ / r_j` over the axes `v_j` with explained variance
/// ratio `r_j`. This is PyOD's exact formula (`cdist(X, components_) /
/// explained_variance_ratio_`: the Euclidean distance of the row to each unit axis
/// vector, not the squared projection of the textbook method), so that the ranks match.
///
/// The eigen-decomposition of the small d × d covariance matrix is done here with cyclic
/// Jacobi rotations, which needs no BLAS/LAPACK and is accurate for symmetric matrices.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Pca {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Retained axes, one per row (d columns).
    axes: Vec<Vec<f64>>,
    /// Explained variance ratio of each retained axis.
    ratios: Vec<f64>,
}

/// Eigenvalues (descending) and eigenvectors (as rows, same order) of the symmetric
/// matrix `a` (d × d), by cyclic Jacobi rotations.
pub(crate) fn symmetric_eigen(a: &Array2<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = a.nrows();
    let mut m = a.clone();
    let mut v = Array2::<f64>::eye(d);
    for _sweep in 0..100 {
        let mut off = 0.0;
        let mut diag = 0.0;
        for p in 0..d {
            diag += m[[p, p]] * m[[p, p]];
            for q in p + 1..d {
                off += m[[p, q]] * m[[p, q]];
            }
        }
        if off <= 1e-30 * diag || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[[p, q]];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[[q, q]] - m[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let mkp = m[[k, p]];
                    let mkq = m[[k, q]];
                    m[[k, p]] = c * mkp - s * mkq;
                    m[[k, q]] = s * mkp + c * mkq;
                }
                for k in 0..d {
                    let mpk = m[[p, k]];
                    let mqk = m[[q, k]];
                    m[[p, k]] = c * mpk - s * mqk;
                    m[[q, k]] = s * mpk + c * mqk;
                }
                for k in 0..d {
                    let vkp = v[[k, p]];
                    let vkq = v[[k, q]];
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| m[[j, j]].total_cmp(&m[[i, i]]));
    let values = order.iter().map(|&i| m[[i, i]]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..d).map(|k| v[[k, i]]).collect())
        .collect();
    (values, vectors)
}

/// scikit-learn's `_is_constant_feature`: a variance within rounding of zero.
fn is_constant(var: f64, mean: f64, n: f64) -> bool {
    let eps = f64::EPSILON;
    var <= n * eps * var + (n * mean * eps) * (n * mean * eps)
}

impl Pca {
    /// An unfitted PCA detector with PyOD's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    fn fitted_columns(&self) -> Option<usize> {
        if self.mean.is_empty() {
            None
        } else {
            Some(self.mean.len())
        }
    }

    #[inline]
    fn row_score(&self, row: ndarray::ArrayView1<f64>, z: &mut [f64]) -> f64 {
        for (k, (&v, zk)) in row.iter().zip(z.iter_mut()).enumerate() {
            *zk = (v - self.mean[k]) / self.scale[k];
        }
        self.axes
            .iter()
            .zip(&self.ratios)
            .map(|(axis, r)| {
                let d2: f64 = z.iter().zip(axis).map(|(a, b)| (a - b) * (a - b)).sum();
                d2.sqrt() / r
            })
            .sum()
    }
}

impl Detector for Pca {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Pca(self.clone())
    }

    /// Fits the axes and returns the training scores (`score` on the training matrix
    /// gives the same values, as in PyOD).
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.fit_model(x, cancel)?;
        self.score(x, cancel)
    }

    fn fit_model(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<bool, DetectError> {
        check_matrix(NAME, &x, 2)?;
        super::input::check_width(NAME, &x)?;
        let (n, d) = x.dim();
        let nf = n as f64;
        // Column means and (population) variances, as StandardScaler.
        let mut mean = vec![0.0; d];
        for row in x.outer_iter() {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= nf);
        cancel.check()?;
        let mut var = vec![0.0; d];
        for row in x.outer_iter() {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let scale: Vec<f64> = var
            .iter()
            .zip(&mean)
            .map(|(&s, &m)| {
                let v = s / nf;
                if is_constant(v, m, nf) {
                    1.0
                } else {
                    v.sqrt()
                }
            })
            .collect();
        cancel.check()?;
        // Covariance of the standardized matrix (centred again, as scikit-learn's PCA),
        // accumulated in parallel over row chunks.
        let standardize = |i: usize, k: usize| (x[[i, k]] - mean[k]) / scale[k];
        let zmean: Vec<f64> = (0..d)
            .map(|k| (0..n).map(|i| standardize(i, k)).sum::<f64>() / nf)
            .collect();
        let chunks: Vec<usize> = (0..n).step_by(CHUNK_ROWS).collect();
        let partial: Result<Vec<Vec<f64>>, DetectError> = chunks
            .par_iter()
            .map(|&start| {
                cancel.check()?;
                let mut acc = vec![0.0; d * d];
                let mut z = vec![0.0; d];
                for i in start..(start + CHUNK_ROWS).min(n) {
                    for k in 0..d {
                        z[k] = standardize(i, k) - zmean[k];
                    }
                    for a in 0..d {
                        for b in a..d {
                            acc[a * d + b] += z[a] * z[b];
                        }
                    }
                }
                Ok(acc)
            })
            .collect();
        let mut cov = Array2::<f64>::zeros((d, d));
        for acc in partial? {
            for a in 0..d {
                for b in a..d {
                    cov[[a, b]] += acc[a * d + b];
                }
            }
        }
        for a in 0..d {
            for b in a..d {
                let c = cov[[a, b]] / (nf - 1.0);
                cov[[a, b]] = c;
                cov[[b, a]] = c;
            }
        }
        let (values, vectors) = symmetric_eigen(&cov);
        let values: Vec<f64> = values.into_iter().map(|v| v.max(0.0)).collect();
        let total: f64 = values.iter().sum();
        let mut axes = Vec::new();
        let mut ratios = Vec::new();
        if total > 0.0 {
            for (value, mut axis) in values.into_iter().zip(vectors) {
                let ratio = value / total;
                if ratio <= MIN_VARIANCE_RATIO {
                    continue;
                }
                // svd_flip(u_based_decision=False): largest |entry| made positive.
                let mut big = 0;
                for (k, a) in axis.iter().enumerate() {
                    if a.abs() > axis[big].abs() {
                        big = k;
                    }
                }
                if axis[big] < 0.0 {
                    axis.iter_mut().for_each(|a| *a = -*a);
                }
                axes.push(axis);
                ratios.push(ratio);
            }
        }
        self.mean = mean;
        self.scale = scale;
        self.axes = axes;
        self.ratios = ratios;
        Ok(true)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        check_score_input(NAME, self.fitted_columns(), &x)?;
        let d = x.ncols();
        let mut out = vec![0.0; x.nrows()];
        out.par_chunks_mut(CHUNK_ROWS).enumerate().try_for_each(
            |(c, chunk)| -> Result<(), DetectError> {
                cancel.check()?;
                let mut z = vec![0.0; d];
                for (r, o) in chunk.iter_mut().enumerate() {
                    *o = self.row_score(x.row(c * CHUNK_ROWS + r), &mut z);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }
}

impl Pca {
    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(self, columns: usize) -> Result<Self, String> {
        use super::ensure;
        ensure(columns > 0, "no columns")?;
        ensure(
            self.mean.len() == columns && self.scale.len() == columns,
            "centre",
        )?;
        ensure(self.axes.iter().all(|a| a.len() == columns), "axes")?;
        ensure(self.ratios.len() == self.axes.len(), "ratios")?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::input::testdata::{argmax, cloud_with_outlier};
    use ndarray::{array, Array2};

    #[test]
    fn jacobi_diagonalizes() {
        let a = array![[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
        let (values, vectors) = symmetric_eigen(&a);
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        for (l, v) in values.iter().zip(&vectors) {
            for i in 0..3 {
                let av: f64 = (0..3).map(|k| a[[i, k]] * v[k]).sum();
                assert!((av - l * v[i]).abs() < 1e-12);
            }
        }
        let trace: f64 = values.iter().sum();
        assert!((trace - 8.0).abs() < 1e-12);
    }

    #[test]
    fn far_point_scores_highest() {
        let x = cloud_with_outlier(400, 3, 1);
        let mut d = Pca::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 399);
    }

    #[test]
    fn constant_column_and_identical_rows() {
        let mut x = cloud_with_outlier(100, 3, 2);
        x.column_mut(1).fill(3.0);
        let mut d = Pca::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert_eq!(argmax(&s), 99);
        let same = Array2::from_elem((50, 3), 1.5);
        let s = Pca::new().fit(same.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|&v| v == s[0] && v.is_finite()));
    }

    #[test]
    fn fit_and_score_agree() {
        let x = cloud_with_outlier(300, 4, 3);
        let mut d = Pca::new();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(s, d.score(x.view(), &Cancel::new()).unwrap());
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = Pca::new();
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((1, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((3, 0)).view(), &c).is_err());
        assert!(d.fit(array![[1.0], [f64::NAN]].view(), &c).is_err());
        d.fit(Array2::zeros((5, 2)).view(), &c).unwrap();
        assert!(d.score(Array2::zeros((2, 3)).view(), &c).is_err());
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_outlier(300, 3, 4);
        let a = Pca::new().fit(x.view(), &Cancel::new()).unwrap();
        let b = Pca::new().fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
