//! Writing what an analysis found to files another tool opens with no options: the flagged
//! rows (`anomalous.csv`), every row with its verdict, cluster and 2-D positions
//! (`rows.csv`), and per-cluster statistics (`clusters.json`, and `clusters.txt` to read).
//!
//! Every file is written to a temporary file in the target folder and renamed into place,
//! so a reader never sees half a file and an interrupted export leaves the old file whole.
//! The files are renamed only once all of them are written, so an export that fails to
//! write one replaces none; a folder where a file should go, or an input log there, is
//! refused before anything is written. A rename that still fails (another user's file
//! in a shared folder) leaves the files renamed before it replaced, and its error names
//! the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use polars::prelude::*;

use crate::cluster::stats::ClusterStats;
use crate::ingest::Log;
use crate::pipeline::Analysis;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The table could not be formed or serialised.
    #[error("{path}: {reason}")]
    Data {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Results of the later stages, when they ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extras<'a> {
    /// HDBSCAN label per matrix row (clustering of all rows; −1 noise).
    pub cluster: Option<&'a [i32]>,
    /// PCA 2-D position per matrix row.
    pub pca: Option<&'a Array2<f64>>,
    /// UMAP 2-D position per matrix row.
    pub umap: Option<&'a Array2<f32>>,
    /// Per-cluster statistics, by subset (`all`, `anomalous`, `normal`).
    pub clusters: &'a [(String, Vec<ClusterStats>)],
    /// Write text cells as in the log even when a spreadsheet would run them as formulas
    /// (by default they get a leading `'`: see [`crate::sanitize::formula_safe`]).
    pub keep_formulas: bool,
    /// The tables' format.
    pub format: TableFormat,
}

/// How the two tables (the flagged rows, every row) are written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// `anomalous.csv` and `rows.csv`: lists comma-joined, formulas defused unless kept.
    #[default]
    Csv,
    /// `anomalous.parquet` and `rows.parquet`: every value as it is, with its type (times
    /// as timestamps, lists as lists), for pandas, polars, DuckDB or Spark.
    Parquet,
}

impl TableFormat {
    /// The names of the two tables.
    pub fn files(self) -> [&'static str; 2] {
        match self {
            TableFormat::Csv => [FILES[0], FILES[1]],
            TableFormat::Parquet => ["anomalous.parquet", "rows.parquet"],
        }
    }
}

/// A file written in full to a temporary file beside its path, not yet in place.
/// Dropped without [`Pending::persist`], the temporary file is removed.
pub(crate) struct Pending {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Pending {
    /// Puts the file in place (a rename: readers see the old file or the new one) and
    /// returns its path.
    pub(crate) fn persist(self) -> Result<PathBuf, ExportError> {
        let path = self.path;
        self.tmp.persist(&path).map_err(|e| ExportError::Io {
            path: path.display().to_string(),
            source: e.error,
        })?;
        Ok(path)
    }
}

/// Writes `contents` to a temporary file in the folder of `path`, synced to disk, to be
/// put in place by [`Pending::persist`].
pub(crate) fn write_pending(
    path: &Path,
    contents: impl FnOnce(&mut dyn Write) -> Result<(), String>,
) -> Result<Pending, ExportError> {
    let name = path.display().to_string();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |source| ExportError::Io {
        path: name.clone(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".zsift-export-")
        .tempfile_in(dir)
        .map_err(io)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        contents(&mut w).map_err(|reason| ExportError::Data {
            path: name.clone(),
            reason,
        })?;
        w.flush().map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    // Temporary files are private; an export is meant to be handed on.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    Ok(Pending {
        tmp,
        path: path.to_path_buf(),
    })
}

