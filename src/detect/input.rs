//! Input checks shared by the detectors: every detector refuses empty matrices,
//! non-finite values and, when scoring, a column count different from the fitted one.

use ndarray::ArrayView2;

use super::DetectError;
use crate::neighbors::CountedTree;

/// Most columns a detector that works with a d × d covariance (GMM, PCA) accepts: 8 MB
/// per matrix at 1,024, where memory and the eigen-decomposition's d³ time grow fast
/// (10,000 columns: 800 MB each, and minutes). A Zeek log has a few dozen fields; past the
/// limit the detector is skipped with this message and the others decide.
pub const MAX_COVARIANCE_WIDTH: usize = 1024;

/// Refuses a matrix wider than [`MAX_COVARIANCE_WIDTH`] for a covariance-based detector.
pub(crate) fn check_width(detector: &'static str, x: &ArrayView2<f64>) -> Result<(), DetectError> {
    let d = x.ncols();
    if d > MAX_COVARIANCE_WIDTH {
        return Err(input(
            detector,
            format!(
                "{d} features, more than {MAX_COVARIANCE_WIDTH}: its d x d covariance would \
                 take {} MB; choose fewer features (--features)",
                (d * d * 8) >> 20
            ),
        ));
    }
    Ok(())
}

/// Checks that `x` has at least `min_rows` rows, at least one column and only finite
/// values.
pub(crate) fn check_matrix(
    detector: &'static str,
    x: &ArrayView2<f64>,
    min_rows: usize,
) -> Result<(), DetectError> {
    let (n, d) = x.dim();
    if n > u32::MAX as usize {
        return Err(input(detector, format!("too many rows ({n})")));
    }
    if d == 0 {
        return Err(input(detector, "the matrix has no columns".to_string()));
    }
    if n < min_rows.max(1) {
        return Err(input(
            detector,
            format!("needs at least {} rows, got {n}", min_rows.max(1)),
        ));
    }
    for (i, row) in x.outer_iter().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(input(
                detector,
                format!("non-finite value at row {i}, column {j}"),
            ));
        }
    }
    Ok(())
}

/// The number of neighbours a neighbour method (KNN, LOF) fitted on `x` uses:
/// `n_neighbors`, at most the number of other rows; once `x` is checked.
pub(crate) fn neighbour_count(
    detector: &'static str,
    x: &ArrayView2<f64>,
    n_neighbors: usize,
) -> Result<usize, DetectError> {
    if n_neighbors == 0 {
        return Err(input(detector, "n_neighbors must be at least 1".into()));
    }
    check_matrix(detector, x, 2)?;
    Ok(n_neighbors.min(x.nrows() - 1))
}

/// The tree a neighbour method was fitted on (on `fitted` columns), once `x` is checked
/// to be scored by it.
pub(crate) fn fitted_tree<'a>(
    detector: &'static str,
    fitted: Option<usize>,
    tree: &'a Option<CountedTree>,
    x: &ArrayView2<f64>,
) -> Result<&'a CountedTree, DetectError> {
    check_score_input(detector, fitted, x)?;
    tree.as_ref().ok_or_else(|| DetectError::State {
        detector,
        reason: "score called before fit".into(),
    })
}

/// Checks a matrix to score against a model fitted on `fitted` columns (`None` when the
/// detector was not fitted yet). Scoring zero rows is allowed and gives no scores.
pub(crate) fn check_score_input(
    detector: &'static str,
    fitted: Option<usize>,
    x: &ArrayView2<f64>,
) -> Result<(), DetectError> {
    let d = fitted.ok_or_else(|| DetectError::State {
        detector,
        reason: "score called before fit".to_string(),
    })?;
    if x.ncols() != d {
        return Err(DetectError::State {
            detector,
            reason: format!("fitted on {d} columns, asked to score {}", x.ncols()),
        });
    }
    if x.nrows() == 0 {
        return Ok(());
    }
    check_matrix(detector, x, 1)
}

/// An [`DetectError::Input`] for `detector`.
pub(crate) fn input(detector: &'static str, reason: String) -> DetectError {
    DetectError::Input { detector, reason }
}

/// Rows per parallel work item when scoring: large enough to amortise scheduling,
/// small enough that a cancel is seen quickly.
pub(crate) const CHUNK_ROWS: usize = 4096;

/// Small synthetic matrices for the detectors' unit tests.
#[cfg(test)]
pub(crate) mod testdata {
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// `n` rows of a roughly Gaussian cloud (sum of uniforms) in `d` columns, with the
    /// last row moved far away (every coordinate = 8).
    pub(crate) fn cloud_with_outlier(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut x = Array2::from_shape_fn((n, d), |_| {
            (0..6).map(|_| rng.gen::<f64>()).sum::<f64>() - 3.0
        });
        x.row_mut(n - 1).fill(8.0);
        x
    }

    /// Index of the largest value.
    pub(crate) fn argmax(v: &[f64]) -> usize {
        let mut best = 0;
        for (i, s) in v.iter().enumerate() {
            if *s > v[best] {
                best = i;
            }
        }
        best
    }
}
