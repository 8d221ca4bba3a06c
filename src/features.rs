//! From rows of the log to the numeric matrix the detectors see.
//!
//! Two kinds of feature:
//! - **numeric** columns (bytes, packets, duration...) are taken as they are; Zeek leaves
//!   them unset on connections that never got an answer, which is exactly the traffic a
//!   scan makes, so unset counts as 0 by default (`Nulls::Zero`) rather than dropping the
//!   row as the seed notebook did (`Nulls::Drop`).
//! - **categorical** columns (`proto`, `service`, `conn_state`, `history`, the responder
//!   port) are encoded by *rarity*: −ln of the value's smoothed frequency among the
//!   training rows. A value the reference traffic never shows scores high on one axis,
//!   whatever the number of distinct values, which keeps the matrix small for the
//!   neighbour-based detectors.
//!
//! Scaling: `Max` divides each column by its largest absolute value over the selected rows
//! (the seed's). `Robust`, the default, takes sign(x)·ln(1 + |x|) of numeric columns
//! (bytes and packets are heavy-tailed over many orders of magnitude) and then centres each
//! column on the training rows' median and divides by their interquartile range (falling
//! back to the MAD, the standard deviation, then 1 when a column is nearly constant).

use std::collections::HashMap;

use ndarray::Array2;
use polars::prelude::*;
use rayon::prelude::*;

use crate::hosts::context::Context;

/// How a column enters the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// The value itself.
    Numeric,
    /// −ln of the value's frequency among the training rows.
    Rarity,
}

/// One chosen feature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Feature {
    /// Column name in the log.
    pub column: String,
    /// How it is encoded.
    pub encoding: Encoding,
}

/// How columns are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scaling {
    /// Divide by the column's largest absolute value (the seed notebook's).
    Max,
    /// Log for numeric columns, then median / interquartile range of the training rows.
    Robust,
}

/// What to do with a row whose numeric feature is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Nulls {
    /// Leave the row out (the seed notebook's).
    Drop,
    /// Count it as 0.
    Zero,
}

/// The seed notebook's seven numeric conn.log features.
pub const CONN_NUMERIC: [&str; 7] = [
    "duration",
    "orig_bytes",
    "resp_bytes",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
];

/// Categorical conn.log fields that describe how a connection went.
pub const CONN_CATEGORICAL: [&str; 5] = ["proto", "service", "conn_state", "history", "id.resp_p"];

/// Context features (see [`crate::hosts::context`]) in the default set: how unusual the
/// destination is for its service (an outside resolver where the network uses one).
pub const CONTEXT_DEFAULT: [&str; 1] = ["dport.odd"];

/// Columns that are identifiers or addresses, never magnitudes.
const NOT_NUMERIC: [&str; 4] = ["id.orig_p", "id.resp_p", "trans_id", "missed_bytes"];

/// The default features of a dns, http or ssl log (`None` for other kinds): the fields
/// that describe a query, a request or a handshake (numbers as they are, names and codes
/// by rarity), the features [`crate::protocol`] makes of its names, and how odd the
/// server is for its port (an outside resolver where the network uses its own).
fn protocol_defaults(kind: &str, has: &dyn Fn(&str) -> bool) -> Option<Vec<Feature>> {
    let (numeric, categorical): (&[&str], &[&str]) = match kind {
        "dns" => (&["rtt"], &["proto", "qtype_name", "rcode_name"]),
        "http" => (
            &["request_body_len", "response_body_len"],
            &["method", "status_code", "resp_mime_types"],
        ),
        "ssl" => (&[], &["version", "cipher", "established", "ja3", "ja3s"]),
        _ => return None,
    };
    let num = |c: &str| Feature {
        column: c.to_string(),
        encoding: Encoding::Numeric,
    };
    let mut features: Vec<Feature> = numeric.iter().filter(|c| has(c)).map(|c| num(c)).collect();
    features.extend(categorical.iter().filter(|c| has(c)).map(|c| Feature {
        column: c.to_string(),
        encoding: Encoding::Rarity,
    }));
    // A dns log without the names of codes has the codes.
    if kind == "dns" {
        for (name, code) in [("qtype_name", "qtype"), ("rcode_name", "rcode")] {
            if !has(name) && has(code) {
                features.push(Feature {
                    column: code.to_string(),
                    encoding: Encoding::Rarity,
                });
            }
        }
    }
    if has(crate::protocol::source_field(kind)) {
        features.extend(
            crate::protocol::FEATURES
                .iter()
                .filter(|(_, k, _)| *k == kind)
                .map(|(n, _, _)| num(n)),
        );
    }
    if has("id.resp_h") && has("id.resp_p") {
        features.extend(CONTEXT_DEFAULT.iter().map(|c| num(c)));
    }
    (!features.is_empty()).then_some(features)
}

/// What goes into the matrix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeatureOptions {
    /// Chosen features, in matrix column order.
    pub features: Vec<Feature>,
    /// Scaling.
    pub scaling: Scaling,
    /// Unset numeric values.
    pub nulls: Nulls,
}

impl FeatureOptions {
    /// zsift's default for a frame: the seed's seven numeric features and the five
    /// categorical connection fields, those the log has; for other logs (no conn.log
    /// numerics), every numeric column but identifiers. Robust scaling, unset as 0.
    pub fn default_for(frame: &DataFrame) -> Self {
        let has = |c: &str| frame.column(c).is_ok();
        if let Some(features) = protocol_defaults(crate::ingest::kinds::kind_of_frame(frame), &has)
        {
            return Self {
                features,
                scaling: Scaling::Robust,
                nulls: Nulls::Zero,
            };
        }
        let mut features: Vec<Feature> = CONN_NUMERIC
            .iter()
            .filter(|c| has(c))
            .map(|c| Feature {
                column: c.to_string(),
                encoding: Encoding::Numeric,
            })
            .collect();
        if features.is_empty() {
            features = frame
                .columns()
                .iter()
                .filter(|c| {
                    matches!(
                        c.dtype(),
                        DataType::Int64 | DataType::Int32 | DataType::Float64
                    )
                })
                .filter(|c| !NOT_NUMERIC.contains(&c.name().as_str()))
                .map(|c| Feature {
                    column: c.name().to_string(),
                    encoding: Encoding::Numeric,
                })
                .collect();
        }
        features.extend(CONN_CATEGORICAL.iter().filter(|c| has(c)).map(|c| Feature {
            column: c.to_string(),
            encoding: Encoding::Rarity,
        }));
        if has("id.resp_h") && has("id.resp_p") {
            features.extend(CONTEXT_DEFAULT.iter().map(|c| Feature {
                column: c.to_string(),
                encoding: Encoding::Numeric,
            }));
        }
        Self {
            features,
            scaling: Scaling::Robust,
            nulls: Nulls::Zero,
        }
    }