/// List columns (Zeek sets and vectors) as comma-joined text, for CSV.
fn flatten_lists(df: &mut DataFrame) -> PolarsResult<()> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::List(_)))
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let s = df.column(&name)?.as_materialized_series().clone();
        let ca = s.list()?;
        let joined: StringChunked = (0..ca.len())
            .map(|i| ca.get_as_series(i))
            .map(|v| {
                v.map(|inner| {
                    (0..inner.len())
                        .map(|i| match inner.get(i) {
                            Ok(AnyValue::String(x)) => x.to_string(),
                            Ok(AnyValue::Null) | Err(_) => "-".to_string(),
                            Ok(x) => x.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
            })
            .collect();
        df.replace(&name, joined.with_name(name.clone()).into_series().into())?;
    }
    Ok(())
}

/// Rows written per piece of a CSV file: each piece is formed as a small table, written
/// and dropped, so the export holds no copy of the whole log.
const CSV_PIECE: usize = 1 << 14;

/// Writes the table of `rows` (matrix rows) to `path` as CSV, a piece of rows at a time:
/// `table` forms the piece's table (the same columns for every piece).
/// Text cells a spreadsheet would run as formulas, made text (see
/// [`crate::sanitize::formula_safe`]).
fn defuse_formulas(df: &mut DataFrame) -> PolarsResult<()> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| crate::ingest::text::is_text(c.dtype()))
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let Some(texts) = crate::ingest::text::Texts::of(df.column(&name)?) else {
            continue;
        };
        if !texts.iter().flatten().any(crate::sanitize::is_formula) {
            continue;
        }
        let safe: StringChunked = texts
            .iter()
            .map(|v| v.map(crate::sanitize::formula_safe))
            .collect();
        df.with_column(safe.with_name(name).into_series().into())?;
    }
    Ok(())
}

