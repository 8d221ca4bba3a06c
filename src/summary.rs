//! What a loaded log holds: rows, skipped lines, columns, time range, services and top
//! talkers. Shared by `zsift summary` and the TUI's overview.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Serialize;

use crate::ingest::{FileInfo, Log, Skipped};

/// A value and how many rows have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value as text (`-` for unset, as Zeek writes it).
    pub value: String,
    /// Rows with it.
    pub count: usize,
}

/// A column's name and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    /// Canonical name.
    pub name: String,
    /// polars type, as polars prints it.
    #[serde(rename = "type")]
    pub dtype: String,
}

/// The summary of a log.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Rows loaded.
    pub rows: usize,
    /// Malformed lines skipped.
    pub skipped: Skipped,
    /// `tsv`, `json` or `mixed`.
    pub format: String,
    /// Per input file.
    pub files: Vec<FileInfo>,
    /// Columns in order.
    pub columns: Vec<ColumnInfo>,
    /// First and last `ts`, ISO 8601 UTC.
    pub time_range: Option<(String, String)>,
    /// Rows per `service`, most first.
    pub services: Vec<Count>,
    /// Top originators (`id.orig_h`).
    pub sources: Vec<Count>,
    /// Top responders (`id.resp_h`).
    pub destinations: Vec<Count>,
}

/// Counts the values of a column, most frequent first (ties by value). Unset counts as
/// `-`. Non-string columns are counted by their printed value. A missing column gives
/// an empty list.
pub fn value_counts(frame: &DataFrame, column: &str) -> Vec<Count> {
    let Ok(col) = frame.column(column) else {
        return Vec::new();
    };
    let s = col.as_materialized_series();
    // Text and integers counted where they are; other types by each row's printed value.
    let counted = count_values(s, None).unwrap_or_else(|| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for i in 0..s.len() {
            let v = match s.get(i) {
                Ok(AnyValue::Null) | Err(_) => "-".to_string(),
                Ok(v) => v.to_string(),
            };
            *counts.entry(v).or_default() += 1;
        }
        counts.into_iter().map(|(v, c)| (c, v)).collect()
    });
    most_first(counted)
}

