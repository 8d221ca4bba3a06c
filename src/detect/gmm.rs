//! Gaussian mixture outlier score: the negative log-likelihood of a row under a Gaussian
//! mixture fitted by expectation-maximisation (Dempster, Laird, Rubin 1977). Follows
//! PyOD's `pyod.models.gmm.GMM` (`decision_scores_ = -score_samples(X)` of
//! scikit-learn's `GaussianMixture`: full covariances, `reg_covar=1e-6`, `tol=1e-3`,
//! `max_iter=100`, responsibilities initialised from one k-means run).
//!
//! The k-means initialisation is linfa-clustering's `KMeans`. The EM loop is written here
//! rather than taken from linfa-clustering's `GaussianMixtureModel`: linfa 0.8.1 computes
//! the E-step normaliser as `ln Σ_k exp(log p_k)` without shifting by the largest term, so
//! a row whose log-density is below about −745 under every component (any far outlier:
//! a squared Mahalanobis distance of a few thousand) yields `-inf`, NaN responsibilities
//! and a failed fit. That happens on real connection features, including the reference
//! matrix with a single component. Here the E-step uses a log-sum-exp, as scikit-learn.

use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::{ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input, input, CHUNK_ROWS};
use super::{DetectError, Detector};
use crate::cancel::Cancel;
use crate::neighbors::row_major;

const NAME: &str = "gmm";

/// Gaussian mixture detector, as PyOD's `GMM(n_components=1, covariance_type='full',
/// reg_covar=1e-6, tol=1e-3, max_iter=100)`: a row scores its negative log-likelihood
/// `-ln Σ_k w_k N(x | μ_k, Σ_k)` (a log-sum-exp over components).
///
/// EM stops when the mean log-likelihood changes by less than `tol`, or after
/// `max_iter` iterations (keeping the last parameters, as scikit-learn does after its
/// convergence warning); the cancel flag is checked at every iteration. A covariance that
/// stays singular despite `reg_covar` is a [`DetectError::Input`]; so is asking for more
/// components than there are distinct rows. A constant column only needs `reg_covar` to
/// keep the covariance positive definite.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Gmm {
    /// Number of mixture components (PyOD default 1).
    pub n_components: usize,
    /// Added to the diagonal of every covariance (PyOD default 1e-6).
    pub reg_covar: f64,
    /// Convergence threshold on the change of the mean log-likelihood (default 1e-3).
    pub tol: f64,
    /// Maximum EM iterations (default 100).
    pub max_iter: u64,
    /// Seed of the k-means initialisation.
    pub seed: u64,
    components: Vec<Component>,
}

/// One component: `ln w - d/2 ln 2π - 1/2 ln det Σ`, the mean, and the inverse `P = L⁻¹`
/// of the lower Cholesky factor `L` of the covariance (lower triangular, row-major), so
/// the Mahalanobis term is `‖P(x − μ)‖²` (scikit-learn's `precisions_cholesky_`, which
/// is `Pᵀ`): a product of independent terms per row, where solving with `L` would chain
/// a division per column.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Component {
    log_norm: f64,
    mean: Vec<f64>,
    prec: Vec<f64>,
}

impl Default for Gmm {
    fn default() -> Self {
        Self::new(1, 42)
    }
}

/// Lower Cholesky factor (row-major) of the symmetric positive-definite `a` (d × d).
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Inverse (row-major, lower triangular) of the lower triangular `l` (d × d) with a
/// positive diagonal, column by column by forward substitution.
fn lower_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut p = vec![0.0; d * d];
    for j in 0..d {
        p[j * d + j] = 1.0 / l[j * d + j];
        for i in j + 1..d {
            let s: f64 = (j..i).map(|m| l[i * d + m] * p[m * d + j]).sum();
            p[i * d + j] = -s / l[i * d + i];
        }
    }
    p
}

/// Whether `x` has at least `k` distinct rows (stops early).
fn has_distinct_rows(x: &ArrayView2<f64>, k: usize) -> bool {
    let mut seen: Vec<ArrayView1<f64>> = Vec::with_capacity(k);
    for row in x.outer_iter() {
        if !seen.contains(&row) {
            seen.push(row);
            if seen.len() >= k {
                return true;
            }
        }
    }
    false
}