fn write_table(
    path: &Path,
    rows: &[usize],
    extras: Extras<'_>,
    table: impl Fn(&[usize]) -> PolarsResult<DataFrame>,
) -> Result<Pending, ExportError> {
    if extras.format == TableFormat::Parquet {
        return write_parquet(path, rows, table);
    }
    let keep_formulas = extras.keep_formulas;
    write_pending(path, |w| {
        // No rows: one empty piece, for the header.
        let empty: [&[usize]; 1] = [&[]];
        let pieces: Vec<&[usize]> = if rows.is_empty() {
            empty.to_vec()
        } else {
            rows.chunks(CSV_PIECE).collect()
        };
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut df = table(piece).map_err(|e| e.to_string())?;
            flatten_lists(&mut df).map_err(|e| e.to_string())?;
            if !keep_formulas {
                defuse_formulas(&mut df).map_err(|e| e.to_string())?;
            }
            // Formatted on this thread: the two tables are written side by side, and on
            // polars' own pool each table's pieces waited for the other's (the flagged
            // rows' first piece 140 ms at 100k rows; the writing took 0.42 s, now 0.35).
            CsvWriter::new(&mut *w)
                .include_header(i == 0)
                .n_threads(1)
                .finish(&mut df)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// A table as Parquet, a row group per piece of rows (no copy of the whole table is made).
fn write_parquet(
    path: &Path,
    rows: &[usize],
    table: impl Fn(&[usize]) -> PolarsResult<DataFrame>,
) -> Result<Pending, ExportError> {
    write_pending(path, |w| {
        let text = |e: PolarsError| e.to_string();
        let empty: [&[usize]; 1] = [&[]];
        let pieces: Vec<&[usize]> = if rows.is_empty() {
            empty.to_vec()
        } else {
            rows.chunks(CSV_PIECE).collect()
        };
        let mut writer = None;
        for piece in pieces {
            // Text as text, whichever way the log holds it (every reader then reads
            // strings, as the log wrote them).
            let mut df = crate::ingest::text::plain(table(piece).map_err(text)?).map_err(text)?;
            // A record batch needs its columns cut at the same rows: the log's columns
            // come in the chunks they were read in, the added ones in one.
            df.align_chunks();
            if writer.is_none() {
                writer = Some(
                    ParquetWriter::new(&mut *w)
                        .batched(df.schema())
                        .map_err(text)?,
                );
            }
            if let Some(bw) = writer.as_mut() {
                bw.write_batch(&df).map_err(text)?;
            }
        }
        if let Some(bw) = writer {
            bw.finish().map_err(text)?;
        }
        Ok(())
    })
}

/// The frame rows of `matrix_rows`, with all their log columns.
fn log_rows(log: &Log, a: &Analysis, matrix_rows: &[usize]) -> PolarsResult<DataFrame> {
    let idx: Vec<IdxSize> = matrix_rows
        .iter()
        .map(|&i| a.matrix.rows[i] as IdxSize)
        .collect();
    // Consecutive frame rows (`rows.csv` of an unfiltered log) are a slice of the frame,
    // which shares its columns instead of copying them.
    let consecutive = match (idx.first(), idx.last()) {
        (Some(&first), Some(&last)) => (idx.windows(2).all(|w| w[1] == w[0] + 1)
            && last < log.frame.height() as IdxSize)
            .then_some(first),
        _ => None,
    };
    let mut df = match consecutive {
        Some(first) => log.frame.slice(i64::from(first), idx.len()),
        // Column by column on this thread: a frame's `take` runs on polars' own pool,
        // where it waited for the other table's writing (130-180 ms at 100k rows, for
        // 6 ms of work).
        None => {
            let idx = IdxCa::from_vec("idx".into(), idx);
            let columns = log
                .frame
                .columns()
                .iter()
                .map(|c| c.take(&idx))
                .collect::<PolarsResult<Vec<_>>>()?;
            DataFrame::new(idx.len(), columns)?
        }
    };
    // Integers as the log's 64-bit ones, however the log holds them
    // ([`crate::ingest::narrow_ints`]): a Parquet export's types do not depend on its
    // values, and one log's file reads as another's.
    let narrow: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::Int32)
        .map(|c| c.name().clone())
        .collect();
    for name in narrow {
        let wide = df.column(&name)?.cast(&DataType::Int64)?;
        df.with_column(wide)?;
    }
    Ok(df)
}

fn add<T: Into<polars::prelude::Column>>(df: &mut DataFrame, col: T) -> PolarsResult<()> {
    df.with_column(col.into()).map(|_| ())
}

/// The files an export writes, in its folder.
pub const FILES: [&str; 4] = ["anomalous.csv", "rows.csv", "clusters.json", "clusters.txt"];

/// Refuses, before anything is written, a target that cannot be replaced by a file (a
/// folder of that name) or that is one of the input logs (the input is never modified).
fn check_targets(dir: &Path, log: &Log, format: TableFormat) -> Result<(), ExportError> {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    let inputs: Vec<std::fs::Metadata> = log
        .files
        .iter()
        .filter(|f| f.name != "-")
        .filter_map(|f| std::fs::metadata(&f.name).ok())
        .collect();
    let [first, second] = format.files();
    for name in [first, second, FILES[2], FILES[3]] {
        let path = dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let refuse = |reason: &str| ExportError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(reason.to_string()),
        };
        if meta.is_dir() {
            return Err(refuse("a folder is in the way; nothing was written"));
        }
        #[cfg(unix)]
        if let Ok(target) = std::fs::metadata(&path) {
            if inputs
                .iter()
                .any(|i| i.dev() == target.dev() && i.ino() == target.ino())
            {
                return Err(refuse(
                    "is an input log, which an export never replaces; nothing was written",
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = &inputs;
    }
    Ok(())
}

/// Writes `anomalous.csv`, `rows.csv`, `clusters.json` and `clusters.txt` to `dir`
/// (created if missing) and returns their paths. A target that is a folder or one of the
/// input logs refuses the export before anything is written.
pub fn export(
    dir: &Path,
    log: &Log,
    a: &Analysis,
    extras: Extras<'_>,
) -> Result<Vec<PathBuf>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    check_targets(dir, log, extras.format)?;
    // The tables and the cluster files are written side by side (the cluster files on
    // one thread, the tables' reasons and rows on the others), then put in place together
    // once all are written: an export that fails to write one replaces none (when both
    // sides fail, the tables' error is the one reported). Files not put in place are
    // dropped, which removes their temporary files.
    let (tables, clusters) = rayon::join(
        || write_tables(dir, log, a, extras),
        || write_cluster_files(dir, extras.clusters),
    );
    let written = tables?
        .into_iter()
        .chain(clusters?)
        .map(Pending::persist)
        .collect::<Result<Vec<PathBuf>, ExportError>>()?;
    sync_dir(dir);
    Ok(written)
}

/// Flushes the folder's entries to disk, so that the renames outlast a power cut as the
/// files' contents do. Best effort: not every file system syncs a folder (some refuse
/// with an error), and the files are in place whatever it answers.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Writes `anomalous.csv` and `rows.csv` for `dir`, not yet in place.
fn write_tables(
    dir: &Path,
    log: &Log,
    a: &Analysis,
    extras: Extras<'_>,
) -> Result<[Pending; 2], ExportError> {
    let v = &a.verdicts;
    let n = a.matrix.rows.len();

    let [anomalous_name, rows_name] = extras.format.files();
    // anomalous.csv: flagged rows, most anomalous first.
    let path = dir.join(anomalous_name);
    let write_anomalous = || {
        let flagged: Vec<usize> = a
            .ranked(|i| v.flagged[i])
            .into_iter()
            .map(|i| i as usize)
            .collect();
        write_table(&path, &flagged, extras, |rows| {
            let mut df = log_rows(log, a, rows)?;
            let score: Float64Chunked = rows.iter().map(|&i| Some(v.combined[i])).collect();
            let votes: UInt32Chunked = rows.iter().map(|&i| Some(u32::from(v.votes[i]))).collect();
            let dets: StringChunked = rows
                .iter()
                .map(|&i| Some(v.flagged_by(i).join(" ")))
                .collect();
            let reasons: Vec<String> = a
                .reasons_of(rows, 3)
                .into_iter()
                .map(|r| r.into_iter().map(|r| r.text).collect::<Vec<_>>().join("; "))
                .collect();
            let reasons: StringChunked = reasons.iter().map(|r| Some(r.as_str())).collect();
            add(&mut df, score.with_name("score".into()).into_series())?;
            add(&mut df, votes.with_name("votes".into()).into_series())?;
            add(&mut df, dets.with_name("detectors".into()).into_series())?;
            add(&mut df, reasons.with_name("reasons".into()).into_series())?;
            let scores = a
                .detector_scores(rows, &crate::cancel::Cancel::new())
                .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
            for (r, s) in scores {
                add(
                    &mut df,
                    Series::new(format!("score_{}", r.kind.name()).into(), s),
                )?;
            }
            if let Some(c) = extras.cluster {
                let s: Int32Chunked = rows.iter().map(|&i| Some(c[i])).collect();
                add(&mut df, s.with_name("cluster".into()).into_series())?;
            }
            Ok(df)
        })
    };

    // rows.csv: every analysed row in log order.
    let rows_path = dir.join(rows_name);
    let write_rows = || {
        let all: Vec<usize> = (0..n).collect();
        write_table(&rows_path, &all, extras, |rows| {
            let mut df = log_rows(log, a, rows)?;
            let pick_f = |col: &[f64]| -> Vec<f64> { rows.iter().map(|&i| col[i]).collect() };
            let flags: Vec<bool> = rows.iter().map(|&i| v.flagged[i]).collect();
            add(&mut df, Series::new("flagged".into(), flags))?;
            add(&mut df, Series::new("score".into(), pick_f(&v.combined)))?;
            let votes: Vec<u32> = rows.iter().map(|&i| u32::from(v.votes[i])).collect();
            add(&mut df, Series::new("votes".into(), votes))?;
            if let Some(c) = extras.cluster {
                let s: Vec<i32> = rows.iter().map(|&i| c[i]).collect();
                add(&mut df, Series::new("cluster".into(), s))?;
            }
            // Both as doubles (UMAP's single-precision values widened, exactly).
            type At<'e> = Box<dyn Fn(usize, usize) -> f64 + 'e>;
            let pca = extras.pca.map(|e| Box::new(move |i, k| e[[i, k]]) as At);
            let umap = extras
                .umap
                .map(|e| Box::new(move |i, k| f64::from(e[[i, k]])) as At);
            for (name, e) in [("pca", pca), ("umap", umap)] {
                if let Some(e) = e {
                    for (axis, suffix) in [(0, "x"), (1, "y")] {
                        let col: Vec<f64> = rows.iter().map(|&i| e(i, axis)).collect();
                        add(&mut df, Series::new(format!("{name}_{suffix}").into(), col))?;
                    }
                }
            }
            Ok(df)
        })
    };
    // Side by side: each is written a piece at a time, so together they hold two
    // pieces, and each piece's reasons, scores and text keep both cores busy where one
    // table's writing alone left them half idle.
    let (anomalous, rows_csv) = rayon::join(write_anomalous, write_rows);
    Ok([anomalous?, rows_csv?])
}

/// Writes `clusters.json` and `clusters.txt` for `dir`, not yet in place.
fn write_cluster_files(
    dir: &Path,
    clusters: &[(String, Vec<ClusterStats>)],
) -> Result<[Pending; 2], ExportError> {
    let path = dir.join(FILES[2]);
    // Serialised straight from the statistics (keys in order), not through a tree of
    // JSON values, which for thousands of clusters is larger than the log.
    let map: std::collections::BTreeMap<&str, &Vec<ClusterStats>> =
        clusters.iter().map(|(k, c)| (k.as_str(), c)).collect();
    let json = write_pending(&path, |w| {
        serde_json::to_writer_pretty(&mut *w, &map).map_err(|e| e.to_string())?;
        writeln!(w).map_err(|e| e.to_string())
    })?;
    let text = write_pending(&dir.join(FILES[3]), |w| {
        #[cfg(feature = "fault-injection")]
        if crate::fault::wanted("export-clusters") {
            return Err("fault injected".into());
        }
        write_clusters_text(w, clusters).map_err(|e| e.to_string())
    })?;
    Ok([json, text])
}

/// Per-cluster statistics as readable text (the seed notebook's printout). Log values are
/// neutralised, since this file is meant to be read in a terminal.
pub fn write_clusters_text(
    w: &mut dyn Write,
    clusters: &[(String, Vec<ClusterStats>)],
) -> std::io::Result<()> {
    use crate::sanitize::sanitize;
    for (subset, list) in clusters {
        let noise = list.iter().find(|c| c.cluster == -1).map_or(0, |c| c.count);
        writeln!(
            w,
            "== {subset} rows: {} clusters, {} noise rows",
            list.iter().filter(|c| c.cluster >= 0).count(),
            noise
        )?;
        for c in list {
            let name = if c.cluster < 0 {
                "noise".to_string()
            } else {
                format!("cluster {}", c.cluster)
            };
            writeln!(w, "\n{name}: {} rows", c.count)?;
            writeln!(
                w,
                "  {:<16} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
                "feature", "mean", "std", "min", "q1", "median", "q3", "max"
            )?;
            for s in &c.numeric {
                let [mean, std, min, q1, median, q3, max] =
                    [s.mean, s.std, s.min, s.q1, s.median, s.q3, s.max].map(stat_text);
                writeln!(
                    w,
                    "  {:<16} {mean:>12} {std:>12} {min:>12} {q1:>12} {median:>12} {q3:>12} {max:>12}",
                    sanitize(&s.feature),
                )?;
            }
            for t in &c.categorical {
                let top: Vec<String> = t
                    .top
                    .iter()
                    .map(|x| format!("{} ({})", sanitize(&x.value), x.count))
                    .collect();
                writeln!(w, "  {:<16} {}", sanitize(&t.column), top.join(", "))?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

/// A statistic in a 12-wide column: four decimals, or exponent form from 10⁹ on (a
/// hostile `1e308` would print 300 digits).
fn stat_text(x: f64) -> String {
    if x.abs() >= 1e9 {
        format!("{x:.4e}")
    } else {
        format!("{x:.4}")
    }
}