/// Counted values (count, value) as [`Count`]s, most first, ties by value.
pub fn most_first(counted: Vec<(usize, String)>) -> Vec<Count> {
    let mut out: Vec<Count> = counted
        .into_iter()
        .map(|(count, value)| Count { value, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
}

/// The values of a text or integer column among the rows `rows` (every row when `None`),
/// each as text (`-` for unset) with its count, unordered: counted where they are, by
/// dictionary code, text or integer, then merged by text (the counts a count of each
/// row's printed value gives, without a string per row). `None` for a column of another
/// type, or rows asked of a column in several pieces.
pub fn count_values(s: &Series, rows: Option<&[u32]>) -> Option<Vec<(usize, String)>> {
    use rustc_hash::FxHashMap;
    if rows.is_some() && s.n_chunks() != 1 {
        return None;
    }
    // Each key (`None` where unset) counted: the rows `rows` read through `at`, or every
    // row as `all` gives them.
    fn count_keys<K: std::hash::Hash + Eq>(
        rows: Option<&[u32]>,
        at: impl Fn(usize) -> Option<K>,
        all: impl Iterator<Item = Option<K>>,
    ) -> FxHashMap<Option<K>, usize> {
        let mut by = FxHashMap::default();
        match rows {
            Some(rows) => {
                for &r in rows {
                    *by.entry(at(r as usize)).or_insert(0usize) += 1;
                }
            }
            None => {
                for k in all {
                    *by.entry(k).or_insert(0usize) += 1;
                }
            }
        }
        by
    }
    fn by_text<'a>(
        keyed: impl IntoIterator<Item = (Option<&'a str>, usize)>,
    ) -> Vec<(usize, String)> {
        let mut by: FxHashMap<&str, usize> = FxHashMap::default();
        for (v, c) in keyed {
            *by.entry(v.unwrap_or("-")).or_default() += c;
        }
        by.into_iter().map(|(v, c)| (c, v.to_string())).collect()
    }
    fn ints(by: FxHashMap<Option<i64>, usize>) -> Vec<(usize, String)> {
        by.into_iter()
            .map(|(v, c)| (c, v.map_or("-".into(), |x| x.to_string())))
            .collect()
    }
    // The one piece's values and validity, for rows read by number.
    macro_rules! piece {
        ($ca:expr) => {{
            let a = $ca.downcast_iter().next();
            let values = a.map_or(&[][..], |a| a.values().as_slice());
            let valid = a.and_then(|a| a.validity());
            move |r: usize| valid.is_none_or(|b| b.get_bit(r)).then(|| values[r])
        }};
    }
    if let Ok(ca) = s.cat32() {
        let mapping = ca.get_mapping();
        let phys = ca.physical();
        let by = count_keys(rows, piece!(phys), phys.iter());
        return Some(by_text(
            by.into_iter()
                .map(|(k, c)| (k.and_then(|code| mapping.cat_to_str(code)), c)),
        ));
    }
    if let Ok(ca) = s.str() {
        return Some(by_text(count_keys(rows, |r| ca.get(r), ca.iter())));
    }
    if let Ok(ca) = s.i64() {
        return Some(ints(count_keys(rows, piece!(ca), ca.iter())));
    }
    if let Ok(ca) = s.i32() {
        let at = piece!(ca);
        let wide = |v: Option<i32>| v.map(i64::from);
        return Some(ints(count_keys(rows, |r| wide(at(r)), ca.iter().map(wide))));
    }
    None
}

/// Formats microseconds since the epoch as ISO 8601 UTC.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| micros.to_string())
}

/// Every row's `ts` in microseconds since the epoch (`None` where unset); `None` when the
/// frame has no time column.
pub fn ts_micros(frame: &DataFrame) -> Option<Vec<Option<i64>>> {
    let ts = frame.column("ts").ok()?.as_materialized_series();
    Some(ts.datetime().ok()?.physical().iter().collect())
}

/// First and last `ts` of the frame, in microseconds.
pub fn time_range(frame: &DataFrame) -> Option<(i64, i64)> {
    let ts = frame.column("ts").ok()?.as_materialized_series();
    let ca = ts.datetime().ok()?.physical();
    Some((ca.min()?, ca.max()?))
}

/// Summarises a log, keeping the `top` most frequent services and addresses.
pub fn summarize(log: &Log, top: usize) -> Summary {
    let f = &log.frame;
    let cut = |mut v: Vec<Count>| {
        v.truncate(top);
        v
    };
    Summary {
        rows: log.rows(),
        skipped: log.skipped.clone(),
        format: log.format(),
        files: log.files.clone(),
        columns: f
            .columns()
            .iter()
            .map(|c| ColumnInfo {
                name: c.name().to_string(),
                // Text is `str` however it is held (a dictionary where values repeat), and
                // a log's integers `i64` (held in 32 bits when every value fits).
                dtype: match c.dtype() {
                    d if crate::ingest::text::is_text(d) => DataType::String.to_string(),
                    DataType::Int32 => DataType::Int64.to_string(),
                    d => d.to_string(),
                },
            })
            .collect(),
        time_range: time_range(f).map(|(a, b)| (iso(a), iso(b))),
        services: value_counts(f, "service"),
        sources: cut(value_counts(f, "id.orig_h")),
        destinations: cut(value_counts(f, "id.resp_h")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Each row's printed value counted one by one: what `value_counts` must give.
    fn counted_by_hand(s: &Series) -> Vec<Count> {
        let mut by: HashMap<String, usize> = HashMap::new();
        let s = crate::ingest::text::as_strings(s.clone());
        for i in 0..s.len() {
            let v = match s.get(i).unwrap() {
                AnyValue::Null => "-".to_string(),
                AnyValue::String(v) => v.to_string(),
                v => v.to_string(),
            };
            *by.entry(v).or_default() += 1;
        }
        let mut out: Vec<Count> = by
            .into_iter()
            .map(|(value, count)| Count { value, count })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        out
    }

    /// Four columns of `n` rows, for counting: text held as dictionary codes, the same
    /// text plain, 64- and 32-bit integers; with unset values and the text `-`.
    pub(crate) fn columns_to_count(n: usize) -> Vec<Column> {
        let text: Vec<Option<&str>> = (0..n)
            .map(|i| match i % 7 {
                0 => None,
                1 => Some("-"),
                k => Some(["dns", "10.0.0.1", "a-rather-long-service-name", "fe80::1"][k % 4]),
            })
            .collect();
        let ints: Vec<Option<i64>> = (0..n)
            .map(|i| (i % 5 != 0).then_some((i * 37 % 11) as i64 - 3))
            .collect();
        let small: Vec<Option<i32>> = ints.iter().map(|v| v.map(|x| x as i32)).collect();
        let mut columns: Vec<Column> = vec![
            Series::new("coded".into(), &text).into(),
            Series::new("plain".into(), &text).into(),
            Series::new("i64".into(), &ints).into(),
            Series::new("i32".into(), &small).into(),
        ];
        crate::ingest::text::compact(&mut columns[..1]);
        assert!(matches!(columns[0].dtype(), DataType::Categorical(..)));
        columns
    }

    /// Dictionary codes, text and integers (64- and 32-bit), with unset values and the
    /// text `-`, in one piece and in several: counted as each row's printed value.
    #[test]
    fn values_are_counted_as_printed() {
        let columns = columns_to_count(300);
        for c in columns {
            let whole = c.as_materialized_series().clone();
            let mut pieces = whole.slice(0, 100);
            pieces.append(&whole.slice(100, 200)).unwrap();
            assert_eq!(pieces.n_chunks(), 2);
            let want = counted_by_hand(&whole);
            assert!(want.iter().any(|c| c.value == "-"));
            for s in [whole, pieces] {
                let f = DataFrame::new(300, vec![s.clone().into()]).unwrap();
                assert_eq!(value_counts(&f, s.name()), want, "{}", s.name());
            }
        }
    }
}
