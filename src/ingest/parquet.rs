//! Zeek logs stored as Parquet (by Spark, zat's Spark path, pandas or polars): read with
//! polars' own reader, then given zsift's names and types, as a TSV or JSON log of the
//! same fields would have them.
//!
//! Names go through [`schema::canonical_name`] (so the `id_orig_h` of zat's Spark path is
//! `id.orig_h`). Types: a well-known Zeek field takes its Zeek type
//! ([`schema::known_type`]): `ts` from a timestamp of any unit or zone, or from seconds
//! since the epoch as a number; counts and ports from any integer or float; addresses,
//! enums and strings from text or categories; intervals rounded to Zeek's microseconds.
//! Other columns keep what they are, numbers widened to `i64` / `f64`; a column of a kind
//! zsift has no use for (binary, nested lists...) is read as text where polars can cast
//! it, and otherwise left out.

use std::io::Read;

use polars::prelude::*;

use super::schema::{self, Kind};
use super::{IngestError, Limits};

/// The first bytes of a Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// Reads a whole Parquet file from `reader` into columns with zsift's names and types.
pub fn read(name: &str, mut reader: impl Read, limits: &Limits) -> Result<DataFrame, IngestError> {
    let refuse = |reason: String| IngestError::NotZeek {
        file: name.to_string(),
        reason,
    };
    // Parquet keeps its index at the end: the file is read whole (standard input too).
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| IngestError::Io {
            file: name.to_string(),
            source,
        })?;
    if !bytes.ends_with(MAGIC) {
        return Err(refuse("truncated Parquet file (no footer)".into()));
    }
    let unreadable = |e: PolarsError| refuse(format!("unreadable Parquet: {e}"));
    let mut pq = ParquetReader::new(std::io::Cursor::new(bytes));
    let width = pq.schema().map_err(unreadable)?.len();
    if width > limits.max_columns {
        return Err(IngestError::Limit {
            file: name.to_string(),
            reason: format!(
                "{width} columns, more than {} (--max-columns raises the limit)",
                limits.max_columns
            ),
        });
    }
    let frame = pq.finish().map_err(unreadable)?;
    if frame.height() == 0 {
        return Err(refuse("no records".into()));
    }
    let columns: Vec<Series> = frame
        .columns()
        .iter()
        .map(|c| c.as_materialized_series().clone())
        .collect();
    let names = schema::canonical_names(columns.iter().map(|s| s.name().as_str()));
    let mut out = Vec::with_capacity(columns.len());
    for (s, n) in columns.into_iter().zip(names) {
        if let Some(mut s) = zeek_typed(s, &n) {
            s.rename(n.into());
            out.push(Column::from(s));
        }
    }
    DataFrame::new(frame.height(), out).map_err(|e| refuse(format!("unreadable Parquet: {e}")))
}

/// `s` with the type zsift gives the field `name`, or `None` if it cannot be used.
fn zeek_typed(s: Series, name: &str) -> Option<Series> {
    let kind = schema::known_type(name).map(|t| (t.kind, t.micros));
    let dtype = s.dtype().clone();
    let numeric = dtype.is_primitive_numeric() || matches!(dtype, DataType::Boolean);
    let kind = kind.unwrap_or(match &dtype {
        DataType::Datetime(..) | DataType::Date => (Kind::Time, false),
        d if d.is_integer() => (Kind::Int, false),
        d if d.is_float() => (Kind::Float, false),
        DataType::Boolean => (Kind::Bool, false),
        DataType::List(inner) if inner.is_integer() => (Kind::IntList, false),
        DataType::List(inner) if inner.is_float() => (Kind::FloatList, false),
        DataType::List(_) => (Kind::StrList, false),
        _ => (Kind::Str, false),
    });
    match kind {
        (Kind::Time, _) => time(&s),
        (Kind::Float, micros) => {
            let f = s.cast(&DataType::Float64).ok()?;
            Some(if micros { round_micros(&f)? } else { f })
        }
        (Kind::Int, _) if numeric => s.cast(&DataType::Int64).ok(),
        (Kind::Int, _) => s.cast(&DataType::String).ok()?.cast(&DataType::Int64).ok(),
        (Kind::Bool, _) => s.cast(&DataType::Boolean).ok(),
        (Kind::Str, _) => s.cast(&DataType::String).ok(),
        (Kind::StrList, _) => s.cast(&DataType::List(Box::new(DataType::String))).ok(),
        (Kind::FloatList, _) => s.cast(&DataType::List(Box::new(DataType::Float64))).ok(),
        (Kind::IntList, _) => s.cast(&DataType::List(Box::new(DataType::Int64))).ok(),
    }
}

/// Durations rounded to Zeek's microseconds, as TSV prints them.
fn round_micros(s: &Series) -> Option<Series> {
    let ca = s.f64().ok()?;
    Some(
        ca.apply_values(|v| (v * 1e6).round() / 1e6)
            .with_name(s.name().clone())
            .into_series(),
    )
}

/// A time column as microseconds since the epoch: from a timestamp of any unit (its zone
/// dropped: Zeek's times are UTC) or a date, from seconds since the epoch, or from text
/// such as Zeek's ISO 8601 JSON times.
fn time(s: &Series) -> Option<Series> {
    let us = DataType::Datetime(TimeUnit::Microseconds, None);
    let micros: Int64Chunked = match s.dtype() {
        // The instants themselves (a zone only changes how they are shown).
        DataType::Datetime(unit, _) => {
            let per_us = match unit {
                TimeUnit::Nanoseconds => Some(1000),
                TimeUnit::Microseconds => None,
                TimeUnit::Milliseconds => return scaled(s, 1000),
            };
            let phys = s.to_physical_repr().into_owned();
            let ca = phys.i64().ok()?;
            match per_us {
                Some(d) => ca.apply_values(|v| v.div_euclid(d)),
                None => ca.clone(),
            }
        }
        DataType::Date => return s.cast(&us).ok(),
        d if d.is_primitive_numeric() => {
            let secs = s.cast(&DataType::Float64).ok()?;
            let ca = secs.f64().ok()?;
            (0..ca.len())
                .map(|i| ca.get(i).and_then(super::values::seconds_to_micros))
                .collect()
        }
        _ => {
            let text = s.cast(&DataType::String).ok()?;
            let ca = text.str().ok()?;
            (0..ca.len())
                .map(|i| ca.get(i).and_then(super::values::iso_micros))
                .collect()
        }
    };
    Some(
        micros
            .into_datetime(TimeUnit::Microseconds, None)
            .into_series(),
    )
}

/// Milliseconds since the epoch (a timestamp's instants) as microseconds.
fn scaled(s: &Series, factor: i64) -> Option<Series> {
    let phys = s.to_physical_repr().into_owned();
    let ca = phys.i64().ok()?;
    let micros: Int64Chunked = (0..ca.len())
        .map(|i| ca.get(i).and_then(|v| v.checked_mul(factor)))
        .collect();
    Some(
        micros
            .into_datetime(TimeUnit::Microseconds, None)
            .into_series(),
    )
}
