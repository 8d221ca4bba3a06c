//! `zsift score`: the verdicts, as a table, CSV or JSON.

use std::io::Write;

use clap::ValueEnum;
use serde_json::json;

use super::model::ModelArgs;
use super::{CliError, Input};
use crate::cancel::Cancel;
use crate::pipeline::Analysis;
use crate::query::Query;
use crate::sanitize::sanitize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for a terminal (log text neutralised).
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line, each flushed as it is written (for `jq`, a SIEM
    /// forwarder; the format of `--follow`).
    Jsonl,
}

pub use crate::ingest::cell;

/// The columns printed for each connection.
const FIELDS: [&str; 8] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
];

/// The fields printed after [`FIELDS`] for a log of another kind than conn: what says
/// which query, request or handshake the row is.
pub fn kind_fields(frame: &polars::prelude::DataFrame) -> &'static [&'static str] {
    match crate::ingest::kinds::kind_of_frame(frame) {
        "dns" => &["query", "qtype_name", "rcode_name"],
        "http" => &["host", "uri", "method", "status_code", "user_agent"],
        "ssl" => &["server_name", "version", "validation_status"],
        _ => &[],
    }
}

pub(crate) struct Row {
    /// The values of [`FIELDS`], then of `extra`.
    pub fields: Vec<String>,
    /// The fields after [`FIELDS`] ([`kind_fields`]).
    pub extra: &'static [&'static str],
    pub score: f64,
    pub votes: u8,
    pub flagged: bool,
    pub detectors: Vec<&'static str>,
    pub reasons: Vec<String>,
}

impl Row {
    /// The printed fields of frame row `r`.
    pub fn fields_of(frame: &polars::prelude::DataFrame, r: usize, extra: &[&str]) -> Vec<String> {
        FIELDS
            .iter()
            .chain(extra)
            .map(|c| cell(frame, c, r))
            .collect()
    }

    /// What the table shows beside the addresses: the service of a connection, the
    /// query, host or server name of another kind's row.
    pub fn what(&self) -> &str {
        &self.fields[if self.extra.is_empty() {
            7
        } else {
            FIELDS.len()
        }]
    }

