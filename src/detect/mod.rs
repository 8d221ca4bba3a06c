//! Outlier detectors. Each detector lives in its own file and implements [`Detector`]:
//! `fit` on a training matrix (returning the training scores, as PyOD's
//! `decision_scores_`), then `score` any matrix with the same columns. Higher scores are
//! more anomalous. Every detector is seeded and deterministic.

use ndarray::ArrayView2;

use crate::cancel::{Cancel, Cancelled};

pub mod cblof;
pub mod knn;
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
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError>;

    /// Scores the rows of `x` against the fitted model.
    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError>;
}

pub mod copod;
pub mod ecod;
pub mod gmm;
pub mod hbos;
pub mod iforest;
mod input;
pub mod pca;
mod tails;
