//! Two-dimensional views of the feature matrix for the scatter plot: PCA ([`pca()`]) and
//! UMAP ([`umap()`]).

pub mod pca;
pub mod umap;

pub use pca::{pca, pca_rows, pca_rows_summed, ColumnSums, Projection};
pub use umap::{umap, umap_rows, umap_with, Embedding, UmapParams};

use crate::cancel::Cancelled;

/// Why an embedding could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The input or the parameters cannot be used (no rows, non-finite values...).
    #[error("{method}: {reason}")]
    Input {
        /// `pca` or `umap`.
        method: &'static str,
        /// What is wrong, for the user.
        reason: String,
    },
}

impl From<Cancelled> for EmbedError {
    fn from(_: Cancelled) -> Self {
        EmbedError::Cancelled
    }
}
