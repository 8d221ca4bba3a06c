//! Principal component analysis to two dimensions (Pearson 1901; Hotelling 1933), as
//! scikit-learn's `PCA(n_components=2)`: the rows are centred, projected on the two
//! leading eigenvectors of the covariance matrix, and each axis's sign is fixed so that
//! its largest-magnitude loading is positive (scikit-learn's `svd_flip`).
//!
//! The covariance matrix is only features × features, so its eigen-decomposition is done
//! directly (cyclic Jacobi rotations) instead of an SVD of the data.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::EmbedError;
use crate::cancel::{Cancel, Cancelled};
use crate::detect::pca::symmetric_eigen;
use crate::rows::Rows;

/// Rows per parallel work item between two cancellation checks.
const CHUNK: usize = 8192;

/// A linear projection of every row to two dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// `rows × 2` coordinates.
    pub points: Array2<f64>,
    /// Share of the total variance along each axis (0 when the data do not vary).
    pub explained_variance_ratio: [f64; 2],
    /// The two axes, one per entry, in feature space (a zero axis when there are fewer
    /// than two features).
    pub axes: [Vec<f64>; 2],
}

/// Projects the rows of `x` (rows × features, finite values) on their first two
/// principal axes.
pub fn pca(x: ArrayView2<f64>, cancel: &Cancel) -> Result<Projection, EmbedError> {
    pca_rows(&x, cancel)
}

/// [`pca`] of rows read a block at a time (the same bits as on the rows held whole): a
/// pass for the means, one for the covariance, one for the projection.
pub fn pca_rows(x: &dyn Rows, cancel: &Cancel) -> Result<Projection, EmbedError> {
    let (n, d) = check(x)?;
    // Each column summed in row order (as a column's `sum`).
    let mut sum = ColumnSums::new(d);
    for r in blocks(n) {
        cancel.check()?;
        let start = r.start;
        let b = x.gather(&r.collect::<Vec<_>>());
        crate::rows::check_finite(&b, |i| start + i).map_err(|e| input(e.to_string()))?;
        sum.add(&b);
    }
    pca_rows_summed(x, sum, cancel)
}

/// The sums of a matrix's columns, its rows added in order: given a block at a time by a
/// pass that reads every row for its own ends ([`crate::rows::distinct_visiting`]), they
/// spare [`pca_rows_summed`] a pass of its own (the same bits: row order, whatever the
/// blocks).
pub struct ColumnSums(Vec<f64>);

impl ColumnSums {
    /// Sums of `d` columns, no row added yet.
    pub fn new(d: usize) -> Self {
        ColumnSums(vec![0.0; d])
    }

    /// Adds the rows of `b`, in order.
    pub fn add(&mut self, b: &Array2<f64>) {
        for row in b.outer_iter() {
            for (s, v) in self.0.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

fn input(reason: String) -> EmbedError {
    EmbedError::Input {
        method: "pca",
        reason,
    }
}

/// The rows and columns of `x`, if PCA can project it.
pub(crate) fn check(x: &dyn Rows) -> Result<(usize, usize), EmbedError> {
    let (n, d) = (x.count(), x.width());
    if n == 0 {
        return Err(input("no rows to embed".into()));
    }
    if d == 0 {
        return Err(input("the matrix has no columns".into()));
    }
    if d > crate::detect::MAX_COVARIANCE_WIDTH {
        return Err(input(format!(
            "{d} features, more than {}: choose fewer features (--features)",
            crate::detect::MAX_COVARIANCE_WIDTH
        )));
    }
    Ok((n, d))
}

/// The blocks of rows a pass makes at once: whole chunks.
fn blocks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let per_block = (4 * rayon::current_num_threads().max(1)) * CHUNK;
    (0..n)
        .step_by(per_block)
        .map(move |s| s..(s + per_block).min(n))
}

/// [`pca_rows`] with the sums of the columns of `x` found already (every row's, in row
/// order, every value a finite number).
pub fn pca_rows_summed(
    x: &dyn Rows,
    sum: ColumnSums,
    cancel: &Cancel,
) -> Result<Projection, EmbedError> {
    let (n, d) = check(x)?;
    let sum = sum.0;
    if sum.len() != d {
        return Err(input(format!("{} column sums for {d} columns", sum.len())));
    }
    let gather = |r: std::ops::Range<usize>| x.gather(&r.collect::<Vec<_>>());
    let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();

    let cov = covariance(x, &mean, cancel)?;

    let (values, vectors) = symmetric_eigen(&cov);
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let mut axes = [vec![0.0; d], vec![0.0; d]];
    let mut ratios = [0.0; 2];
    for k in 0..2.min(d) {
        let mut v = vectors[k].clone();
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |m, a| if a.abs() > m.abs() { a } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|a| *a = -*a);
        }
        ratios[k] = if total > 0.0 {
            values[k].max(0.0) / total
        } else {
            0.0
        };
        axes[k] = v;
    }

    let mut points = Array2::<f64>::zeros((n, 2));
    for r in blocks(n) {
        let b = gather(r.clone());
        points
            .slice_mut(ndarray::s![r, ..])
            .axis_chunks_iter_mut(ndarray::Axis(0), CHUNK)
            .into_par_iter()
            .enumerate()
            .try_for_each(|(c, mut block)| {
                cancel.check()?;
                for (k, mut out) in block.outer_iter_mut().enumerate() {
                    let row = b.row(c * CHUNK + k);
                    for a in 0..2 {
                        out[a] = (0..d).map(|j| (row[j] - mean[j]) * axes[a][j]).sum();
                    }
                }
                Ok::<(), EmbedError>(())
            })?;
    }
    Ok(Projection {
        points,
        explained_variance_ratio: ratios,
        axes,
    })
}

