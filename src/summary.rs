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
    let mut counts: HashMap<String, usize> = HashMap::new();
    if let Some(t) = crate::ingest::text::Texts::of(col) {
        let mut by_ref: HashMap<Option<&str>, usize> = HashMap::new();
        for v in t.iter() {
            *by_ref.entry(v).or_default() += 1;
        }
        for (k, n) in by_ref {
            *counts.entry(k.unwrap_or("-").to_string()).or_default() += n;
        }
    } else {
        for i in 0..s.len() {
            let v = match s.get(i) {
                Ok(AnyValue::Null) | Err(_) => "-".to_string(),
                Ok(v) => v.to_string(),
            };
            *counts.entry(v).or_default() += 1;
        }
    }
    let mut out: Vec<Count> = counts
        .into_iter()
        .map(|(value, count)| Count { value, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
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
                // Text is `str` however it is held (a dictionary where values repeat).
                dtype: if crate::ingest::text::is_text(c.dtype()) {
                    DataType::String.to_string()
                } else {
                    c.dtype().to_string()
                },
            })
            .collect(),
        time_range: time_range(f).map(|(a, b)| (iso(a), iso(b))),
        services: value_counts(f, "service"),
        sources: cut(value_counts(f, "id.orig_h")),
        destinations: cut(value_counts(f, "id.resp_h")),
    }
}
