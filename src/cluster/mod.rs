//! Clustering of the feature matrix: HDBSCAN labels (noise is `-1`) with per-row
//! membership strength and outlier score.

pub mod hdbscan;
pub mod stats;

pub use hdbscan::{hdbscan, Clusters, HdbscanParams};

use crate::cancel::Cancelled;

/// Why a clustering could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The input or the parameters cannot be used (no rows, non-finite values...).
    #[error("hdbscan: {0}")]
    Input(String),
}

impl From<Cancelled> for ClusterError {
    fn from(_: Cancelled) -> Self {
        ClusterError::Cancelled
    }
}
