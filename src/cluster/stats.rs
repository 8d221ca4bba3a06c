//! Per-cluster statistics and per-feature distributions, as the seed notebook printed and
//! plotted them: for each cluster its size, the mean, standard deviation, variance, range
//! and quartiles of each numeric feature, and the five most common values of the
//! categorical fields; for each feature its sorted values and histograms (linear and
//! logarithmic bins) of anomalous against normal rows.

use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::features::quantile_sorted;
use crate::summary::Count;

/// Categorical fields summarised per cluster (those the log has).
pub const CATEGORICAL: [&str; 6] = [
    "service",
    "conn_state",
    "id.resp_p",
    "id.resp_h",
    "id.orig_h",
    "proto",
];

/// Summary of one numeric feature over a set of rows (unset values left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumericStats {
    /// Column name.
    pub feature: String,
    /// Rows with a value.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1, as pandas).
    pub std: f64,
    /// Sample variance.
    pub var: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// max − min.
    pub range: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
}

impl NumericStats {
    /// Statistics of `values` (finite values only); `None` if there are none.
    pub fn of(feature: &str, values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable_by(f64::total_cmp);
        let n = v.len() as f64;
        let moments = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / n;
            let var = if v.len() > 1 {
                v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
            } else {
                0.0
            };
            (mean, var)
        };
        let (mut mean, mut var) = moments(&v);
        let mut std = var.sqrt();
        if !(mean.is_finite() && var.is_finite()) {
            // Values near the largest double (a hostile `1e308`): their sum or squares
            // overflow. Worked out on the values divided by the largest magnitude, then
            // scaled back; what is still beyond a double (a variance of 1e616) is given
            // as the largest double.
            let scale = v[0].abs().max(v[v.len() - 1].abs());
            let scaled: Vec<f64> = v.iter().map(|x| x / scale).collect();
            let (m, s2) = moments(&scaled);
            mean = m * scale;
            std = saturate(s2.sqrt() * scale);
            var = saturate(s2 * scale * scale);
        }
        Some(Self {
            feature: feature.to_string(),
            count: v.len(),
            mean,
            std,
            var,
            min: v[0],
            max: v[v.len() - 1],
            range: saturate(v[v.len() - 1] - v[0]),
            q1: quantile_sorted(&v, 0.25),
            median: quantile_sorted(&v, 0.5),
            q3: quantile_sorted(&v, 0.75),
        })
    }
}

/// `x`, or the largest double of its sign where it overflowed.
fn saturate(x: f64) -> f64 {
    if x.is_infinite() {
        f64::MAX.copysign(x)
    } else {
        x
    }
}

/// The most common values of a categorical field in a set of rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopValues {
    /// Column name.
    pub column: String,
    /// Up to five values with their counts, most common first.
    pub top: Vec<Count>,
}

/// Statistics of one cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStats {
    /// Cluster label (−1: noise).
    pub cluster: i32,
    /// Rows in it.
    pub count: usize,
    /// Numeric features.
    pub numeric: Vec<NumericStats>,
    /// Categorical fields.
    pub categorical: Vec<TopValues>,
}

/// A feature's values per frame row as f64 (`None` when unset or not numeric).
pub fn numeric_column(frame: &DataFrame, name: &str) -> Option<Vec<Option<f64>>> {
    let s = frame.column(name).ok()?.as_materialized_series();
    let s = match s.dtype() {
        DataType::Int64 | DataType::Int32 | DataType::Float64 | DataType::Boolean => {
            s.cast(&DataType::Float64).ok()?
        }
        _ => return None,
    };
    Some(s.f64().ok()?.iter().collect())
}

