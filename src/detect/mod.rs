//! Outlier detectors. Each detector lives in its own file and implements [`Detector`]:
//! `fit` on a training matrix (returning the training scores, as PyOD's
//! `decision_scores_`), then `score` any matrix with the same columns. Higher scores are
//! more anomalous. Every detector is seeded and deterministic.

use ndarray::ArrayView2;

use crate::cancel::{Cancel, Cancelled};

pub mod cblof;
pub mod ensemble;
pub mod knn;
mod knn_lof;
pub mod lof;
pub mod vae;

/// Why a detector could not fit or score.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectError {
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The input cannot be used by this detector (too few rows, no columns...).
    #[error("{detector}: {reason}")]
    Input {
        /// Detector name.
        detector: &'static str,
        /// What is wrong with the input, for the user.
        reason: String,
    },
    /// `score` was called before `fit`, or with a different number of columns.
    #[error("{detector}: {reason}")]
    State {
        /// Detector name.
        detector: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl From<Cancelled> for DetectError {
    fn from(_: Cancelled) -> Self {
        DetectError::Cancelled
    }
}

/// An unsupervised outlier detector.
pub trait Detector: Send + Sync {
    /// Short lowercase name, as used on the command line (`iforest`, `knn`...).
    fn name(&self) -> &'static str;

    /// Fits on `x` (rows × features) and returns the training scores, one per row of `x`
    /// (PyOD's `decision_scores_`: for neighbour methods a row is not its own neighbour).
    /// Identical rows get identical training scores (the ensemble ranks each distinct row
    /// once).
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError>;

    /// Fits on `x` without scoring its rows, when this detector's training scores are its
    /// scores of the same rows: the caller then scores them (each distinct row once).
    /// Otherwise (a neighbour method, where a row is not its own neighbour) returns
    /// `Ok(false)` without fitting, and the caller uses [`Detector::fit`].
    fn fit_model(&mut self, _x: ArrayView2<f64>, _cancel: &Cancel) -> Result<bool, DetectError> {
        Ok(false)
    }

    /// Scores the rows of `x` against the fitted model.
    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError>;

    /// The fitted state, for a saved model: everything [`Detector::score`] reads (what
    /// can be derived from it again is left out).
    fn save(&self) -> Saved;

    /// This detector when it is a neighbour method, whose searches another may share
    /// (see [`knn_lof`]).
    fn neighbour_method(&self) -> Option<NeighbourMethod<'_>> {
        None
    }
}

/// A neighbour method, as [`Detector::neighbour_method`] gives it.
pub enum NeighbourMethod<'a> {
    /// KNN.
    Knn(&'a knn::Knn),
    /// LOF.
    Lof(&'a lof::Lof),
}

/// A fitted detector as a saved model holds it (see [`crate::model`]). The variants'
/// order is part of the model file's format.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Saved {
    /// Isolation Forest.
    IForest(iforest::IForest),
    /// CBLOF.
    Cblof(cblof::Cblof),
    /// GMM.
    Gmm(gmm::Gmm),
    /// VAE.
    Vae(Box<vae::Vae>),
    /// ECOD.
    Ecod(ecod::Ecod),
    /// COPOD.
    Copod(copod::Copod),
    /// HBOS.
    Hbos(hbos::Hbos),
    /// KNN.
    Knn(knn::Knn),
    /// LOF.
    Lof(lof::Lof),
    /// PCA.
    Pca(pca::Pca),
}

impl Saved {
    /// Which detector this is.
    pub fn kind(&self) -> DetectorKind {
        match self {
            Saved::IForest(_) => DetectorKind::IForest,
            Saved::Cblof(_) => DetectorKind::Cblof,
            Saved::Gmm(_) => DetectorKind::Gmm,
            Saved::Vae(_) => DetectorKind::Vae,
            Saved::Ecod(_) => DetectorKind::Ecod,
            Saved::Copod(_) => DetectorKind::Copod,
            Saved::Hbos(_) => DetectorKind::Hbos,
            Saved::Knn(_) => DetectorKind::Knn,
            Saved::Lof(_) => DetectorKind::Lof,
            Saved::Pca(_) => DetectorKind::Pca,
        }
    }