impl Component {
    /// `ln w + ln N(row | μ, Σ)`; `z` is scratch of length d.
    #[inline]
    fn weighted_log_prob(&self, row: &[f64], z: &mut [f64]) -> f64 {
        let d = z.len();
        for ((zi, &xi), &mi) in z.iter_mut().zip(row).zip(&self.mean) {
            *zi = xi - mi;
        }
        // y = P z, row by row of P's lower triangle.
        let mut q = 0.0;
        for i in 0..d {
            let prow = &self.prec[i * d..=i * d + i];
            let y: f64 = prow.iter().zip(&z[..=i]).map(|(a, b)| a * b).sum();
            q += y * y;
        }
        self.log_norm - 0.5 * q
    }
}

/// `ln Σ exp(t)`, shifted by the largest term.
fn log_sum_exp(t: &[f64]) -> f64 {
    if let [only] = t {
        // What the sum below gives for one term that is not NaN (`m + ln(exp(0))`),
        // without its cost.
        return *only;
    }
    let m = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + t.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Row ranges of the parallel passes.
fn chunks(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .step_by(CHUNK_ROWS)
        .map(|s| (s, (s + CHUNK_ROWS).min(n)))
        .collect()
}

impl Gmm {
    /// An unfitted detector with `n_components` components and the given k-means seed,
    /// other parameters as PyOD's defaults.
    pub fn new(n_components: usize, seed: u64) -> Self {
        Gmm {
            n_components,
            reg_covar: 1e-6,
            tol: 1e-3,
            max_iter: 100,
            seed,
            components: Vec::new(),
        }
    }

    fn fitted_columns(&self) -> Option<usize> {
        self.components.first().map(|c| c.mean.len())
    }

    /// Initial responsibilities (n × k, row-major): one-hot k-means labels.
    fn initial_resp(&self, x: &ArrayView2<f64>) -> Result<Vec<f64>, DetectError> {
        let (n, k) = (x.nrows(), self.n_components);
        if k == 1 {
            return Ok(vec![1.0; n]);
        }
        let dataset = DatasetBase::from(*x);
        let rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        // linfa asserts inside its k-means++ seeding on some degenerate inputs; a panic
        // there becomes an input error rather than taking the caller down.
        let labels = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            KMeans::params_with_rng(k, rng)
                .n_runs(1)
                .fit(&dataset)
                .map(|m| m.predict(x))
        }))
        .map_err(|_| input(NAME, "k-means initialisation failed".to_string()))?
        .map_err(|e| input(NAME, format!("k-means initialisation failed: {e}")))?;
        let mut resp = vec![0.0; n * k];
        for (i, &l) in labels.iter().enumerate() {
            resp[i * k + l.min(k - 1)] = 1.0;
        }
        Ok(resp)
    }

    /// M-step: components from responsibilities `resp` (n × k).
    fn m_step(
        &self,
        x: &ArrayView2<f64>,
        resp: &[f64],
        cancel: &Cancel,
    ) -> Result<Vec<Component>, DetectError> {
        let (n, d) = x.dim();
        let k = self.n_components;
        let parts = chunks(n);
        let flat = row_major(*x);
        let flat = &flat[..];
        // Pass 1: Σ r and Σ r x per component.
        let sums: Result<Vec<Vec<f64>>, DetectError> = parts
            .par_iter()
            .map(|&(a, b)| {
                cancel.check()?;
                let mut acc = vec![0.0; k * (d + 1)];
                for i in a..b {
                    let row = &flat[i * d..(i + 1) * d];
                    for c in 0..k {
                        let r = resp[i * k + c];
                        let dst = &mut acc[c * (d + 1)..(c + 1) * (d + 1)];
                        dst[0] += r;
                        for (t, v) in dst[1..].iter_mut().zip(row) {
                            *t += r * v;
                        }
                    }
                }
                Ok(acc)
            })
            .collect();
        let mut tot = vec![0.0; k * (d + 1)];
        for acc in sums? {
            tot.iter_mut().zip(acc).for_each(|(t, a)| *t += a);
        }
        // As scikit-learn: nk gets 10 machine epsilons so an empty component divides safely.
        let nk: Vec<f64> = (0..k)
            .map(|c| tot[c * (d + 1)] + 10.0 * f64::EPSILON)
            .collect();
        let means: Vec<Vec<f64>> = (0..k)
            .map(|c| {
                tot[c * (d + 1) + 1..(c + 1) * (d + 1)]
                    .iter()
                    .map(|s| s / nk[c])
                    .collect()
            })
            .collect();
        // Pass 2: centred second moments (upper triangle).
        let covs: Result<Vec<Vec<f64>>, DetectError> = parts
            .par_iter()
            .map(|&(a, b)| {
                cancel.check()?;
                let mut acc = vec![0.0; k * d * d];
                let mut z = vec![0.0; d];
                for i in a..b {
                    let row = &flat[i * d..(i + 1) * d];
                    for c in 0..k {
                        let r = resp[i * k + c];
                        if r == 0.0 {
                            continue;
                        }
                        for ((zj, &v), m) in z.iter_mut().zip(row.iter()).zip(&means[c]) {
                            *zj = v - m;
                        }
                        let dst = &mut acc[c * d * d..(c + 1) * d * d];
                        for p in 0..d {
                            let rp = r * z[p];
                            for q in p..d {
                                dst[p * d + q] += rp * z[q];
                            }
                        }
                    }
                }
                Ok(acc)
            })
            .collect();
        let mut cov = vec![0.0; k * d * d];
        for acc in covs? {
            cov.iter_mut().zip(acc).for_each(|(t, a)| *t += a);
        }
        let half_log_2pi = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        let mut components = Vec::with_capacity(k);
        for (c, mean) in means.into_iter().enumerate() {
            let m = &mut cov[c * d * d..(c + 1) * d * d];
            for p in 0..d {
                for q in p..d {
                    let v = m[p * d + q] / nk[c] + if p == q { self.reg_covar } else { 0.0 };
                    m[p * d + q] = v;
                    m[q * d + p] = v;
                }
            }
            let chol = cholesky(m, d).ok_or_else(|| {
                input(
                    NAME,
                    format!(
                        "component {c} has a singular covariance matrix; \
                         increase reg_covar or use fewer components"
                    ),
                )
            })?;
            let half_log_det: f64 = (0..d).map(|i| chol[i * d + i].ln()).sum();
            let prec = lower_inverse(&chol, d);
            let log_norm = (nk[c] / n as f64).ln() - half_log_2pi - half_log_det;
            if !log_norm.is_finite() || mean.iter().any(|v| !v.is_finite()) {
                return Err(input(
                    NAME,
                    "the mixture fit produced non-finite parameters".to_string(),
                ));
            }
            components.push(Component {
                log_norm,
                mean,
                prec,
            });
        }
        Ok(components)
    }

    /// E-step: writes the responsibilities and returns the mean log-likelihood.
    fn e_step(
        components: &[Component],
        x: &ArrayView2<f64>,
        resp: &mut [f64],
        cancel: &Cancel,
    ) -> Result<f64, DetectError> {
        let (n, d) = x.dim();
        let k = components.len();
        let flat = row_major(*x);
        let total: Result<Vec<f64>, DetectError> = resp
            .par_chunks_mut(CHUNK_ROWS * k)
            .enumerate()
            .map(|(ci, chunk)| {
                cancel.check()?;
                let mut z = vec![0.0; d];
                let mut sum = 0.0;
                for (r, dst) in chunk.chunks_mut(k).enumerate() {
                    let i = ci * CHUNK_ROWS + r;
                    let row = &flat[i * d..(i + 1) * d];
                    for (t, c) in dst.iter_mut().zip(components) {
                        *t = c.weighted_log_prob(row, &mut z);
                    }
                    let lse = log_sum_exp(dst);
                    dst.iter_mut().for_each(|t| *t = (*t - lse).exp());
                    sum += lse;
                }
                Ok(sum)
            })
            .collect();
        Ok(total?.iter().sum::<f64>() / n as f64)
    }
}

