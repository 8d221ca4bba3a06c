//! Two-dimensional views of the feature matrix for the scatter plot: PCA ([`pca()`]) and
//! UMAP ([`umap()`]).

pub mod pca;
pub mod umap;

pub use pca::{pca, Projection};
pub use umap::{umap, Embedding, UmapParams};

use ndarray::ArrayView2;

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

/// Checks that `x` has rows and columns and only finite values.
fn check_input(method: &'static str, x: ArrayView2<f64>) -> Result<(), EmbedError> {
    let input = |reason: String| EmbedError::Input { method, reason };
    if x.nrows() == 0 {
        return Err(input("no rows to embed".into()));
    }
    if x.ncols() == 0 {
        return Err(input("the matrix has no columns".into()));
    }
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(input(format!(
            "value {v} at row {r}, column {c} is not a finite number"
        )));
    }
    Ok(())
}