/// The covariance matrix of the rows of `x` about `mean` (sums divided by `n - 1`).
pub(crate) fn covariance(
    x: &dyn Rows,
    mean: &[f64],
    cancel: &Cancel,
) -> Result<Array2<f64>, Cancelled> {
    let (n, d) = (x.count(), x.width());
    let gather = |r: std::ops::Range<usize>| x.gather(&r.collect::<Vec<_>>());
    // One d x d sum per chunk, added in chunk order: the same sums however the chunks
    // were spread over the threads (a parallel reduction pairs them as the threads
    // happen to finish, which changes the last bits from run to run). A block's chunks
    // are summed side by side, so that the partial sums held stay few.
    let mut partial = Array2::<f64>::zeros((d, d));
    for r in blocks(n) {
        let b = gather(r);
        let sums = b
            .axis_chunks_iter(ndarray::Axis(0), CHUNK)
            .into_par_iter()
            .map(|chunk| {
                cancel.check()?;
                let mut c = Array2::<f64>::zeros((d, d));
                let mut z = vec![0.0; d];
                for row in chunk.outer_iter() {
                    for (j, zj) in z.iter_mut().enumerate() {
                        *zj = row[j] - mean[j];
                    }
                    for a in 0..d {
                        for b in a..d {
                            c[[a, b]] += z[a] * z[b];
                        }
                    }
                }
                Ok::<_, Cancelled>(c)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for c in &sums {
            partial += c;
        }
    }
    let mut cov = partial;
    let denom = (n.max(2) - 1) as f64;
    for a in 0..d {
        for b in a..d {
            let v = cov[[a, b]] / denom;
            cov[[a, b]] = v;
            cov[[b, a]] = v;
        }
    }

    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many threads share the work, the same bits: a layout shown or exported
    /// twice from the same rows is the same.
    #[test]
    fn the_same_points_on_any_number_of_threads() {
        // Values of many magnitudes, so that summing in another order changes the bits.
        let x = Array2::from_shape_fn((100_000, 4), |(i, j)| {
            let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (20 + j);
            (h % 1000) as f64 * 10f64.powi((i % 7) as i32 - 3)
        });
        let on = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| pca(x.view(), &Cancel::new()).unwrap())
        };
        let one = on(1);
        for threads in [2, 3, 5] {
            assert_eq!(on(threads).points, one.points, "{threads} threads");
        }
    }

    /// Column sums taken in the distinct-row pass (blocks of another size) give the
    /// projection of PCA's own pass, bit for bit; sums of another width are refused.
    #[test]
    fn sums_from_the_distinct_rows_pass_give_the_same_points() {
        let x = Array2::from_shape_fn((70_001, 3), |(i, j)| {
            let h = (i as u64 % 5000).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (20 + j);
            (h % 1000) as f64 * 10f64.powi((i % 7) as i32 - 3)
        });
        let c = Cancel::new();
        let own = pca(x.view(), &c).unwrap();
        let mut sums = ColumnSums::new(3);
        let all: Vec<usize> = (0..x.nrows()).collect();
        let d = crate::rows::distinct_visiting(&x.view(), &all, |b| sums.add(b)).unwrap();
        assert!(d.first.len() < x.nrows(), "rows repeat");
        let summed = pca_rows_summed(&x.view(), sums, &c).unwrap();
        assert_eq!(summed, own);
        let wrong = pca_rows_summed(&x.view(), ColumnSums::new(2), &c);
        assert!(matches!(wrong, Err(EmbedError::Input { .. })));
    }

    #[test]
    fn line_in_the_plane() {
        // Points on y = 2x plus a small orthogonal wiggle: the first axis is (1, 2)/√5.
        let n = 101;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            let t = i as f64 / 10.0 - 5.0;
            let w = if i % 2 == 0 { 0.01 } else { -0.01 };
            if j == 0 {
                t - 2.0 * w
            } else {
                2.0 * t + w
            }
        });
        let p = pca(x.view(), &Cancel::new()).unwrap();
        let s5 = 5f64.sqrt();
        assert!((p.axes[0][0] - 1.0 / s5).abs() < 1e-9);
        assert!((p.axes[0][1] - 2.0 / s5).abs() < 1e-9);
        assert!(p.explained_variance_ratio[0] > 0.999);
        let sum: f64 = p.explained_variance_ratio.iter().sum();
        assert!((sum - 1.0).abs() < 1e-9);
        // Centred: the projections average to zero.
        assert!(p.points.column(0).sum().abs() < 1e-9);
    }

    #[test]
    fn degenerate_inputs() {
        let c = Cancel::new();
        assert!(pca(Array2::<f64>::zeros((0, 3)).view(), &c).is_err());
        let one = pca(Array2::<f64>::ones((1, 3)).view(), &c).unwrap();
        assert_eq!(one.points, Array2::<f64>::zeros((1, 2)));
        let same = pca(Array2::<f64>::ones((20, 3)).view(), &c).unwrap();
        assert_eq!(same.explained_variance_ratio, [0.0, 0.0]);
        assert!(same.points.iter().all(|v| *v == 0.0));
        let col = pca(Array2::from_shape_fn((10, 1), |(i, _)| i as f64).view(), &c).unwrap();
        assert!(col.points.column(1).iter().all(|v| *v == 0.0));
    }
}
