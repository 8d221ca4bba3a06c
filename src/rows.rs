//! Rows of a scaled matrix read a block at a time: a matrix held whole, or one that makes
//! its rows again from the log's values when read ([`crate::features::Matrix`]), so that
//! the detectors, the 2-D views and the clusterings never need every row copied at once.
//! And the distinct rows among them, found a block at a time (identical rows are scored,
//! embedded and labelled once).

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::neighbors::{row_hash, same_row, select_rows};

/// Rows made and handled at a time by the block-by-block passes: enough that each block's
/// parallel work outweighs its start (a few milliseconds), few enough that a block's
/// copies (a few hundred bytes a row at most) stay a few megabytes.
pub const BLOCK: usize = 1 << 15;

/// A matrix's rows, read by position.
pub trait Rows: Sync {
    /// Number of rows.
    fn count(&self) -> usize;
    /// Values per row.
    fn width(&self) -> usize;
    /// The rows `at`, in that order.
    fn gather(&self, at: &[usize]) -> Array2<f64>;
}

impl Rows for Array2<f64> {
    fn count(&self) -> usize {
        self.nrows()
    }

    fn width(&self) -> usize {
        self.ncols()
    }

    fn gather(&self, at: &[usize]) -> Array2<f64> {
        select_rows(self.view(), at)
    }
}

impl Rows for ArrayView2<'_, f64> {
    fn count(&self) -> usize {
        self.nrows()
    }

    fn width(&self) -> usize {
        self.ncols()
    }

    fn gather(&self, at: &[usize]) -> Array2<f64> {
        select_rows(*self, at)
    }
}

/// The rows `at` of another [`Rows`], numbered from 0.
pub struct Picked<'a> {
    /// Where the rows are.
    pub from: &'a dyn Rows,
    /// Which, in order.
    pub at: &'a [u32],
}

impl Rows for Picked<'_> {
    fn count(&self) -> usize {
        self.at.len()
    }

    fn width(&self) -> usize {
        self.from.width()
    }

    fn gather(&self, at: &[usize]) -> Array2<f64> {
        let at: Vec<usize> = at.iter().map(|&i| self.at[i] as usize).collect();
        self.from.gather(&at)
    }
}

/// The distinct rows seen so far by their hash, in shards by the hash's top bits: a table
/// grows a shard at a time, so that it never holds an old and a new copy of all its
/// entries at once (at 10M distinct rows, some 300 MB).
#[derive(Default)]
pub(crate) struct Seen(Vec<rustc_hash::FxHashMap<u64, u32>>);

/// Shards of [`Seen`] (a power of two).
const SEEN_SHARDS: usize = 64;

impl Seen {
    fn shard(&mut self, h: u64) -> &mut rustc_hash::FxHashMap<u64, u32> {
        if self.0.is_empty() {
            self.0.resize_with(SEEN_SHARDS, Default::default);
        }
        &mut self.0[(h >> (64 - SEEN_SHARDS.trailing_zeros())) as usize]
    }

    fn get(&mut self, h: u64) -> Option<u32> {
        self.shard(h).get(&h).copied()
    }

    fn insert(&mut self, h: u64, id: u32) {
        self.shard(h).insert(h, id);
    }
}

/// The distinct rows among some rows, compared bit for bit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distinct {
    /// A row with each distinct row's values (its first), in order of first occurrence.
    pub first: Vec<u32>,
    /// The number of each row's distinct row.
    pub of: Vec<u32>,
}

/// A value that is not a finite number, and where it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotFinite {
    /// Its row.
    pub row: usize,
    /// Its column.
    pub column: usize,
    /// The value.
    pub value: f64,
}

impl std::fmt::Display for NotFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "value {} at row {}, column {} is not a finite number",
            self.value, self.row, self.column
        )
    }
}

/// The first value of the made rows `bx` that is not a finite number, its row named by
/// `row_of` (from its place in `bx`).
pub fn check_finite(bx: &Array2<f64>, row_of: impl Fn(usize) -> usize) -> Result<(), NotFinite> {
    match bx.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((r, column), &value)) => Err(NotFinite {
            row: row_of(r),
            column,
            value,
        }),
        None => Ok(()),
    }
}

/// [`distinct`] among every row of `rows`.
pub fn distinct_all(rows: &dyn Rows) -> Result<Distinct, NotFinite> {
    distinct(rows, &(0..rows.count()).collect::<Vec<_>>())
}

/// The distinct rows among the rows `at` of `rows` (the rows made a block at a time), or
/// the first value that is not a finite number. Numbered in order of first occurrence,
/// but for a row whose values hash as those of a row of an earlier block without being
/// the same, which comes after its own block's other new rows.
pub fn distinct(rows: &dyn Rows, at: &[usize]) -> Result<Distinct, NotFinite> {
    distinct_visiting(rows, at, |_| {})
}