    /// The seed notebook's model: seven numeric features divided by their max, rows with
    /// an unset value dropped.
    pub fn seed() -> Self {
        Self {
            features: CONN_NUMERIC
                .iter()
                .map(|c| Feature {
                    column: c.to_string(),
                    encoding: Encoding::Numeric,
                })
                .collect(),
            scaling: Scaling::Max,
            nulls: Nulls::Drop,
        }
    }

    /// Parses a comma-separated list of columns (`duration,orig_bytes,conn_state`). Each
    /// name may end in `:num` or `:cat` to choose its encoding; otherwise text, bool and
    /// port columns and the known categorical fields are categorical, other numbers
    /// numeric. Names must exist in `frame`.
    pub fn parse_features(list: &str, frame: &DataFrame) -> Result<Vec<Feature>, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, enc) = match item.rsplit_once(':') {
                Some((n, "num")) => (n, Some(Encoding::Numeric)),
                Some((n, "cat")) => (n, Some(Encoding::Rarity)),
                _ => (item, None),
            };
            if frame.column(name).is_err() && crate::hosts::context::is_feature(name) {
                if enc == Some(Encoding::Rarity) {
                    return Err(format!("context feature {name:?} is numeric"));
                }
                out.push(Feature {
                    column: name.to_string(),
                    encoding: Encoding::Numeric,
                });
                continue;
            }
            let col = frame.column(name).map_err(|_| {
                format!(
                    "no column {name:?} in the log (columns: {})",
                    frame
                        .get_column_names()
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let numeric = matches!(
                col.dtype(),
                DataType::Int64
                    | DataType::Int32
                    | DataType::Float64
                    | DataType::Datetime(_, _)
                    | DataType::Null
            );
            let encoding = enc.unwrap_or(
                if numeric && !CONN_CATEGORICAL.contains(&name) && !NOT_NUMERIC[..2].contains(&name)
                {
                    Encoding::Numeric
                } else {
                    Encoding::Rarity
                },
            );
            if encoding == Encoding::Numeric && !numeric && col.dtype() != &DataType::Boolean {
                return Err(format!("column {name:?} is not numeric (use {name}:cat)"));
            }
            out.push(Feature {
                column: name.to_string(),
                encoding,
            });
        }
        if out.is_empty() {
            return Err("no features given".into());
        }
        Ok(out)
    }
}

/// A numeric feature's values before scaling, one per matrix row (unset and non-finite
/// as 0), to explain verdicts and draw distributions.
#[derive(Debug, Clone)]
pub enum Numbers {
    /// Values made rather than read (context features, a followed log's new rows): kept.
    Kept(Vec<f64>),
    /// A column of the log, read where needed: the frame's own column (its memory shared,
    /// not copied) at each matrix row's frame row. A 10M-row log's eight numeric features
    /// would otherwise hold another 640 MB.
    Column {
        /// The log's column, by chunk (a cell found without a walk over the chunks).
        column: std::sync::Arc<crate::ingest::Cells>,
        /// The same column whole (its memory shared), to gather many rows at once.
        whole: Series,
        /// Frame row of each matrix row (one list shared by the matrix's features).
        rows: std::sync::Arc<[u32]>,
    },
}