impl Detector for Gmm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Gmm(self.clone())
    }

    /// Fits the mixture and returns the training scores (`score` on the training matrix
    /// gives the same values, as in PyOD).
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.fit_model(x, cancel)?;
        self.score(x, cancel)
    }

    fn fit_model(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<bool, DetectError> {
        let k = self.n_components;
        if k == 0 {
            return Err(input(NAME, "n_components must be at least 1".to_string()));
        }
        if !(self.reg_covar >= 0.0 && self.tol > 0.0 && self.max_iter > 0) {
            return Err(input(
                NAME,
                "reg_covar must be >= 0, tol > 0 and max_iter > 0".to_string(),
            ));
        }
        check_matrix(NAME, &x, k.max(2))?;
        super::input::check_width(NAME, &x)?;
        if k > 1 && !has_distinct_rows(&x, k) {
            return Err(input(
                NAME,
                format!("fewer than {k} distinct rows for {k} components"),
            ));
        }
        cancel.check()?;
        // In row-major order once, so that every EM step reads its rows in place.
        let x = x.as_standard_layout();
        let x = x.view();
        let mut resp = self.initial_resp(&x)?;
        let mut components = self.m_step(&x, &resp, cancel)?;
        let mut lower_bound = f64::NEG_INFINITY;
        // One component takes every row whole at every step: the first M-step is already
        // the fixed point EM would reach (the maximum-likelihood mean and covariance).
        let iterations = if k == 1 { 0 } else { self.max_iter };
        for _ in 0..iterations {
            cancel.check()?;
            let prev = lower_bound;
            lower_bound = Self::e_step(&components, &x, &mut resp, cancel)?;
            components = self.m_step(&x, &resp, cancel)?;
            if (lower_bound - prev).abs() < self.tol {
                break;
            }
        }
        self.components = components;
        Ok(true)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        check_score_input(NAME, self.fitted_columns(), &x)?;
        let d = x.ncols();
        let flat = row_major(x);
        let mut out = vec![0.0; x.nrows()];
        out.par_chunks_mut(CHUNK_ROWS).enumerate().try_for_each(
            |(c, chunk)| -> Result<(), DetectError> {
                cancel.check()?;
                let mut z = vec![0.0; d];
                let mut t = vec![0.0; self.components.len()];
                for (r, o) in chunk.iter_mut().enumerate() {
                    let i = c * CHUNK_ROWS + r;
                    let row = &flat[i * d..(i + 1) * d];
                    for (ti, comp) in t.iter_mut().zip(&self.components) {
                        *ti = comp.weighted_log_prob(row, &mut z);
                    }
                    *o = -log_sum_exp(&t);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }
}

impl Gmm {
    /// A saved detector, checked (see [`super::Saved::restore`]).
    pub(crate) fn restore(self, columns: usize) -> Result<Self, String> {
        super::ensure(!self.components.is_empty(), "no components")?;
        super::ensure(
            self.components
                .iter()
                .all(|c| c.mean.len() == columns && c.prec.len() == columns * columns),
            "component shapes",
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
    fn one_component_is_the_gaussian_likelihood() {
        // Two independent columns with known mean and variance.
        let x = array![[0.0, 1.0], [2.0, 1.0], [0.0, 3.0], [2.0, 3.0]];
        let mut d = Gmm::new(1, 0);
        d.reg_covar = 0.0;
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        // Mean (1, 2), covariance diag(1, 1): every row is at Mahalanobis distance² 2.
        let want = (2.0 * std::f64::consts::PI).ln() + 1.0;
        for v in &s {
            assert!((v - want).abs() < 1e-9, "{s:?}");
        }
    }

    #[test]
    fn correlated_columns_score_their_mahalanobis_distance() {
        // Rows whose covariance (maximum likelihood, divided by n) is [[2, 1], [1, 2]]
        // around the mean (0, 0): the score is ln 2π + ½ ln det Σ + ½ zᵀ Σ⁻¹ z, with
        // det Σ = 3 and Σ⁻¹ = [[2, −1], [−1, 2]] / 3, computed here in closed form.
        // Rows of covariance I times the symmetric square root of Σ.
        let white = array![[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]];
        let (p, m) = ((3f64.sqrt() + 1.0) / 2.0, (3f64.sqrt() - 1.0) / 2.0);
        let x = white.dot(&array![[p, m], [m, p]]);
        let mut d = Gmm::new(1, 0);
        d.reg_covar = 0.0;
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        for (row, v) in x.rows().into_iter().zip(&s) {
            let (a, b) = (row[0], row[1]);
            let q = (2.0 * a * a - 2.0 * a * b + 2.0 * b * b) / 3.0;
            let want = (2.0 * std::f64::consts::PI).ln() + 0.5 * 3f64.ln() + 0.5 * q;
            assert!((v - want).abs() < 1e-9, "{v} vs {want}");
        }
    }

    #[test]
    fn inverse_of_a_lower_factor() {
        let l = [2.0, 0.0, 0.0, -1.0, 0.5, 0.0, 3.0, 4.0, 1.5];
        let p = lower_inverse(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|m| p[i * 3 + m] * l[m * 3 + j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12, "{p:?}");
            }
            assert!(p[i * 3 + i + 1..(i + 1) * 3].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn far_point_scores_highest() {
        let x = cloud_with_outlier(400, 3, 1);
        let mut d = Gmm::new(1, 7);
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 399);
        // Two clusters and a point far from both.
        let mut y = cloud_with_outlier(400, 2, 5);
        for i in 0..200 {
            y[[i, 0]] += 20.0;
        }
        y.row_mut(399).assign(&ndarray::array![10.0, 10.0]);
        let s = Gmm::new(2, 7).fit(y.view(), &Cancel::new()).unwrap();
        assert_eq!(argmax(&s), 399);
    }

    #[test]
    fn constant_column_and_identical_rows() {
        let mut x = cloud_with_outlier(100, 3, 2);
        x.column_mut(1).fill(3.0);
        let mut d = Gmm::default();
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert_eq!(argmax(&s), 99);
        let same = Array2::from_elem((50, 3), 1.5);
        let s = Gmm::default().fit(same.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|&v| v == s[0] && v.is_finite()));
        assert!(Gmm::new(3, 0).fit(same.view(), &Cancel::new()).is_err());
    }

    #[test]
    fn fit_and_score_agree() {
        let x = cloud_with_outlier(300, 4, 3);
        let mut d = Gmm::new(2, 1);
        let s = d.fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(s, d.score(x.view(), &Cancel::new()).unwrap());
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = Gmm::default();
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((0, 2)).view(), &c).is_err());
        assert!(d.fit(Array2::zeros((3, 0)).view(), &c).is_err());
        assert!(d.fit(array![[1.0], [f64::NAN]].view(), &c).is_err());
        assert!(Gmm::new(0, 0)
            .fit(Array2::zeros((5, 2)).view(), &c)
            .is_err());
        d.fit(Array2::zeros((5, 2)).view(), &c).unwrap();
        c.cancel();
        assert_eq!(
            Gmm::default().fit(Array2::zeros((5, 2)).view(), &c),
            Err(DetectError::Cancelled)
        );
        let c = Cancel::new();
        assert!(d.score(Array2::zeros((2, 3)).view(), &c).is_err());
    }

    #[test]
    fn survives_rows_whose_density_underflows() {
        // A point at a squared Mahalanobis distance of ~10^5: exp(log p) underflows.
        let mut x = cloud_with_outlier(2000, 2, 6);
        x.row_mut(1999).fill(1e3);
        let s = Gmm::default().fit(x.view(), &Cancel::new()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert_eq!(argmax(&s), 1999);
    }

    #[test]
    fn deterministic() {
        let x = cloud_with_outlier(300, 3, 4);
        let a = Gmm::new(3, 9).fit(x.view(), &Cancel::new()).unwrap();
        let b = Gmm::new(3, 9).fit(x.view(), &Cancel::new()).unwrap();
        assert_eq!(a, b);
    }
}