/// [`distinct`], handing each block of rows made (in order) to `visit` as well: a pass
/// over every row done once for both (PCA's column sums, [`crate::embed::ColumnSums`]).
pub fn distinct_visiting(
    rows: &dyn Rows,
    at: &[usize],
    mut visit: impl FnMut(&Array2<f64>),
) -> Result<Distinct, NotFinite> {
    let mut seen = Seen::default();
    let mut d = Distinct {
        first: Vec::new(),
        of: vec![0; at.len()],
    };
    for (b, block) in at.chunks(BLOCK).enumerate() {
        let bx = rows.gather(block);
        check_finite(&bx, |r| block[r])?;
        visit(&bx);
        distinct_block(
            rows,
            &bx,
            block,
            &mut seen,
            &mut d.first,
            &mut d.of[b * BLOCK..],
            row_hash,
        );
    }
    Ok(d)
}

/// The distinct rows of one block of rows: `bx` holds the rows `block` of `rows`. Each
/// row is numbered (in `of`) by the first row with its values, among the rows before it
/// (those of `first`, found by their hash in `seen`) or in the block; a row new so far is
/// added to `first` and `seen`. Gives the positions in the block of the new rows, in the
/// order added, and the number of distinct rows before the block. A row's values are
/// hashed by `row_hash`.
pub(crate) fn distinct_block(
    rows: &dyn Rows,
    bx: &Array2<f64>,
    block: &[usize],
    seen: &mut Seen,
    first: &mut Vec<u32>,
    of: &mut [u32],
    row_hash: impl Fn(&[f64]) -> u64 + Sync,
) -> (Vec<usize>, usize) {
    let flat = bx.as_slice().expect("gathered rows are in standard order");
    let d = bx.ncols();
    let row = |p: usize| &flat[p * d..(p + 1) * d];
    let hashes: Vec<u64> = (0..block.len())
        .into_par_iter()
        .with_min_len(1 << 12)
        .map(|p| row_hash(row(p)))
        .collect();
    let base = first.len();
    let mut new_rows: Vec<usize> = Vec::new();
    // Rows whose hash an earlier block's row has: compared once those rows are made.
    let mut earlier: Vec<(usize, u32)> = Vec::new();
    let add = |p: usize, first: &mut Vec<u32>, new_rows: &mut Vec<usize>| {
        first.push(block[p] as u32);
        new_rows.push(p);
        (first.len() - 1) as u32
    };
    for (p, &h) in hashes.iter().enumerate() {
        of[p] = match seen.get(h) {
            None => {
                let id = add(p, first, &mut new_rows);
                seen.insert(h, id);
                id
            }
            Some(id) if id as usize >= base => {
                if same_row(row(new_rows[id as usize - base]), row(p)) {
                    id
                } else {
                    add(p, first, &mut new_rows)
                }
            }
            Some(id) => {
                earlier.push((p, id));
                continue;
            }
        };
    }
    if !earlier.is_empty() {
        let made = rows.gather(
            &earlier
                .iter()
                .map(|&(_, id)| first[id as usize] as usize)
                .collect::<Vec<_>>(),
        );
        for (e, &(p, id)) in earlier.iter().enumerate() {
            let first_row = made.row(e);
            let first_row = first_row
                .as_slice()
                .expect("gathered rows are in standard order");
            of[p] = if same_row(first_row, row(p)) {
                id
            } else {
                add(p, first, &mut new_rows)
            };
        }
    }
    (new_rows, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Block by block, the same distinct rows and numbering as one pass over a held
    /// matrix, across block boundaries; and a value that is not a number is refused with
    /// its row and column.
    #[test]
    fn distinct_rows_across_blocks_as_in_one_pass() {
        let n = 3 * BLOCK + 17;
        // Rows repeat with periods that cross the blocks; a few are unique.
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            let k = if i % 5 == 0 { i } else { i % 4099 };
            (k * (j + 1)) as f64 * 0.25
        });
        let all: Vec<usize> = (0..n).collect();
        let d = distinct(&x, &all).expect("finite");
        let (first, of) = crate::neighbors::distinct_among(x.view(), &all);
        let wide = |f: &[u32]| -> Vec<usize> { f.iter().map(|&i| i as usize).collect() };
        assert_eq!(wide(&d.first), first);
        assert_eq!(d.of, of);
        for (i, &g) in d.of.iter().enumerate() {
            assert_eq!(x.row(i), x.row(d.first[g as usize] as usize));
        }
        // A subset, through `Picked`.
        let some: Vec<usize> = (0..n).filter(|i| i % 3 != 1).collect();
        let some32: Vec<u32> = some.iter().map(|&i| i as u32).collect();
        let picked = Picked {
            from: &x,
            at: &some32,
        };
        let local: Vec<usize> = (0..some.len()).collect();
        let p = distinct(&picked, &local).expect("finite");
        let (first, of) = crate::neighbors::distinct_among(x.view(), &some);
        assert_eq!(
            p.first
                .iter()
                .map(|&i| some[i as usize])
                .collect::<Vec<_>>(),
            first
        );
        assert_eq!(p.of, of);
        let mut bad = x.clone();
        bad[[BLOCK + 3, 2]] = f64::NAN;
        let e = distinct(&bad, &all).expect_err("a NaN");
        assert_eq!((e.row, e.column), (BLOCK + 3, 2));
    }
}