    /// The detector, ready to score rows of `columns` features, once its state is checked
    /// whole and consistent (so that no file, however altered, makes scoring read out of
    /// bounds) and what was left out is derived again.
    pub fn restore(self, columns: usize) -> Result<Box<dyn Detector>, String> {
        let name = self.kind().name();
        let at = |e: String| format!("{name}: {e}");
        Ok(match self {
            Saved::IForest(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Cblof(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Gmm(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Vae(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Ecod(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Copod(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Hbos(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Knn(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Lof(d) => Box::new(d.restore(columns).map_err(at)?),
            Saved::Pca(d) => Box::new(d.restore(columns).map_err(at)?),
        })
    }
}

/// `Ok` when `cond` holds, else the error `what` (for checking a restored state).
pub(crate) fn ensure(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("inconsistent state ({what})"))
    }
}

pub mod copod;
pub mod ecod;
pub mod gmm;
pub mod hbos;
pub mod iforest;
mod input;
pub use input::MAX_COVARIANCE_WIDTH;
pub mod pca;
mod tails;

/// The detectors zsift offers, by name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum DetectorKind {
    /// Isolation Forest.
    IForest,
    /// Cluster-based local outlier factor.
    Cblof,
    /// Gaussian mixture, negative log-likelihood.
    Gmm,
    /// Variational autoencoder, reconstruction error.
    Vae,
    /// Empirical-CDF outlier detection.
    Ecod,
    /// Copula-based outlier detection.
    Copod,
    /// Histogram-based outlier score.
    Hbos,
    /// Distance to the k-th nearest neighbour.
    Knn,
    /// Local outlier factor.
    Lof,
    /// PCA reconstruction (weighted minor components).
    Pca,
}

impl DetectorKind {
    /// Every detector, in display order.
    pub const ALL: [DetectorKind; 10] = [
        DetectorKind::IForest,
        DetectorKind::Cblof,
        DetectorKind::Gmm,
        DetectorKind::Vae,
        DetectorKind::Ecod,
        DetectorKind::Copod,
        DetectorKind::Hbos,
        DetectorKind::Knn,
        DetectorKind::Lof,
        DetectorKind::Pca,
    ];

    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::IForest => "iforest",
            DetectorKind::Cblof => "cblof",
            DetectorKind::Gmm => "gmm",
            DetectorKind::Vae => "vae",
            DetectorKind::Ecod => "ecod",
            DetectorKind::Copod => "copod",
            DetectorKind::Hbos => "hbos",
            DetectorKind::Knn => "knn",
            DetectorKind::Lof => "lof",
            DetectorKind::Pca => "pca",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown detector {s:?} (detectors: {})", names.join(", "))
            })
    }

    /// Parses a comma-separated list; `all` means every detector.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        if s.trim().eq_ignore_ascii_case("all") {
            return Ok(Self::ALL.to_vec());
        }
        let mut out = Vec::new();
        for name in s.split(',').filter(|n| !n.trim().is_empty()) {
            let k = Self::parse(name)?;
            if !out.contains(&k) {
                out.push(k);
            }
        }
        if out.is_empty() {
            return Err("no detector given".into());
        }
        Ok(out)
    }

    /// A fresh detector with PyOD's defaults (CBLOF with 8 clusters, GMM with one
    /// component), seeded where it is random.
    pub fn build(self, seed: u64) -> Box<dyn Detector> {
        match self {
            DetectorKind::IForest => Box::new(iforest::IForest::new(100, 256, seed)),
            DetectorKind::Cblof => Box::new(cblof::Cblof::new(8, seed)),
            DetectorKind::Gmm => Box::new(gmm::Gmm::new(1, seed)),
            DetectorKind::Vae => Box::new(vae::Vae::new(seed)),
            DetectorKind::Ecod => Box::new(ecod::Ecod::new()),
            DetectorKind::Copod => Box::new(copod::Copod::new()),
            DetectorKind::Hbos => Box::new(hbos::Hbos::default()),
            DetectorKind::Knn => Box::new(knn::Knn::default()),
            DetectorKind::Lof => Box::new(lof::Lof::default()),
            DetectorKind::Pca => Box::new(pca::Pca::new()),
        }
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