impl Numbers {
    /// The log's column `name` at the frame rows `rows` (its memory shared, not copied).
    fn of_column(
        frame: &DataFrame,
        name: &str,
        rows: &std::sync::Arc<[u32]>,
    ) -> Result<Self, FeatureError> {
        let whole = frame
            .column(name)
            .map_err(|_| FeatureError::Missing(name.into()))?
            .as_materialized_series()
            .clone();
        Ok(Numbers::Column {
            column: crate::ingest::Cells::of(frame, name).into(),
            whole,
            rows: rows.clone(),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Numbers::Kept(v) => v.len(),
            Numbers::Column { rows, .. } => rows.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`'s value.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Numbers::Kept(v) => v[i],
            Numbers::Column { column, rows, .. } => column
                .part(rows[i] as usize)
                .map_or(0.0, |(part, at)| number(part, at)),
        }
    }

    /// Every row's value.
    pub fn values(&self) -> std::borrow::Cow<'_, [f64]> {
        match self {
            Numbers::Kept(v) => std::borrow::Cow::Borrowed(v),
            Numbers::Column { rows, whole, .. } => {
                std::borrow::Cow::Owned(match numeric_of(whole, rows) {
                    Some(v) => v,
                    None => (0..rows.len()).map(|i| self.get(i)).collect(),
                })
            }
        }
    }

    /// The values at rows `at`, gathered at once: for a block of rows read together
    /// (cell by cell, a large log's rows in score order each miss the caches).
    pub fn gather(&self, at: &[usize]) -> Vec<f64> {
        match self {
            Numbers::Kept(v) => at.iter().map(|&i| v[i]).collect(),
            Numbers::Column { whole, rows, .. } => {
                // A column of numbers in one piece is read where it is, at the rows' frame
                // rows, as `numeric_at` reads it: taking the rows first would copy them
                // (with their validity) only to read them again.
                let direct = whole.n_chunks() == 1
                    && matches!(
                        whole.dtype(),
                        DataType::Int64 | DataType::Int32 | DataType::Float64
                    );
                if direct {
                    let frame_rows: Vec<u32> = at.iter().map(|&i| rows[i]).collect();
                    if let Some(v) = numeric_of(whole, &frame_rows) {
                        return v;
                    }
                }
                // Otherwise the rows first, then their values: a cast of the whole column
                // for each block would cost what the block saves.
                let idx: Vec<IdxSize> = at.iter().map(|&i| rows[i] as IdxSize).collect();
                let all: Vec<u32> = (0..at.len() as u32).collect();
                whole
                    .take(&IdxCa::from_vec("idx".into(), idx))
                    .ok()
                    .and_then(|part| numeric_of(&part, &all))
                    .unwrap_or_else(|| at.iter().map(|&i| self.get(i)).collect())
            }
        }
    }
}

/// A log column's values at the frame rows `rows`, as [`numeric_at`] reads them.
fn numeric_of(column: &Series, rows: &[u32]) -> Option<Vec<f64>> {
    let frame = DataFrame::new(column.len(), vec![column.clone().into()]).ok()?;
    numeric_at(&frame, column.name(), rows).ok()
}

/// A numeric cell as the features read it ([`numeric_at`]): times in seconds, booleans
/// as 0 or 1, unset and non-finite as 0. Read by type, not through a generic value: the
/// reasons of a 10M-row log read millions of cells.
fn number(part: &Series, at: usize) -> f64 {
    let x = match part.dtype() {
        DataType::Int64 => part.i64().ok().and_then(|c| c.get(at)).map(|v| v as f64),
        DataType::Int32 => part.i32().ok().and_then(|c| c.get(at)).map(f64::from),
        DataType::Float64 => part.f64().ok().and_then(|c| c.get(at)),
        DataType::Boolean => part
            .bool()
            .ok()
            .and_then(|c| c.get(at))
            .map(|b| f64::from(u8::from(b))),
        // As polars divides a column by a number: times the reciprocal.
        DataType::Datetime(..) => part
            .datetime()
            .ok()
            .and_then(|c| c.physical().get(at))
            .map(|us| us as f64 * (1.0 / 1e6)),
        _ => None,
    };
    x.filter(|v| v.is_finite()).unwrap_or(0.0)
}

/// A feature's values before encoding, one per matrix row, kept to explain verdicts.
#[derive(Debug, Clone)]
pub enum Raw {
    /// Numeric values (unset as 0 under `Nulls::Zero`).
    Num(Numbers),
    /// Category codes into `vocab`; `counts[code]` is the value's count among training rows.
    Cat {
        /// Per-row codes.
        codes: Vec<u32>,
        /// Distinct values (`-` for unset).
        vocab: Vec<String>,
        /// Training-row count of each value.
        counts: Vec<usize>,
    },
}

impl Raw {
    /// Row `i`'s number for a numeric feature (0 for a categorical one, which explains by
    /// its codes).
    pub fn number(&self, i: usize) -> f64 {
        match self {
            Raw::Num(v) => v.get(i),
            Raw::Cat { .. } => 0.0,
        }
    }
}

/// The matrix the detectors see, and where its rows come from.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Rows × features, scaled; no rows when the matrix was built without them
    /// ([`build_lean`]: they are made again from `raw` when read, [`Matrix::rows_x`]).
    pub x: Array2<f64>,
    /// Frame row index of each matrix row.
    pub rows: Vec<u32>,
    /// Position in the selection of each matrix row (rows left out by `Nulls::Drop`
    /// leave gaps).
    pub keep: Vec<usize>,
    /// Whether each matrix row is a training row.
    pub train: Vec<bool>,
    /// Feature per matrix column.
    pub features: Vec<Feature>,
    /// Raw values per feature (same order as `features`).
    pub raw: Vec<Raw>,
    /// Rows left out because a numeric feature was unset (`Nulls::Drop`).
    pub dropped: usize,
    /// Number of training rows.
    pub n_train: usize,
    /// How each column was made from the log, to make the same columns for rows that
    /// arrive later ([`Transform::apply`]).
    pub transform: Transform,
}

impl Matrix {
    /// Whether the scaled rows are held ([`build`]) rather than made when read
    /// ([`build_lean`]).
    pub fn held(&self) -> bool {
        self.x.nrows() == self.rows.len()
    }

    /// The scaled matrix rows `at`, in that order: copied when held, else made again
    /// from the raw values as [`build`] made them (the same bits).
    pub fn rows_x(&self, at: &[usize]) -> Array2<f64> {
        if self.held() {
            crate::neighbors::select_rows(self.x.view(), at)
        } else {
            self.made_rows(at)
        }
    }

    /// The scaled rows `at` made from the raw values: each feature's value compressed or
    /// looked up in its rarity table, then centred and scaled, by the same operations as
    /// [`build`] and [`Transform::apply`].
    fn made_rows(&self, at: &[usize]) -> Array2<f64> {
        let d = self.raw.len();
        let scaling = self.transform.opts.scaling;
        // A column at a time, the columns side by side; then laid out row by row.
        let columns: Vec<Vec<f64>> = self
            .raw
            .par_iter()
            .zip(&self.transform.params)
            .map(|(raw, (param, centre, scale))| {
                let values: Vec<f64> = match raw {
                    Raw::Num(v) => compressed(&v.gather(at), scaling),
                    Raw::Cat { codes, counts, .. } => {
                        let n_train = match param {
                            Param::Rarity { n_train, .. } => *n_train,
                            Param::Numeric => self.n_train,
                        };
                        at.iter()
                            .map(|&i| rarity(counts[codes[i] as usize], n_train))
                            .collect()
                    }
                };
                values.into_iter().map(|v| (v - centre) / scale).collect()
            })
            .collect();
        let mut x = Array2::<f64>::zeros((at.len(), d));
        x.axis_chunks_iter_mut(ndarray::Axis(0), PAR_ROWS)
            .into_par_iter()
            .enumerate()
            .for_each(|(c, mut block)| {
                for (r, mut row) in block.outer_iter_mut().enumerate() {
                    for (dst, col) in row.iter_mut().zip(&columns) {
                        *dst = col[c * PAR_ROWS + r];
                    }
                }
            });
        x
    }
}

impl crate::rows::Rows for Matrix {
    fn count(&self) -> usize {
        self.rows.len()
    }

    fn width(&self) -> usize {
        self.features.len()
    }

    fn gather(&self, at: &[usize]) -> Array2<f64> {
        self.rows_x(at)
    }
}

/// How one matrix column is made from a log's rows, as fitted on the training rows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Param {
    /// A numeric column (or a context feature), log-scaled under robust scaling.
    Numeric,
    /// A categorical column: the rarity of each value seen among the training rows; a
    /// value never seen takes `unseen`.
    Rarity {
        /// Written sorted, so that a model saved twice is the same file.
        #[serde(serialize_with = "sorted_counts")]
        counts: HashMap<String, usize>,
        n_train: usize,
    },
}

/// A map's entries in key order.
fn sorted_counts<S: serde::Serializer>(
    m: &HashMap<String, usize>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().collect::<std::collections::BTreeMap<_, _>>())
}

/// New rows made into matrix rows by [`Transform::apply`].
#[derive(Debug, Clone)]
pub struct NewRows {
    /// The matrix rows.
    pub x: Array2<f64>,
    /// The position in the selection of each (`Nulls::Drop` leaves some out).
    pub keep: Vec<usize>,
    /// Each feature's raw values (for reasons).
    pub raw: Vec<Raw>,
}

/// The features as fitted: each column's encoding, centre and scale.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Transform {
    opts: FeatureOptions,
    params: Vec<(Param, f64, f64)>,
    n_train: usize,
}

impl Transform {
    /// The matrix rows of the selected rows of `frame` (rows that arrived after the fit),
    /// made as the training matrix was, and each feature's raw values (to give reasons).
    /// Context features are read from `context` from its row `at` on (its rows cover a
    /// window that ends with these).
    pub fn apply(
        &self,
        frame: &DataFrame,
        selection: &[u32],
        context: Option<(&Context, usize)>,
    ) -> Result<NewRows, FeatureError> {
        let opts = &self.opts;
        let from_context = |name: &str| -> Option<Vec<f64>> {
            if frame.column(name).is_ok() {
                return None;
            }
            let (c, at) = context?;
            let all = c.column(name)?;
            Some(all.get(at..at + selection.len())?.to_vec())
        };
        let keep = kept_rows(frame, selection, opts, context.is_some())?;
        let mut x = Array2::<f64>::zeros((keep.len(), opts.features.len()));
        let mut raw = Vec::with_capacity(opts.features.len());
        for (j, (f, (param, centre, scale))) in opts.features.iter().zip(&self.params).enumerate() {
            let (values, r): (Vec<f64>, Raw) = match param {
                Param::Numeric => {
                    let v: Vec<f64> = match from_context(&f.column) {
                        Some(c) => keep.iter().map(|&i| c[i]).collect(),
                        None => {
                            let col = numeric_values(frame, &f.column)?;
                            keep.iter()
                                .map(|&i| col[selection[i] as usize].unwrap_or(0.0))
                                .collect()
                        }
                    };
                    let scaled = compressed(&v, opts.scaling);
                    (scaled, Raw::Num(Numbers::Kept(v)))
                }
                Param::Rarity { counts, n_train } => {
                    let (all, vocab) = category_codes(frame, &f.column)?;
                    let codes: Vec<u32> =
                        keep.iter().map(|&i| all[selection[i] as usize]).collect();
                    let counts = training_counts(counts, &vocab);
                    let v = codes
                        .iter()
                        .map(|&c| rarity(counts[c as usize], *n_train))
                        .collect();
                    (
                        v,
                        Raw::Cat {
                            codes,
                            vocab,
                            counts,
                        },
                    )
                }
            };
            for (i, v) in values.into_iter().enumerate() {
                x[[i, j]] = (v - centre) / scale;
            }
            raw.push(r);
        }
        Ok(NewRows { x, keep, raw })
    }

    /// The matrix of the selected rows of `frame` as [`Transform::apply`] makes it, built
    /// as [`build_lean`] builds one: the scaled rows not held but made when read
    /// ([`Matrix::rows_x`]), the raw numbers read from the log. No row is a training row.
    /// Context features are read from `context`, whose rows are `selection`'s.
    pub fn matrix_lean(
        &self,
        frame: &DataFrame,
        selection: &[u32],
        context: &Context,
    ) -> Result<Matrix, FeatureError> {
        let opts = &self.opts;
        let keep = kept_rows(frame, selection, opts, true)?;
        let rows: Vec<u32> = keep.iter().map(|&i| selection[i]).collect();
        let shared_rows: std::sync::Arc<[u32]> = rows.as_slice().into();
        let mut raw = Vec::with_capacity(opts.features.len());
        for (f, (param, _, _)) in opts.features.iter().zip(&self.params) {
            raw.push(match param {
                Param::Numeric => match frame.column(&f.column) {
                    Err(_) => {
                        let c = context
                            .column(&f.column)
                            .ok_or_else(|| FeatureError::Missing(f.column.clone()))?;
                        Raw::Num(Numbers::Kept(keep.iter().map(|&i| c[i]).collect()))
                    }
                    Ok(_) => {
                        // Refused as `apply` refuses it when not numeric.
                        let _ = numeric_series(frame, &f.column)?;
                        Raw::Num(Numbers::of_column(frame, &f.column, &shared_rows)?)
                    }
                },
                Param::Rarity { counts, .. } => {
                    let (all, vocab) = category_codes(frame, &f.column)?;
                    let codes: Vec<u32> = rows.iter().map(|&r| all[r as usize]).collect();
                    let counts = training_counts(counts, &vocab);
                    Raw::Cat {
                        codes,
                        vocab,
                        counts,
                    }
                }
            });
        }
        let n = rows.len();
        Ok(Matrix {
            x: Array2::zeros((0, opts.features.len())),
            rows,
            dropped: selection.len() - n,
            keep,
            train: vec![false; n],
            features: opts.features.clone(),
            raw,
            n_train: self.n_train,
            transform: self.clone(),
        })
    }

    /// The features, in matrix column order.
    pub fn features(&self) -> &[Feature] {
        &self.opts.features
    }

    /// Checks a saved transform: features, each with an encoding of its kind.
    pub fn check(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("inconsistent features ({what})"));
        if self.opts.features.is_empty() {
            return bad("none");
        }
        if self.params.len() != self.opts.features.len() {
            return bad("encodings");
        }
        for (f, (p, _, _)) in self.opts.features.iter().zip(&self.params) {
            let fits = matches!(
                (f.encoding, p),
                (Encoding::Numeric, Param::Numeric) | (Encoding::Rarity, Param::Rarity { .. })
            );
            if !fits {
                return bad(&f.column);
            }
        }
        Ok(())
    }

    /// Training rows the fit saw.
    pub fn n_train(&self) -> usize {
        self.n_train
    }
}

/// Why a matrix could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// A chosen column is missing.
    #[error("no column {0:?} in the log")]
    Missing(String),
    /// A column declared numeric is not.
    #[error("column {0:?} is not numeric")]
    NotNumeric(String),
    /// Nothing left to analyse.
    #[error("no rows to analyse{0}")]
    NoRows(String),
    /// No training rows.
    #[error("no training rows (the training label matches none of the selected rows)")]
    NoTrainingRows,
    /// No features chosen.
    #[error("no features chosen")]
    NoFeatures,
}

pub(crate) fn numeric_values(
    frame: &DataFrame,
    name: &str,
) -> Result<Vec<Option<f64>>, FeatureError> {
    let s = numeric_series(frame, name)?;
    let ca = s.f64().map_err(|_| FeatureError::NotNumeric(name.into()))?;
    Ok(ca.iter().map(|v| v.filter(|x| x.is_finite())).collect())
}

/// A numeric column's values at frame rows `rows` as the features read them: unset and
/// non-finite values as 0. Read through one contiguous array rather than a whole-log list
/// of options (half the memory, and no search for each row's chunk).
fn numeric_at(frame: &DataFrame, name: &str, rows: &[u32]) -> Result<Vec<f64>, FeatureError> {
    // A column in one piece is read where it is (integers as a cast gives them): a
    // cast of a 10M-row column first would copy it whole for each read.
    if let Ok(col) = frame.column(name) {
        let s = col.as_materialized_series();
        if s.n_chunks() == 1 {
            if let Some(a) = s.i64().ok().and_then(|c| c.downcast_iter().next()) {
                let unset = |r: usize| a.validity().is_some_and(|b| !b.get_bit(r));
                return Ok(pick(a.values(), unset, rows, |v| v as f64));
            }
            if let Some(a) = s.i32().ok().and_then(|c| c.downcast_iter().next()) {
                let unset = |r: usize| a.validity().is_some_and(|b| !b.get_bit(r));
                return Ok(pick(a.values(), unset, rows, f64::from));
            }
            if let Some(a) = s.f64().ok().and_then(|c| c.downcast_iter().next()) {
                let unset = |r: usize| a.validity().is_some_and(|b| !b.get_bit(r));
                return Ok(pick(a.values(), unset, rows, |v| v));
            }
        }
    }
    let s = numeric_series(frame, name)?.rechunk();
    let ca = s.f64().map_err(|_| FeatureError::NotNumeric(name.into()))?;
    let Some(arr) = ca.downcast_iter().next() else {
        return Ok(vec![0.0; rows.len()]);
    };
    let values = arr.values().as_slice();
    let valid = arr.validity();
    Ok(rows
        .par_iter()
        .with_min_len(PAR_ROWS)
        .map(|&r| {
            let r = r as usize;
            let v = values[r];
            if valid.is_some_and(|b| !b.get_bit(r)) || !v.is_finite() {
                0.0
            } else {
                v
            }
        })
        .collect())
}

/// The values at `rows` of an array (`unset` tells its unset ones), each made a number by
/// `to`: unset and non-finite values as 0.
fn pick<T: Copy + Sync>(
    values: &[T],
    unset: impl Fn(usize) -> bool + Sync,
    rows: &[u32],
    to: impl Fn(T) -> f64 + Sync,
) -> Vec<f64> {
    rows.par_iter()
        .with_min_len(PAR_ROWS)
        .map(|&r| {
            let r = r as usize;
            let v = to(values[r]);
            if unset(r) || !v.is_finite() {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// A numeric column as f64 (times in seconds).
fn numeric_series(frame: &DataFrame, name: &str) -> Result<Series, FeatureError> {
    let col = frame
        .column(name)
        .map_err(|_| FeatureError::Missing(name.into()))?;
    let s = col.as_materialized_series();
    match s.dtype() {
        DataType::Datetime(_, _) => s
            .to_physical_repr()
            .cast(&DataType::Float64)
            .map(|s| &s / 1e6),
        // An all-unset column (JSON with no value for it) is numeric: every value unset.
        DataType::Int64
        | DataType::Int32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Null => s.cast(&DataType::Float64),
        _ => return Err(FeatureError::NotNumeric(name.into())),
    }
    .map_err(|_| FeatureError::NotNumeric(name.into()))
}

/// Category codes for every frame row, and the vocabulary.
fn category_codes(frame: &DataFrame, name: &str) -> Result<(Vec<u32>, Vec<String>), FeatureError> {
    let col = frame
        .column(name)
        .map_err(|_| FeatureError::Missing(name.into()))?;
    let s = col.as_materialized_series();
    Ok(if let Ok(ca) = s.i64() {
        // Ports and codes: numbered by value, written as the general path below writes them.
        first_seen(ca.iter(), |v| {
            v.map_or_else(|| "-".to_string(), |v| v.to_string())
        })
    } else if let Ok(ca) = s.i32() {
        first_seen(ca.iter(), |v| {
            v.map_or_else(|| "-".to_string(), |v| v.to_string())
        })
    } else if let Ok(ca) = s.cat32() {
        // Dictionary codes: numbered by code.
        let mapping = ca.get_mapping();
        first_seen(ca.physical().iter(), |v| {
            v.and_then(|c| mapping.cat_to_str(c))
                .unwrap_or("-")
                .to_string()
        })
    } else if let Ok(ca) = s.str() {
        first_seen(ca.iter(), |v| v.unwrap_or("-").to_string())
    } else {
        first_seen(
            (0..s.len()).map(|i| match s.get(i) {
                Ok(AnyValue::Null) | Err(_) => "-".to_string(),
                Ok(AnyValue::String(v)) => v.to_string(),
                Ok(v) => v.to_string(),
            }),
            |v| v,
        )
    })
}

/// Each key's code, numbered in order of first appearance, and each distinct key's text
/// (`text` is called once per distinct key).
fn first_seen<K: std::hash::Hash + Eq + Clone>(
    keys: impl Iterator<Item = K>,
    text: impl Fn(K) -> String,
) -> (Vec<u32>, Vec<String>) {
    let mut ids: rustc_hash::FxHashMap<K, u32> = Default::default();
    let mut vocab = Vec::new();
    let codes = keys
        .map(|k| {
            *ids.entry(k.clone()).or_insert_with(|| {
                vocab.push(text(k));
                (vocab.len() - 1) as u32
            })
        })
        .collect();
    (codes, vocab)
}

/// The q-quantile of sorted values, interpolated linearly (numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// [`quantile_sorted`] of `values` in any order, without sorting them (they are
/// reordered): the order statistics it interpolates are selected in linear time, the
/// same values a sort would put there.
pub fn quantile_select(values: &mut [f64], q: f64) -> f64 {
    quantiles_select(values, &[q])[0]
}

/// [`quantile_select`] at each of `qs`: the order statistics they interpolate are
/// selected around the middlemost, then on its two sides in parallel, each side holding
/// the others (the same values a sort would put there).
pub fn quantiles_select(values: &mut [f64], qs: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![f64::NAN; qs.len()];
    }
    let pos: Vec<f64> = qs
        .iter()
        .map(|q| q.clamp(0.0, 1.0) * (n - 1) as f64)
        .collect();
    let mut ranks: Vec<usize> = pos
        .iter()
        .flat_map(|p| [p.floor() as usize, p.ceil() as usize])
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut stats = vec![0.0; ranks.len()];
    order_statistics(values, &ranks, &mut stats);
    let at = |r: usize| stats[ranks.binary_search(&r).unwrap_or(0)];
    pos.iter()
        .map(|&p| {
            let (a, b) = (at(p.floor() as usize), at(p.ceil() as usize));
            a + (b - a) * (p - p.floor())
        })
        .collect()
}

/// Writes into `out` the order statistics of `values` (reordered) at `ranks` (ascending,
/// distinct, each below `values.len()`).
fn order_statistics(values: &mut [f64], ranks: &[usize], out: &mut [f64]) {
    let Some(&r) = ranks.get(ranks.len() / 2) else {
        return;
    };
    let m = ranks.len() / 2;
    let (left, at, right) = values.select_nth_unstable_by(r, f64::total_cmp);
    out[m] = *at;
    let (lower, upper) = (&ranks[..m], &ranks[m + 1..]);
    let upper: Vec<usize> = upper.iter().map(|&u| u - r - 1).collect();
    let (out_lower, out_upper) = out.split_at_mut(m);
    let out_upper = &mut out_upper[1..];
    if left.len().min(right.len()) >= PAR_ROWS {
        rayon::join(
            || order_statistics(left, lower, out_lower),
            || order_statistics(right, &upper, out_upper),
        );
    } else {
        order_statistics(left, lower, out_lower);
        order_statistics(right, &upper, out_upper);
    }
}

/// Centre and scale of a column from its training values (robust scaling).
fn robust_centre_scale(train: &mut [f64]) -> (f64, f64) {
    // Quantiles by selection: a full sort of every column took most of the features'
    // time at 10M rows.
    let q = quantiles_select(train, &[0.5, 0.75, 0.25]);
    let (median, iqr) = (q[0], q[1] - q[2]);
    if iqr > 1e-12 {
        return (median, iqr);
    }
    let mut dev: Vec<f64> = train.iter().map(|v| (v - median).abs()).collect();
    let mad = quantile_select(&mut dev, 0.5) * 1.4826;
    if mad > 1e-12 {
        return (median, mad);
    }
    // Summed in sorted order, as before the quantiles were selected (the last bits of a
    // sum depend on its order).
    train.sort_unstable_by(f64::total_cmp);
    let n = train.len() as f64;
    let mean = train.iter().sum::<f64>() / n;
    let std = (train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    (median, if std > 1e-12 { std } else { 1.0 })
}

/// Smoothed −ln frequency of a value seen `count` times among `n` training rows.
pub fn rarity(count: usize, n: usize) -> f64 {
    -((count as f64 + 1.0) / (n as f64 + 2.0)).ln()
}

/// Positions in `selection` of the rows `opts.nulls` keeps: all under `Nulls::Zero`;
/// under `Nulls::Drop` those with every numeric feature set (context features, which are
/// always set, are skipped when `context` is there). The numeric columns are read one at
/// a time, so that only one is held as a whole-log copy at any moment.
fn kept_rows(
    frame: &DataFrame,
    selection: &[u32],
    opts: &FeatureOptions,
    context: bool,
) -> Result<Vec<usize>, FeatureError> {
    let mut keep: Vec<usize> = (0..selection.len()).collect();
    if opts.nulls == Nulls::Drop {
        for f in opts
            .features
            .iter()
            .filter(|f| f.encoding == Encoding::Numeric)
        {
            if frame.column(&f.column).is_err() && context {
                continue;
            }
            let col = numeric_values(frame, &f.column)?;
            keep.retain(|&i| col[selection[i] as usize].is_some());
        }
    }
    Ok(keep)
}

/// Each value of `vocab`'s count among the training rows, from a fitted rarity table (0:
/// never seen there).
fn training_counts(counts: &HashMap<String, usize>, vocab: &[String]) -> Vec<usize> {
    vocab
        .iter()
        .map(|v| counts.get(v).copied().unwrap_or(0))
        .collect()
}

/// Fewest rows a parallel pass over a column is given per task (below, the split costs
/// more than it saves).
const PAR_ROWS: usize = 1 << 14;

/// A numeric feature's values as the matrix takes them: as they are under `Max`
/// scaling, sign(x)·ln(1 + |x|) under `Robust`.
fn compressed(v: &[f64], scaling: Scaling) -> Vec<f64> {
    match scaling {
        Scaling::Max => v.to_vec(),
        Scaling::Robust => v
            .par_iter()
            .with_min_len(PAR_ROWS)
            .map(|&x| x.signum() * x.abs().ln_1p())
            .collect(),
    }
}

/// Builds the matrix for the selected frame rows. `train` marks training rows (per
/// selected row); `None` trains on all of them. Context features are read from `context`
/// (which covers `selection`, in order) when the frame has no column of their name; it is
/// built here when they are asked for and none is given.
pub fn build(
    frame: &DataFrame,
    selection: &[u32],
    train: Option<&[bool]>,
    opts: &FeatureOptions,
    context: Option<&Context>,
) -> Result<Matrix, FeatureError> {
    build_holding(frame, selection, train, opts, context, true)
}

/// [`build`] without holding the scaled rows: they are made again when read
/// ([`Matrix::rows_x`]), a block at a time, by a run that reads each row once or twice
/// (`zsift score`: 8 bytes a feature and row less).
pub fn build_lean(
    frame: &DataFrame,
    selection: &[u32],
    train: Option<&[bool]>,
    opts: &FeatureOptions,
    context: Option<&Context>,
) -> Result<Matrix, FeatureError> {
    build_holding(frame, selection, train, opts, context, false)
}

/// [`build`], holding the scaled rows when `hold`.
fn build_holding(
    frame: &DataFrame,
    selection: &[u32],
    train: Option<&[bool]>,
    opts: &FeatureOptions,
    context: Option<&Context>,
    hold: bool,
) -> Result<Matrix, FeatureError> {
    let wants_context = opts.features.iter().any(|f| {
        f.encoding == Encoding::Numeric
            && frame.column(&f.column).is_err()
            && crate::hosts::context::is_feature(&f.column)
    });
    let built;
    let context = match context {
        None if wants_context => {
            built = Context::build(frame, selection);
            Some(&built)
        }
        c => c,
    };
    let from_context = |name: &str| -> Option<Vec<f64>> {
        if frame.column(name).is_ok() {
            return None;
        }
        context.and_then(|c| c.column(name))
    };
    if opts.features.is_empty() {
        return Err(FeatureError::NoFeatures);
    }
    if selection.is_empty() {
        return Err(FeatureError::NoRows(" after the filter".into()));
    }
    // Read again below, one column at a time.
    let keep = kept_rows(frame, selection, opts, context.is_some())?;
    let dropped = selection.len() - keep.len();
    if keep.is_empty() {
        return Err(FeatureError::NoRows(format!(
            " ({dropped} rows have an unset feature)"
        )));
    }
    let rows: Vec<u32> = keep.iter().map(|&i| selection[i]).collect();
    let train: Vec<bool> = match train {
        Some(t) => keep.iter().map(|&i| t[i]).collect(),
        None => vec![true; keep.len()],
    };
    let n_train = train.iter().filter(|&&t| t).count();
    if n_train == 0 {
        return Err(FeatureError::NoTrainingRows);
    }
    let n = rows.len();
    let d = opts.features.len();
    let mut x = Array2::<f64>::zeros((if hold { n } else { 0 }, d));
    let mut raw = Vec::with_capacity(d);
    let mut params = Vec::with_capacity(d);
    let shared_rows: std::sync::Arc<[u32]> = rows.as_slice().into();
    for (j, f) in opts.features.iter().enumerate() {
        let (values, r): (Vec<f64>, Raw) = match f.encoding {
            Encoding::Numeric => match from_context(&f.column) {
                Some(c) => {
                    let v: Vec<f64> = keep.iter().map(|&i| c[i]).collect();
                    (compressed(&v, opts.scaling), Raw::Num(Numbers::Kept(v)))
                }
                None => {
                    let v = numeric_at(frame, &f.column, &rows)?;
                    let numbers = Numbers::of_column(frame, &f.column, &shared_rows)?;
                    (compressed(&v, opts.scaling), Raw::Num(numbers))
                }
            },
            Encoding::Rarity => {
                let (all, vocab) = category_codes(frame, &f.column)?;
                let codes: Vec<u32> = rows
                    .par_iter()
                    .with_min_len(PAR_ROWS)
                    .map(|&r| all[r as usize])
                    .collect();
                let mut counts = vec![0usize; vocab.len()];
                for (c, _) in codes.iter().zip(&train).filter(|(_, &t)| t) {
                    counts[*c as usize] += 1;
                }
                let table: Vec<f64> = counts.iter().map(|&c| rarity(c, n_train)).collect();
                let v = codes
                    .par_iter()
                    .with_min_len(PAR_ROWS)
                    .map(|&c| table[c as usize])
                    .collect();
                (
                    v,
                    Raw::Cat {
                        codes,
                        vocab,
                        counts,
                    },
                )
            }
        };
        let (centre, scale) = match opts.scaling {
            Scaling::Max => {
                let m = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                (0.0, if m > 0.0 { m } else { 1.0 })
            }
            Scaling::Robust => {
                let mut t: Vec<f64> = values
                    .par_iter()
                    .zip(&train)
                    .with_min_len(PAR_ROWS)
                    .filter(|(_, &t)| t)
                    .map(|(v, _)| *v)
                    .collect();
                robust_centre_scale(&mut t)
            }
        };
        if hold {
            let flat = x.as_slice_mut().expect("a new matrix is in standard order");
            flat.par_chunks_mut(d)
                .zip(&values)
                .with_min_len(PAR_ROWS)
                .for_each(|(row, v)| row[j] = (v - centre) / scale);
        }
        let param = match &r {
            Raw::Num(_) => Param::Numeric,
            Raw::Cat { vocab, counts, .. } => Param::Rarity {
                counts: vocab
                    .iter()
                    .zip(counts)
                    .filter(|(_, &c)| c > 0)
                    .map(|(v, &c)| (v.clone(), c))
                    .collect(),
                n_train,
            },
        };
        params.push((param, centre, scale));
        raw.push(r);
    }
    Ok(Matrix {
        x,
        rows,
        keep,
        train,
        features: opts.features.clone(),
        raw,
        dropped,
        n_train,
        transform: Transform {
            opts: opts.clone(),
            params,
            n_train,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "duration" => [Some(1.0), None, Some(3.0), Some(100.0)],
            "orig_bytes" => [Some(10i64), Some(20), None, Some(40)],
            "conn_state" => [Some("SF"), Some("SF"), Some("S0"), None],
            "id.resp_p" => [443i64, 443, 22, 443]
        )
        .unwrap()
    }

    fn feats(list: &str) -> Vec<Feature> {
        FeatureOptions::parse_features(list, &frame()).unwrap()
    }

    #[test]
    fn raw_numbers_read_from_the_log_are_the_values_the_matrix_was_made_of() {
        let frame = df!(
            "duration" => [Some(1.5), None, Some(f64::INFINITY), Some(100.0), Some(0.25)],
            "orig_bytes" => [Some(10i64), Some(20), None, Some(40), Some(1 << 40)],
            "ts" => [Some(1_700_000_000_250_000i64), None, Some(3), Some(0), Some(-5)],
            "orig_pkts" => [Some(3i32), None, Some(i32::MAX), Some(-1), Some(7)]
        )
        .unwrap();
        let mut frame = frame;
        let ts = frame
            .column("ts")
            .unwrap()
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap();
        frame.with_column(ts).unwrap();
        let opts = FeatureOptions {
            features: FeatureOptions::parse_features("duration,orig_bytes,ts,orig_pkts", &frame)
                .unwrap(),
            scaling: Scaling::Max,
            nulls: Nulls::Zero,
        };
        // Rows out of order and one left out, as a filter leaves them.
        let m = build(&frame, &[4, 0, 2, 1], None, &opts, None).unwrap();
        // Unset and non-finite values as 0, times in seconds.
        let want: [[f64; 4]; 4] = [
            [0.25, 1.5, 0.0, 0.0],
            [(1u64 << 40) as f64, 10.0, 0.0, 20.0],
            [-5.0 * (1.0 / 1e6), 1_700_000_000.25, 3.0 * (1.0 / 1e6), 0.0],
            [7.0, 3.0, i32::MAX as f64, 0.0],
        ];
        for (j, want) in want.iter().enumerate() {
            let Raw::Num(v) = &m.raw[j] else {
                panic!("numeric")
            };
            assert!(matches!(v, Numbers::Column { .. }), "read from the log");
            assert_eq!(v.values().as_ref(), want.as_slice(), "feature {j}");
            let each: Vec<f64> = (0..v.len()).map(|i| v.get(i)).collect();
            assert_eq!(each, want.to_vec(), "feature {j} row by row");
            assert_eq!(v.gather(&[2, 0]), vec![want[2], want[0]]);
            assert_eq!(v.gather(&[3, 1, 0]), vec![want[3], want[1], want[0]]);
        }
    }

    #[test]
    fn parse_chooses_encodings() {
        let f = feats("duration,conn_state,id.resp_p,orig_bytes:cat");
        let enc: Vec<Encoding> = f.iter().map(|f| f.encoding).collect();
        assert_eq!(
            enc,
            vec![
                Encoding::Numeric,
                Encoding::Rarity,
                Encoding::Rarity,
                Encoding::Rarity
            ]
        );
        assert!(FeatureOptions::parse_features("nope", &frame()).is_err());
        assert!(FeatureOptions::parse_features("conn_state:num", &frame()).is_err());
    }

    #[test]
    fn seed_scaling_drops_unset_rows_and_divides_by_max() {
        let opts = FeatureOptions {
            features: feats("duration,orig_bytes"),
            scaling: Scaling::Max,
            nulls: Nulls::Drop,
        };
        let m = build(&frame(), &[0, 1, 2, 3], None, &opts, None).unwrap();
        assert_eq!(m.rows, vec![0, 3]);
        assert_eq!(m.dropped, 2);
        assert_eq!(m.x[[0, 0]], 0.01);
        assert_eq!(m.x[[1, 1]], 1.0);
    }

    #[test]
    fn rarity_comes_from_training_rows() {
        let opts = FeatureOptions {
            features: feats("conn_state"),
            scaling: Scaling::Max,
            nulls: Nulls::Zero,
        };
        let train = [true, true, false, false];
        let m = build(&frame(), &[0, 1, 2, 3], Some(&train), &opts, None).unwrap();
        // SF seen twice in 2 training rows, S0 and unset never.
        let r_sf = rarity(2, 2);
        let r_new = rarity(0, 2);
        assert!((m.x[[0, 0]] - r_sf / r_new).abs() < 1e-12);
        assert_eq!(m.x[[2, 0]], 1.0);
        assert_eq!(m.x[[3, 0]], 1.0);
        match &m.raw[0] {
            Raw::Cat { vocab, counts, .. } => {
                assert_eq!(vocab, &["SF", "S0", "-"]);
                assert_eq!(counts, &[2, 0, 0]);
            }
            _ => panic!("categorical"),
        }
    }

    /// A xorshift generator from `seed`: the numbers of a test's columns.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn quantiles_by_selection_are_those_of_the_sorted_values() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut values: Vec<f64> = (0..1001)
            .map(|_| {
                let x = next();
                // Many ties, a negative zero and a spread.
                ((x % 97) as f64 - 40.0) * if x % 5 == 0 { -0.0 } else { 1.5 }
            })
            .collect();
        for n in [1, 2, 3, 10, 1001] {
            let mut sorted = values[..n].to_vec();
            sorted.sort_by(f64::total_cmp);
            for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0] {
                let want = quantile_sorted(&sorted, q);
                let got = quantile_select(&mut values[..n], q);
                assert_eq!(got.to_bits(), want.to_bits(), "n {n}, q {q}");
            }
        }
        assert!(quantile_select(&mut [], 0.5).is_nan());
    }

    #[test]
    fn several_quantiles_at_once_are_those_of_the_sorted_values() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut values: Vec<f64> = (0..5 * PAR_ROWS + 7)
            .map(|_| {
                let x = next();
                ((x % 1013) as f64 - 300.0) * if x % 7 == 0 { -0.0 } else { 0.37 }
            })
            .collect();
        let qs = [0.5, 0.75, 0.25, 0.0, 1.0, 0.9, 0.25];
        for n in [1, 2, 3, 10, 1001, values.len()] {
            let mut sorted = values[..n].to_vec();
            sorted.sort_by(f64::total_cmp);
            let got = quantiles_select(&mut values[..n], &qs);
            for (q, g) in qs.iter().zip(got) {
                let want = quantile_sorted(&sorted, *q);
                assert_eq!(g.to_bits(), want.to_bits(), "n {n}, q {q}");
            }
        }
        assert!(quantiles_select(&mut [], &[0.5])[0].is_nan());
    }

    #[test]
    fn robust_scaling_is_finite_on_constant_columns() {
        let f = df!("a" => [5.0, 5.0, 5.0], "b" => [1.0, 2.0, 3.0]).unwrap();
        let opts = FeatureOptions {
            features: FeatureOptions::parse_features("a,b", &f).unwrap(),
            scaling: Scaling::Robust,
            nulls: Nulls::Zero,
        };
        let m = build(&f, &[0, 1, 2], None, &opts, None).unwrap();
        assert!(m.x.iter().all(|v| v.is_finite()));
        assert_eq!(m.x[[0, 0]], 0.0);
        assert!(m.x[[0, 1]] < 0.0 && m.x[[2, 1]] > 0.0);
    }

    #[test]
    fn context_features_are_built_when_no_context_is_given() {
        let f = df!(
            "id.orig_h" => ["10.0.0.1", "10.0.0.1", "10.0.0.2"],
            "id.resp_h" => ["10.0.0.9", "10.0.0.8", "10.0.0.9"],
            "id.resp_p" => [53i64, 53, 53],
            "duration" => [1.0, 2.0, 3.0]
        )
        .unwrap();
        let opts = FeatureOptions::default_for(&f);
        assert!(opts.features.iter().any(|x| x.column == "dport.odd"));
        let m = build(&f, &[0, 1, 2], None, &opts, None).unwrap();
        let hosts = FeatureOptions {
            features: FeatureOptions::parse_features("src.hosts", &f).unwrap(),
            scaling: Scaling::Max,
            nulls: Nulls::Drop,
        };
        let m2 = build(&f, &[0, 1, 2], None, &hosts, None).unwrap();
        assert_eq!(m.x.nrows(), 3);
        // 10.0.0.1 reached two destinations, 10.0.0.2 one: 2, 2, 1 over the max 2.
        assert_eq!(m2.x.column(0).to_vec(), vec![1.0, 1.0, 0.5]);
    }

    #[test]
    fn empty_selection_and_no_training_rows_are_errors() {
        let opts = FeatureOptions::default_for(&frame());
        assert!(matches!(
            build(&frame(), &[], None, &opts, None),
            Err(FeatureError::NoRows(_))
        ));
        let t = [false; 4];
        assert_eq!(
            build(&frame(), &[0, 1, 2, 3], Some(&t), &opts, None).unwrap_err(),
            FeatureError::NoTrainingRows
        );
    }
}