    /// The table's heading for [`Row::what`].
    pub fn what_heading(extra: &[&'static str]) -> &'static str {
        extra.first().copied().unwrap_or("service")
    }

    /// The row as a CSV record, its text cells written as `cells` says.
    pub fn csv_record(&self, cells: &CsvCells) -> Vec<String> {
        let mut rec: Vec<String> = self.fields.iter().map(|s| cells.cell(s)).collect();
        rec.push(format!("{:.6}", self.score));
        rec.push(self.votes.to_string());
        rec.push(self.flagged.to_string());
        rec.push(self.detectors.join(" "));
        rec.push(cells.cell(&self.reasons.join("; ")));
        rec
    }

    /// The row as a JSON object: the fields (ports as numbers, unset as null), then the
    /// verdict.
    pub fn json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        for (k, v) in FIELDS.iter().chain(self.extra).zip(&self.fields) {
            let value = match (v.as_str(), v.parse::<i64>()) {
                ("-", _) => serde_json::Value::Null,
                (_, Ok(n)) if k.ends_with("_p") => json!(n),
                _ => json!(v),
            };
            o.insert(k.to_string(), value);
        }
        o.insert("score".into(), json!(self.score));
        o.insert("votes".into(), json!(self.votes));
        o.insert("flagged".into(), json!(self.flagged));
        o.insert("detectors".into(), json!(self.detectors));
        o.insert("reasons".into(), json!(self.reasons));
        serde_json::Value::Object(o)
    }
}

/// Rows printed at a time: they are made in parallel a chunk at a time, so memory grows
/// with the chunk, not with the rows flagged (a scan that is most of a big log flags most
/// of it).
const CHUNK: usize = 4096;

/// Calls `each` on the rows to print (the flagged ones, or all), most anomalous first.
fn for_rows(
    log: &crate::ingest::Log,
    a: &Analysis,
    order: &[usize],
    mut each: impl FnMut(Row) -> Result<(), CliError>,
) -> Result<(), CliError> {
    use rayon::prelude::*;
    let extra = kind_fields(&log.frame);
    let cells: Vec<crate::ingest::Cells> = FIELDS
        .iter()
        .chain(extra)
        .map(|c| crate::ingest::Cells::of(&log.frame, c))
        .collect();
    for chunk in order.chunks(CHUNK) {
        let reasons = a.reasons_of(chunk, 3);
        let rows: Vec<Row> = chunk
            .par_iter()
            .zip(reasons)
            .map(|(&i, reasons)| {
                let r = a.matrix.rows[i] as usize;
                Row {
                    fields: cells.iter().map(|c| c.get(r)).collect(),
                    extra,
                    score: a.verdicts.combined[i],
                    votes: a.verdicts.votes[i],
                    flagged: a.verdicts.flagged[i],
                    detectors: a.verdicts.flagged_by(i),
                    reasons: reasons.into_iter().map(|r| r.text).collect(),
                }
            })
            .collect();
        for r in rows {
            each(r)?;
        }
    }
    Ok(())
}

/// Prints the verdicts in `format`. CSV has no escapes, so its fields are the log's text
/// exactly, unless `terminal` says `out` is a terminal: a person reads it there, and the
/// fields are neutralised as in the table.
pub fn run(
    input: &Input,
    model: &ModelArgs,
    format: OutputFormat,
    all: bool,
    csv: CsvCells,
    query: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let query = Query::parse(query).map_err(|e| CliError::Usage(format!("--query: {e}")))?;
    crate::memory::return_large_blocks();
    let log = input.load()?;
    crate::memory::trace("load");
    let (m, a) = match model.analyze_lean(&log, &Cancel::new()) {
        // A saved model's filter keeps no row of these logs (a partition of a fleet's logs
        // with none of its service, say): nothing is flagged, which is an answer, not an
        // error.
        Err(CliError::Analysis(crate::pipeline::PipelineError::Features(
            crate::features::FeatureError::NoRows(why),
        ))) if model.model_file.is_some() => {
            eprintln!("zsift: no row to score{}", sanitize(&why));
            return write_nothing(format, &log, out);
        }
        r => r?,
    };
    // The rows printed: flagged (or all), narrowed by the query, most anomalous first or
    // as the query sorts them.
    let keep = query.mask(&log.frame, &a, &m.label_column);
    let mut order: Vec<usize> = a
        .ranked(|i| (all || a.verdicts.flagged[i]) && keep[i])
        .into_iter()
        .map(|i| i as usize)
        .collect();
    query
        .order(&mut order, &log.frame, &a)
        .map_err(|e| CliError::Usage(format!("--query: {e}")))?;
    if format != OutputFormat::Table {
        // The table says so on standard output; CSV and JSON keep it for data.
        for r in a.verdicts.runs.iter().filter(|r| !r.ok()) {
            eprintln!(
                "zsift: detector {} failed: {}",
                r.kind,
                sanitize(r.error.as_deref().unwrap_or(""))
            );
        }
        if let Some(of) = a.verdicts.fit_sampled_from {
            eprintln!(
                "zsift: detectors fitted on a sample of {} of the {of} training rows (--fit-limit)",
                a.verdicts.fit_rows
            );
        }
        if a.matrix.dropped > 0 {
            eprintln!(
                "zsift: {} rows left out for an unset feature",
                a.matrix.dropped
            );
        }
    }
    match format {
        OutputFormat::Json => {
            // One array, written an object at a time.
            let mut first = true;
            for_rows(&log, &a, &order, |r| {
                out.write_all(if first { b"[\n" } else { b",\n" })?;
                first = false;
                crate::sanitize::write_json(&mut *out, &r.json())?;
                Ok(())
            })?;
            out.write_all(if first { b"[]\n" } else { b"\n]\n" })?;
        }
        OutputFormat::Jsonl => {
            for_rows(&log, &a, &order, |r| {
                crate::sanitize::write_json_line(&mut *out, &r.json())?;
                Ok(())
            })?;
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(csv_header(kind_fields(&log.frame)))
                .map_err(csv_err)?;
            for_rows(&log, &a, &order, |r| {
                w.write_record(r.csv_record(&csv)).map_err(csv_err)
            })?;
            w.flush()?;
        }
        OutputFormat::Table => {
            let n = a.verdicts.n_flagged();
            writeln!(
                out,
                "{} of {} rows flagged ({}, rule {}, contamination {})",
                n,
                a.matrix.rows.len(),
                sanitize(&m.filter.describe()),
                a.verdicts.combine,
                m.ensemble.contamination
            )?;
            if !query.is_empty() {
                writeln!(
                    out,
                    "query {}: {} rows shown",
                    sanitize(&query.text()),
                    order.len()
                )?;
            }
            if let Some(of) = a.verdicts.fit_sampled_from {
                writeln!(
                    out,
                    "detectors fitted on a sample of {} of the {of} training rows (--fit-limit)",
                    a.verdicts.fit_rows
                )?;
            }
            for r in a.verdicts.runs.iter().filter(|r| !r.ok()) {
                writeln!(
                    out,
                    "detector {} failed: {}",
                    r.kind,
                    sanitize(r.error.as_deref().unwrap_or(""))
                )?;
            }
            if a.matrix.dropped > 0 {
                writeln!(
                    out,
                    "{} rows left out for an unset feature",
                    a.matrix.dropped
                )?;
            }
            writeln!(
                out,
                "{:>5} {:>2}  {:<26} {:<18} {:<40} {:<10} {:<22} reasons",
                "score",
                "v",
                "ts",
                "uid",
                "orig -> resp",
                Row::what_heading(kind_fields(&log.frame)),
                "detectors"
            )?;
            for_rows(&log, &a, &order, |r| {
                let f: Vec<String> = r.fields.iter().map(|s| sanitize(s).into_owned()).collect();
                let conn = format!("{}:{} -> {}:{}/{}", f[2], f[3], f[4], f[5], f[6]);
                writeln!(
                    out,
                    "{:>5.3} {:>2}  {:<26} {:<18} {:<40} {:<10} {:<22} {}",
                    r.score,
                    r.votes,
                    f[0],
                    f[1],
                    conn,
                    sanitize(r.what()),
                    r.detectors.join(","),
                    sanitize(&r.reasons.join("; "))
                )?;
                Ok(())
            })?;
        }
    }
    crate::memory::trace("writing");
    Ok(())
}

/// The output of `run` when no row was scored: a CSV header, an empty JSON array, no
/// JSON lines, or the table's count.
fn write_nothing(
    format: OutputFormat,
    log: &crate::ingest::Log,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let rows = log.rows();
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(csv_header(kind_fields(&log.frame)))
                .map_err(csv_err)?;
            w.flush()?;
        }
        OutputFormat::Json => out.write_all(b"[]\n")?,
        OutputFormat::Jsonl => {}
        OutputFormat::Table => writeln!(
            out,
            "0 of {rows} rows scored: none matches the model's filter"
        )?,
    }
    Ok(())
}