/// The values of a numeric column at the frame rows `rows` (unset ones left out), read
/// for those rows only: a whole column as optional numbers would be 16 bytes a row, for
/// each column and each clustering.
fn numeric_at(s: &Series, rows: &[u32]) -> Vec<f64> {
    // A column in one piece is read where it is: a cluster of millions of rows would
    // otherwise be copied twice (taken, then cast) before its numbers are.
    if s.n_chunks() == 1 {
        macro_rules! direct {
            ($ca:expr) => {
                if let Some(a) = $ca.ok().and_then(|c| c.downcast_iter().next()) {
                    let (values, valid) = (a.values(), a.validity());
                    return rows
                        .iter()
                        .map(|&r| r as usize)
                        .filter(|&r| valid.is_none_or(|b| b.get_bit(r)))
                        .map(|r| values[r] as f64)
                        .collect();
                }
            };
        }
        direct!(s.i64());
        direct!(s.i32());
        direct!(s.f64());
    }
    let idx = IdxCa::from_vec("".into(), rows.to_vec());
    s.take(&idx)
        .ok()
        .and_then(|t| t.cast(&DataType::Float64).ok())
        .map(|t| {
            t.f64()
                .map(|ca| ca.iter().flatten().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// Whether the column `name` of `frame` is one whose values are counted per cluster
/// (text, codes of text, or integers).
fn countable(frame: &DataFrame, name: &str) -> Option<Column> {
    let col = frame.column(name).ok()?;
    let ok = crate::ingest::text::Texts::of(col).is_some()
        || matches!(col.dtype(), DataType::Int64 | DataType::Int32);
    ok.then(|| col.clone())
}

/// The `n` most common values of the column `col` among the frame rows `rows` (`-` for
/// unset), ties by value.
fn top_values(col: &Column, rows: &[u32], n: usize) -> Vec<Count> {
    let s = col.as_materialized_series();
    let counted = match s.n_chunks() {
        1 => counted_in_place(s, rows),
        _ => None,
    };
    let mut top = crate::summary::most_first(counted.unwrap_or_else(|| counted_taken(s, rows)));
    top.truncate(n);
    top
}

/// The values of a column in one piece among the frame rows `rows`, counted where they
/// are (by dictionary code, text or integer), with their counts; `None` for a type read
/// otherwise. A clustering of a 10M-row log otherwise copies its rows of each column
/// (and casts a port column's) once per cluster.
fn counted_in_place(s: &Series, rows: &[u32]) -> Option<Vec<(usize, String)>> {
    crate::summary::count_values(s, Some(rows))
}

/// [`counted_in_place`] of a column in pieces: its rows taken (into one piece), then
/// counted.
fn counted_taken(s: &Series, rows: &[u32]) -> Vec<(usize, String)> {
    let idx = IdxCa::from_vec("".into(), rows.to_vec());
    s.take(&idx)
        .ok()
        .and_then(|taken| crate::summary::count_values(&taken, None))
        .unwrap_or_default()
}

/// Statistics per cluster of the frame rows `rows` (one label per row), over the numeric
/// columns `numeric` and the categorical fields in [`CATEGORICAL`] the frame has. Clusters
/// come in label order, noise (−1) first; they are summarised in parallel, each reading
/// its own rows' values.
pub fn cluster_stats(
    frame: &DataFrame,
    rows: &[u32],
    labels: &[i32],
    numeric: &[String],
) -> Vec<ClusterStats> {
    let mut members: rustc_hash::FxHashMap<i32, Vec<u32>> = Default::default();
    for (&r, &l) in rows.iter().zip(labels) {
        members.entry(l).or_default().push(r);
    }
    let num_cols: Vec<(&String, Series)> = numeric
        .iter()
        .filter_map(|c| {
            let s = frame.column(c).ok()?.as_materialized_series();
            matches!(
                s.dtype(),
                DataType::Int64 | DataType::Int32 | DataType::Float64 | DataType::Boolean
            )
            .then(|| (c, s.clone()))
        })
        .collect();
    let cat_cols: Vec<(&str, Column)> = CATEGORICAL
        .iter()
        .filter_map(|c| countable(frame, c).map(|v| (*c, v)))
        .collect();
    let mut clusters: Vec<(i32, Vec<u32>)> = members.into_iter().collect();
    clusters.sort_unstable_by_key(|c| c.0);
    clusters
        .into_par_iter()
        .map(|(k, m)| ClusterStats {
            cluster: k,
            count: m.len(),
            numeric: num_cols
                .iter()
                .filter_map(|(name, s)| NumericStats::of(name, &numeric_at(s, &m)))
                .collect(),
            categorical: cat_cols
                .iter()
                .map(|(name, col)| TopValues {
                    column: name.to_string(),
                    top: top_values(col, &m, 5),
                })
                .collect(),
        })
        .collect()
}

/// Counts of anomalous and normal values per bin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// Bin edges (bins + 1 of them), in the feature's units.
    pub edges: Vec<f64>,
    /// Anomalous rows per bin.
    pub anomalous: Vec<usize>,
    /// Normal rows per bin.
    pub normal: Vec<usize>,
}

/// A feature's distribution, for plots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// Column name.
    pub feature: String,
    /// All values, ascending (the seed's "distribution" curve).
    pub sorted: Vec<f64>,
    /// Equal-width bins over [min, max].
    pub linear: Histogram,
    /// Bins equal in log10(1 + x) (for heavy-tailed counts), over the same range.
    pub log: Histogram,
}

fn histogram(
    values: &[f64],
    flagged: &[bool],
    bins: usize,
    to: impl Fn(f64) -> f64,
    from: impl Fn(f64) -> f64,
) -> Histogram {
    // The values transformed as read, twice (for the range, then the bins), rather than
    // held: 8 bytes a row per feature.
    let t = || values.iter().map(|&v| to(v));
    let lo = t().fold(f64::INFINITY, f64::min);
    let hi = t().fold(f64::NEG_INFINITY, f64::max);
    let bins = bins.max(1);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    };
    let width = (hi - lo) / bins as f64;
    let mut anomalous = vec![0; bins];
    let mut normal = vec![0; bins];
    for (x, &f) in t().zip(flagged) {
        if !x.is_finite() {
            continue;
        }
        let b = (((x - lo) / width) as usize).min(bins - 1);
        if f {
            anomalous[b] += 1;
        } else {
            normal[b] += 1;
        }
    }
    Histogram {
        edges: (0..=bins).map(|i| from(lo + width * i as f64)).collect(),
        anomalous,
        normal,
    }
}

/// The distribution of `values` (one per row; `flagged` marks the anomalous rows) with
/// `bins` bins.
pub fn distribution(
    feature: &str,
    mut values: Vec<f64>,
    flagged: &[bool],
    bins: usize,
) -> Distribution {
    let log_to = |v: f64| v.signum() * v.abs().ln_1p() / std::f64::consts::LN_10;
    let log_from = |t: f64| t.signum() * ((t.abs() * std::f64::consts::LN_10).exp() - 1.0);
    let linear = histogram(&values, flagged, bins, |v| v, |v| v);
    let log = histogram(&values, flagged, bins, log_to, log_from);
    // Sorted where they are: no second copy of a 10M-row column. Values equal in the total
    // order have the same bits, so an unstable sort gives what a stable one would, without
    // its buffer of half the values.
    values.retain(|v| v.is_finite());
    values.sort_unstable_by(f64::total_cmp);
    Distribution {
        feature: feature.to_string(),
        sorted: values,
        linear,
        log,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_stats_match_pandas() {
        // pandas: Series([1, 2, 3, 4, 10]).describe() -> mean 4, std 3.5355, 25% 2, 50% 3, 75% 4
        let s = NumericStats::of("x", &[1.0, 2.0, 3.0, 4.0, 10.0, f64::NAN]).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(s.mean, 4.0);
        assert!((s.std - 3.5355339059327378).abs() < 1e-12);
        assert_eq!((s.q1, s.median, s.q3), (2.0, 3.0, 4.0));
        assert_eq!((s.min, s.max, s.range), (1.0, 10.0, 9.0));
        assert!(NumericStats::of("x", &[]).is_none());
        assert_eq!(NumericStats::of("x", &[7.0]).unwrap().std, 0.0);
    }

    /// Values near the largest double: every statistic a finite number (the mean of
    /// 1e308 and 1.7e308 is 1.35e308; their variance, 2.45e615, is given as the largest
    /// double), as JSON and text need.
    #[test]
    fn huge_values_give_finite_statistics() {
        let s = NumericStats::of("duration", &[1e308, 1.7e308, -1.7e308, 0.5]).unwrap();
        for x in [
            s.mean, s.std, s.var, s.min, s.max, s.range, s.q1, s.median, s.q3,
        ] {
            assert!(x.is_finite(), "{s:?}");
        }
        let t = NumericStats::of("duration", &[1e308, 1.7e308]).unwrap();
        assert!((t.mean / 1.35e308 - 1.0).abs() < 1e-12, "{t:?}");
        assert!(
            (t.std / (0.7e308 / 2f64.sqrt()) - 1.0).abs() < 1e-12,
            "{t:?}"
        );
        assert_eq!(t.var, f64::MAX);
        assert_eq!(s.range, f64::MAX);
    }

    #[test]
    fn clusters_are_summarised() {
        let f = df!(
            "orig_bytes" => [Some(1i64), Some(3), None, Some(100), Some(200)],
            "service" => [Some("dns"), Some("dns"), Some("ssl"), None, Some("ssl")],
            "id.resp_p" => [53i64, 53, 443, 443, 443]
        )
        .unwrap();
        let st = cluster_stats(
            &f,
            &[0, 1, 2, 3, 4],
            &[0, 0, 1, -1, 1],
            &["orig_bytes".to_string()],
        );
        assert_eq!(
            st.iter().map(|c| (c.cluster, c.count)).collect::<Vec<_>>(),
            vec![(-1, 1), (0, 2), (1, 2)]
        );
        assert_eq!(st[1].numeric[0].mean, 2.0);
        assert_eq!(st[2].numeric[0].count, 1, "unset value left out");
        let svc = st[1]
            .categorical
            .iter()
            .find(|t| t.column == "service")
            .unwrap();
        assert_eq!(
            svc.top,
            vec![Count {
                value: "dns".into(),
                count: 2
            }]
        );
        let port = st[2]
            .categorical
            .iter()
            .find(|t| t.column == "id.resp_p")
            .unwrap();
        assert_eq!(port.top[0].value, "443");
        assert_eq!(
            st[0]
                .categorical
                .iter()
                .find(|t| t.column == "service")
                .unwrap()
                .top[0]
                .value,
            "-"
        );
    }

    #[test]
    fn top_values_count_and_break_ties_by_value() {
        let f = df!("service" => [Some("b"), Some("a"), None, Some("b"), Some("a"), Some("c"), Some("d")]).unwrap();
        let st = cluster_stats(&f, &[0, 1, 2, 3, 4, 5, 6], &[0, 0, 0, 0, 0, 0, 1], &[]);
        let top: Vec<(String, usize)> = st[0].categorical[0]
            .top
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect();
        let want = [("a", 2), ("b", 2), ("-", 1), ("c", 1)];
        assert_eq!(top, want.map(|(v, c)| (v.to_string(), c)));
        assert_eq!(st[1].categorical[0].top[0].value, "d");
    }

    /// Values counted where they are equal those counted from the rows taken first, for
    /// dictionary codes, text, 64- and 32-bit integers, with unset values, a value `-`
    /// and rows repeated and out of order; a column in pieces is taken.
    #[test]
    fn values_counted_in_place_are_those_of_the_rows_taken() {
        let columns = crate::summary::tests::columns_to_count(400);
        let rows: Vec<u32> = (0..400u32)
            .rev()
            .step_by(3)
            .chain([5, 5, 5, 0, 399])
            .collect();
        let sorted = |mut v: Vec<(usize, String)>| {
            v.sort();
            v
        };
        for c in &columns {
            let s = c.as_materialized_series();
            let direct = counted_in_place(s, &rows).expect("counted in place");
            assert_eq!(
                sorted(direct),
                sorted(counted_taken(s, &rows)),
                "{}",
                s.name()
            );
        }
        let total = |v: &[(usize, String)]| v.iter().map(|c| c.0).sum::<usize>();
        let coded = counted_in_place(columns[0].as_materialized_series(), &rows).unwrap();
        assert_eq!(total(&coded), rows.len());
        // An unset value and the text `-` are one value, as the taken rows count them.
        assert_eq!(coded.iter().filter(|c| c.1 == "-").count(), 1);
        let mut pieces = columns[2].as_materialized_series().slice(0, 200);
        pieces
            .append(&columns[2].as_materialized_series().slice(200, 200))
            .unwrap();
        assert_eq!(pieces.n_chunks(), 2);
        let f = DataFrame::new(400, vec![pieces.into()]).unwrap();
        let top = top_values(f.column("i64").unwrap(), &rows, 50);
        let want = counted_taken(columns[2].as_materialized_series(), &rows);
        assert_eq!(top.len(), want.len());
        assert_eq!(top.iter().map(|c| c.count).sum::<usize>(), rows.len());
    }

    #[test]
    fn histograms_split_anomalous_and_normal() {
        let v = [0.0, 1.0, 2.0, 3.0, 1000.0];
        let f = [false, false, false, false, true];
        let d = distribution("x", v.to_vec(), &f, 4);
        assert_eq!(d.sorted, v.to_vec());
        assert_eq!(d.linear.normal, vec![4, 0, 0, 0]);
        assert_eq!(d.linear.anomalous, vec![0, 0, 0, 1]);
        assert_eq!(d.linear.edges.len(), 5);
        // Log bins spread the small values out: log10(1 + x) is 0, 0.30, 0.48, 0.60, 3.
        let d = distribution("x", v.to_vec(), &f, 10);
        assert_eq!(&d.log.normal[..3], &[1, 2, 1]);
        assert_eq!(d.log.anomalous[9], 1);
        assert!((d.log.edges[10] - 1000.0).abs() < 1e-6);
        // A constant feature gets one usable bin, no NaN.
        let c = distribution("c", vec![5.0; 3], &[false; 3], 3);
        assert!(c.linear.edges.iter().all(|e| e.is_finite()));
        assert_eq!(c.linear.normal.iter().sum::<usize>(), 3);
    }
}