/// The CSV header: the printed fields, then the verdict.
pub(crate) fn csv_header(extra: &[&'static str]) -> Vec<&'static str> {
    let mut header: Vec<&str> = FIELDS.to_vec();
    header.extend(extra);
    header.extend(["score", "votes", "flagged", "detectors", "reasons"]);
    header
}

/// How CSV cells are written.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvCells {
    /// Standard output is a terminal: cells are neutralised as the table's are.
    pub terminal: bool,
    /// Text a spreadsheet would run as a formula is written as it is (else it gets a
    /// leading `'`).
    pub keep_formulas: bool,
}

impl CsvCells {
    /// A text cell: formulas defused unless kept, neutralised when a person reads it.
    pub fn cell(&self, s: &str) -> String {
        let s = if self.keep_formulas {
            std::borrow::Cow::Borrowed(s)
        } else {
            crate::sanitize::formula_safe(s)
        };
        if self.terminal {
            sanitize(&s).into_owned()
        } else {
            s.into_owned()
        }
    }
}

/// A CSV writer's error as an output error, keeping the kind of an I/O error (a closed
/// pipe ends zsift quietly, as for the other formats).
pub(crate) fn csv_err(e: csv::Error) -> CliError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => CliError::Output(io),
        other => CliError::Output(std::io::Error::other(format!("{other:?}"))),
    }
}
