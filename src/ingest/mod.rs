//! Loading Zeek logs into one polars DataFrame with Zeek's canonical field names.
//!
//! Formats: Zeek TSV (every header directive, several header blocks per file, `\xNN`
//! escapes) and Zeek JSON lines, told apart by content, gzip read transparently, several
//! files at once, `-` for standard input. Files are read in blocks of a few megabytes and
//! each block is parsed on all cores, so memory stays close to the size of the frame.
//!
//! A malformed line (wrong field count, a value that does not parse, invalid JSON) is
//! skipped and counted, with the first line numbers kept for display. A file that is not
//! a Zeek log (binary, CSV, empty, header only, corrupt gzip) is refused with an error
//! naming it. The input is only ever opened for reading.

mod column;
pub mod follow;
pub mod json;
pub mod kinds;
pub mod parquet;
pub mod schema;
pub mod text;
pub mod tsv;
pub mod values;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use column::{cast_or_null, common_dtype};

/// How many skipped lines are kept with their line number and reason.
pub const SKIPPED_KEPT: usize = 20;
/// Bytes read and parsed at a time.
const BLOCK: usize = 8 << 20;
/// Longest line accepted; a longer one is skipped (and counted) without being held whole.
pub const MAX_LINE: usize = 16 << 20;
/// Name of the column that names each row's source file when several files are loaded.
pub const FILE_COLUMN: &str = "_file";

/// A file format zsift reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Zeek's tab-separated format with `#` headers.
    Tsv,
    /// One JSON object per line.
    Json,
    /// Apache Parquet (as Spark, pandas or polars write Zeek logs).
    Parquet,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        })
    }
}

/// Why a log could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file, as named by the user.
        file: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not something zsift can read as a Zeek log.
    #[error("{file}: not a Zeek log: {reason}")]
    NotZeek {
        /// The file, as named by the user.
        file: String,
        /// Why, for the user.
        reason: String,
    },
    /// The file is past one of the loading limits ([`Limits`]).
    #[error("{file}: refused: {reason}")]
    Limit {
        /// The file, as named by the user.
        file: String,
        /// Which limit, and the flag that changes it.
        reason: String,
    },
    /// No input was given.
    #[error("no log file given")]
    NoInput,
    /// The kind asked for is not among the logs loaded.
    #[error("no {kind} log among the logs given (loaded: {loaded})")]
    NoKind {
        /// The kind asked for.
        kind: String,
        /// The kinds loaded.
        loaded: String,
    },
}

/// Bounds on what one load may take, so that a hostile file is refused with a message
/// rather than exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Most distinct fields (columns) a load may have. A frame holds every column for
    /// every row, so a log whose records each bring a new key would take memory in
    /// columns × rows; Zeek's widest logs have under 100 fields.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT.max_columns)]
    pub max_columns: usize,
    /// Most bytes of text per byte of gzip (0: no limit), checked once a file has given
    /// 64 MiB of text. Zeek logs compress 3 to 15 times (each line has its own uid and
    /// time); far more is a decompression bomb, not a log.
    #[arg(long, value_name = "RATIO", default_value_t = Limits::DEFAULT.max_gzip_ratio)]
    pub max_gzip_ratio: u64,
}

impl Limits {
    /// The defaults.
    pub const DEFAULT: Limits = Limits {
        max_columns: 256,
        max_gzip_ratio: 100,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Text a gzip file may give before its ratio is checked: small files may compress far
/// better than logs do (a header and a few repeated lines).
const GZIP_RATIO_AFTER: u64 = 64 << 20;

/// A refusal raised while reading, carried through `io::Error`: past a limit (a bomb),
/// or not a log at all (binary data).
#[derive(Debug)]
struct Refused {
    reason: String,
    limit: bool,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refused {}

fn refused(reason: String, limit: bool) -> io::Error {
    io::Error::other(Refused { reason, limit })
}

/// A size for messages: bytes, KB or MB.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 10 << 20 => format!("{} MB", b >> 20),
        b if b >= 10 << 10 => format!("{} KB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A line that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedLine {
    /// The file, as named by the user.
    pub file: String,
    /// 1-based line number (of the decompressed text).
    pub line: u64,
    /// Why it was skipped.
    pub reason: String,
}

/// Malformed lines skipped while loading: how many, and the first few.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// Lines skipped in all.
    pub count: u64,
    /// The first [`SKIPPED_KEPT`] of them.
    pub first: Vec<SkippedLine>,
}

impl Skipped {
    fn add(&mut self, file: &str, line: u64, reason: String) {
        self.count += 1;
        if self.first.len() < SKIPPED_KEPT {
            self.first.push(SkippedLine {
                file: file.to_string(),
                line,
                reason,
            });
        }
    }
}

/// What was loaded from one input file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    /// The file as named by the user (`-` for standard input).
    pub name: String,
    /// Its format.
    pub format: Format,
    /// Whether it was gzip-compressed.
    pub gzip: bool,
    /// The Zeek log path(s) it declares (`conn`, `dns`...), from `#path` or `_path`.
    pub paths: Vec<String>,
    /// Rows loaded from it.
    pub rows: usize,
}

/// A loaded log: every row of every input file, in order.
#[derive(Debug, Clone)]
pub struct Log {
    /// The rows, with Zeek's canonical column names. Several files add a `_file` column.
    pub frame: DataFrame,
    /// One entry per input file.
    pub files: Vec<FileInfo>,
    /// Malformed lines skipped.
    pub skipped: Skipped,
}

impl Log {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.frame.height()
    }

    /// The format of the inputs: `tsv`, `json`, or `mixed`.
    pub fn format(&self) -> String {
        let mut f: Vec<String> = self.files.iter().map(|f| f.format.to_string()).collect();
        f.dedup();
        if f.len() == 1 {
            f.remove(0)
        } else {
            "mixed".into()
        }
    }
}

/// Rows parsed from one run of lines: finished columns plus the lines skipped. Made by
/// [`tsv::parse_chunk`] and [`json::parse_chunk`]; [`load`] joins them into a frame.
#[derive(Default)]
pub struct Part {
    columns: Vec<Series>,
    rows: usize,
    /// Skipped lines: 0-based line index within the run, and the reason.
    skipped: Vec<(usize, String)>,
    /// `_path` values seen (JSON).
    paths: Vec<String>,
    /// Each row's `_path`, as an index into `paths` ([`NO_PATH`]: none, or past the ones
    /// kept), for a JSON stream that mixes logs (split by kind when loaded).
    row_paths: Vec<u16>,
    /// Parsing stopped at a record that would have made more columns than allowed.
    too_wide: bool,
}

impl Part {
    /// The columns, each [`Part::rows`] long.
    pub fn columns(&self) -> &[Series] {
        &self.columns
    }

    /// Rows parsed.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Lines skipped: 0-based line index within the run, and why.
    pub fn skipped(&self) -> &[(usize, String)] {
        &self.skipped
    }

    fn skip(&mut self, line: usize, reason: String) {
        self.skipped.push((line, reason));
    }
}

/// A row without a `_path` of its own in [`Part::row_paths`].
const NO_PATH: u16 = u16::MAX;

impl Part {
    /// The parts of a JSON stream of several logs, one per `_path` (in the order of
    /// `paths`): each with its rows, and only the columns its rows give a value. Rows
    /// without a `_path` go with the first.
    fn split_by_path(self) -> Vec<Part> {
        if self.paths.len() < 2 || self.row_paths.len() != self.rows {
            return vec![self];
        }
        (0..self.paths.len())
            .map(|k| {
                let mask: BooleanChunked = self
                    .row_paths
                    .iter()
                    .map(|&p| usize::from(p) == k || (k == 0 && p == NO_PATH))
                    .collect();
                let rows = mask.sum().unwrap_or(0) as usize;
                let columns = self
                    .columns
                    .iter()
                    .filter_map(|c| c.filter(&mask).ok())
                    .filter(|c| c.null_count() < rows)
                    .collect();
                Part {
                    columns,
                    rows,
                    skipped: if k == 0 {
                        self.skipped.clone()
                    } else {
                        Vec::new()
                    },
                    paths: vec![self.paths[k].clone()],
                    row_paths: Vec::new(),
                    too_wide: self.too_wide,
                }
            })
            .filter(|p| p.rows > 0)
            .collect()
    }
}

/// The logs to load.
#[derive(Debug, Clone, clap::Args)]
pub struct Input {
    /// Zeek logs: TSV or JSON lines (gzipped or not) or Parquet, `-` for standard input,
    /// or a directory of them (its conn, dns, http and ssl logs). Files of one kind (a
    /// day of rotated logs) load as one; each kind has its own table.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The kind of log analysed when logs of several kinds are given: conn, dns, http,
    /// ssl, or another Zeek path loaded (default: conn if loaded, else the first).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Use the demo log built into zsift instead of files.
    #[arg(long, conflicts_with = "logs")]
    pub demo: bool,
    /// Loading limits.
    #[command(flatten)]
    pub limits: Limits,
}

impl Input {
    /// The given logs, with the default limits.
    pub fn files(logs: Vec<PathBuf>) -> Self {
        Self {
            logs,
            kind: None,
            demo: false,
            limits: Limits::default(),
        }
    }

    /// Loads the logs (or the demo log) and keeps the chosen kind's ([`Input::kind`]; a
    /// directory's other logs are not read).
    pub fn load(&self) -> Result<Log, IngestError> {
        let want = self.kind.as_deref().unwrap_or("conn");
        self.loaded(Some(want))?.take(self.kind.as_deref())
    }

    /// Loads the logs (or the demo log), every kind in its own table.
    pub fn load_all(&self) -> Result<kinds::Logs, IngestError> {
        self.loaded(None)
    }

    fn loaded(&self, want: Option<&str>) -> Result<kinds::Logs, IngestError> {
        if self.demo {
            Ok(kinds::Logs::single("conn", crate::demo::load()?))
        } else {
            kinds::load_kinds(&self.logs, &self.limits, want)
        }
    }
}

/// Loads one or more logs (`-` is standard input) into one frame, with the default
/// limits.
pub fn load(inputs: &[PathBuf]) -> Result<Log, IngestError> {
    load_with(inputs, &Limits::default())
}

/// Loads one or more logs (`-` is standard input) into one frame.
pub fn load_with(inputs: &[PathBuf], limits: &Limits) -> Result<Log, IngestError> {
    if inputs.is_empty() {
        return Err(IngestError::NoInput);
    }
    let mut loads = Vec::new();
    for p in inputs {
        let name = p.display().to_string();
        let reader: Box<dyn Read> = if p == Path::new("-") {
            Box::new(io::stdin().lock())
        } else {
            open_file(p, &name)?
        };
        loads.push(read(&name, reader, limits)?);
    }
    assemble(loads, limits).map(narrow_ints)
}

/// Loads a log held in memory (the embedded demo log, tests); `name` names it in
/// messages.
pub fn load_bytes(name: &str, data: &[u8]) -> Result<Log, IngestError> {
    let limits = Limits::default();
    assemble(vec![read(name, Box::new(data), &limits)?], &limits).map(narrow_ints)
}

/// `log` with each integer column whose values all fit 32 bits held in 32 bits: ports,
/// and the counts of most logs (bytes, packets), half the memory of 64-bit integers and
/// the same numbers everywhere they are read, shown and written. For a log loaded whole:
/// a followed log's rows arrive later and keep the types of the first.
pub fn narrow_ints(mut log: Log) -> Log {
    let height = log.frame.height();
    // The columns share their memory with the frame's until replaced.
    let mut columns = log.frame.columns().to_vec();
    columns.par_iter_mut().for_each(|c| {
        let Ok(ca) = c.i64() else { return };
        let fits = |v: Option<i64>| v.is_none_or(|v| i32::try_from(v).is_ok());
        if fits(ca.min()) && fits(ca.max()) {
            if let Ok(n) = c.cast(&DataType::Int32) {
                *c = n;
            }
        }
    });
    if let Ok(frame) = DataFrame::new(height, columns) {
        log.frame = frame;
    }
    log
}

fn open_file(p: &Path, name: &str) -> Result<Box<dyn Read>, IngestError> {
    let io_err = |source| IngestError::Io {
        file: name.to_string(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(io_err)?;
    if meta.is_dir() {
        return Err(IngestError::NotZeek {
            file: name.to_string(),
            reason: "is a directory".into(),
        });
    }
    let file = File::open(p).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if meta.is_file() && meta.len() > 0 {
        // A log that grows while it is read (Zeek still writing it) is read up to its
        // size when opened: a consistent snapshot, and a load that ends. (Files that say
        // they are empty, as those under /proc do, are read to their end.)
        return Ok(Box::new(file.take(meta.len())));
    }
    Ok(Box::new(file))
}

struct FileLoad {
    info: FileInfo,
    parts: Vec<Part>,
    skipped: Skipped,
}

/// Reads blocks that end at a line end, so that every block holds whole lines.
struct Blocks<'a> {
    reader: Box<dyn Read + 'a>,
    carry: Vec<u8>,
    eof: bool,
    /// Whether the input's first bytes were looked at.
    started: bool,
    /// Lines longer than [`MAX_LINE`] dropped since the last block was returned; they
    /// come right before that block's first line.
    too_long: u64,
}

impl Blocks<'_> {
    /// The next block of whole lines (the last may lack its newline), or `None` at the end.
    fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if self.eof {
                if self.carry.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(std::mem::take(&mut self.carry)));
            }
            let want = BLOCK.max(self.carry.len() + BLOCK / 2) - self.carry.len();
            // Read into reserved, unfilled capacity: a small input touches only the pages
            // it fills, not a zeroed buffer sized for a large one.
            self.carry.reserve_exact(want);
            let got = (&mut self.reader)
                .take(want as u64)
                .read_to_end(&mut self.carry)?;
            if got < want {
                self.eof = true;
            }
            if !self.started && !self.carry.is_empty() {
                // Binary data is told by a NUL byte in the first line (as
                // [`detect_format`] does), here before a line end is found: an endless
                // input with no newline (`/dev/zero`) would otherwise be read forever.
                self.started = true;
                let first =
                    &self.carry[..memchr::memchr(b'\n', &self.carry).unwrap_or(self.carry.len())];
                if memchr::memchr(0, first).is_some() {
                    return Err(refused("binary data (NUL bytes)".into(), false));
                }
            }
            if self.eof {
                continue;
            }
            if let Some(nl) = memchr::memrchr(b'\n', &self.carry) {
                let rest = self.carry.split_off(nl + 1);
                let block = std::mem::replace(&mut self.carry, rest);
                return Ok(Some(block));
            }
            if self.carry.len() > MAX_LINE {
                // One line longer than any Zeek record: drop it up to its end.
                self.carry.clear();
                self.too_long += 1;
                self.skip_to_line_end()?;
            }
        }
    }

    fn skip_to_line_end(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                self.carry.extend_from_slice(&buf[i + 1..n]);
                return Ok(());
            }
        }
    }
}

fn not_zeek(name: &str, reason: impl Into<String>) -> IngestError {
    IngestError::NotZeek {
        file: name.to_string(),
        reason: reason.into(),
    }
}

/// Tells a log's format from its first bytes (decompressed): Zeek TSV if the first
/// non-blank byte is `#`, JSON lines if it is `{`. Binary data (a NUL in the first
/// 64 KB), blank input and anything else are refused with an error naming `name`.
pub fn detect_format(name: &str, head: &[u8]) -> Result<Format, IngestError> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let sample = &head[..head.len().min(64 << 10)];
    // Binary data is told by a NUL byte in the first line; a NUL further on only spoils
    // its own line, which is skipped like any malformed line.
    let first_line = &sample[..memchr::memchr(b'\n', sample).unwrap_or(sample.len())];
    if first_line.contains(&0) {
        return Err(not_zeek(name, "binary data (NUL bytes)"));
    }
    match sample.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(not_zeek(name, "empty file")),
        Some(b'#') => Ok(Format::Tsv),
        Some(b'{') => Ok(Format::Json),
        Some(_) => Err(not_zeek(
            name,
            "neither Zeek TSV (no #fields header) nor JSON lines",
        )),
    }
}

/// The lines of `data`, split at each `\n` (as `data.split(|&b| b == b'\n')`, the last
/// one after the last newline, empty when `data` ends with one), found with `memchr`:
/// a vector search, where a byte-by-byte split was a tenth of the parsers' time.
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', data)
        .map(Some)
        .chain(std::iter::once(None))
        .map(move |end| {
            let end = end.unwrap_or(data.len());
            let line = &data[start..end];
            start = end + 1;
            line
        })
}

/// Splits `data` into about `n` pieces at line ends.
fn split_lines(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let target = (data.len() / n.max(1)).max(256 << 10);
    let mut start = 0;
    while start < data.len() {
        let mut end = (start + target).min(data.len());
        if end < data.len() {
            end = match memchr::memchr(b'\n', &data[end..]) {
                Some(i) => end + i + 1,
                None => data.len(),
            };
        }
        out.push(&data[start..end]);
        start = end;
    }
    out
}

/// Parses pieces in parallel and records their skipped lines with absolute line numbers.
fn parse_pieces(
    name: &str,
    data: &[u8],
    first_line: u64,
    parse: impl Fn(&[u8]) -> Part + Sync,
    parts: &mut Vec<Part>,
    skipped: &mut Skipped,
) {
    let pieces = split_lines(data, rayon::current_num_threads() * 2);
    let done: Vec<(Part, u64)> = pieces
        .par_iter()
        .map(|p| (parse(p), memchr::memchr_iter(b'\n', p).count() as u64))
        .collect();
    let mut line = first_line;
    let mut kept = Vec::with_capacity(done.len());
    for (part, lines) in done {
        for (i, reason) in &part.skipped {
            skipped.add(name, line + *i as u64 + 1, reason.clone());
        }
        line += lines;
        if part.rows > 0 {
            kept.push(part);
        }
    }
    // One compact part per run of lines: the builders' spare capacity is dropped now, so
    // memory stays near the size of the rows loaded so far.
    if !kept.is_empty() {
        parts.push(merge(kept, true));
    }
    // The parsers' freed builders back to the system: glibc would otherwise keep them in
    // its per-thread arenas, and a load would hold about twice the frame's size.
    crate::memory::release();
}

/// Joins parts into one: columns in order of first appearance, each cast to the common
/// type of its pieces, absent columns filled with nulls. `contiguous` copies each column
/// into one chunk (dropping builders' spare capacity); otherwise the chunks are shared.
fn merge(mut parts: Vec<Part>, contiguous: bool) -> Part {
    if parts.len() == 1 && contiguous {
        let mut p = parts.remove(0);
        p.columns = p.columns.into_par_iter().map(|s| s.rechunk()).collect();
        return p;
    }
    let mut names: Vec<PlSmallStr> = Vec::new();
    let mut index: std::collections::HashMap<PlSmallStr, usize> = std::collections::HashMap::new();
    for p in &parts {
        for s in &p.columns {
            if !index.contains_key(s.name()) {
                index.insert(s.name().clone(), names.len());
                names.push(s.name().clone());
            }
        }
    }
    let rows: Vec<usize> = parts.iter().map(|p| p.rows).collect();
    let mut paths: Vec<String> = Vec::new();
    // Each row's path, renumbered in the merged list, when the parts name several; a part
    // of one path (or none) keeps no list: its rows are all of that path.
    let mut row_paths: Vec<u16> = Vec::new();
    let keep_row_paths = {
        let mut all: Vec<&String> = parts.iter().flat_map(|p| &p.paths).collect();
        all.sort();
        all.dedup();
        all.len() > 1
    };
    // Column-major: pieces[c][p] is column c of part p.
    let mut pieces: Vec<Vec<Option<Series>>> = vec![vec![None; parts.len()]; names.len()];
    for (pi, p) in parts.iter_mut().enumerate() {
        let mut renumber = Vec::with_capacity(p.paths.len());
        for x in p.paths.drain(..) {
            let at = match paths.iter().position(|y| *y == x) {
                Some(k) => k,
                None => {
                    paths.push(x);
                    paths.len() - 1
                }
            };
            renumber.push(u16::try_from(at).unwrap_or(NO_PATH));
        }
        if keep_row_paths {
            if p.row_paths.len() == p.rows {
                row_paths.extend(
                    p.row_paths
                        .iter()
                        .map(|&r| renumber.get(usize::from(r)).copied().unwrap_or(NO_PATH)),
                );
            } else {
                let only = renumber.first().copied().unwrap_or(NO_PATH);
                row_paths.extend(std::iter::repeat_n(only, p.rows));
            }
        }
        for s in p.columns.drain(..) {
            if let Some(&ci) = index.get(s.name()) {
                pieces[ci][pi] = Some(s);
            }
        }
    }
    let columns = names
        .into_par_iter()
        .zip(pieces.into_par_iter())
        .map(|(name, col)| {
            let dtype = common_dtype(col.iter().flatten().map(|s| s.dtype()));
            let mut out: Option<Series> = None;
            for (piece, &n) in col.into_iter().zip(&rows) {
                let piece = piece
                    .map(|s| cast_or_null(s, &dtype))
                    .unwrap_or_else(|| Series::full_null(name.clone(), n, &dtype));
                match &mut out {
                    None => out = Some(piece),
                    // Same dtype after the cast, so appending cannot fail.
                    Some(o) => {
                        let _ = o.append(&piece);
                    }
                }
            }
            let mut s = out.unwrap_or_else(|| Series::full_null(name.clone(), 0, &dtype));
            s.rename(name);
            if contiguous {
                s.rechunk()
            } else {
                s
            }
        })
        .collect();
    Part {
        columns,
        rows: rows.iter().sum(),
        skipped: Vec::new(),
        paths,
        row_paths,
        too_wide: parts.iter().any(|p| p.too_wide),
    }
}

/// Parses a log's lines a block of whole lines at a time, as they are read: tells the
/// format from the first block, follows TSV header blocks, and collects the parsed parts
/// and the skipped lines. The batch reader and the follower ([`follow`]) share it.
struct Parser {
    name: String,
    limits: Limits,
    format: Option<Format>,
    header: tsv::HeaderState,
    saw_fields: bool,
    /// Lines before the next block.
    line: u64,
    /// Distinct fields so far, against the limit.
    seen: std::collections::HashSet<String>,
    parts: Vec<Part>,
    skipped: Skipped,
}

impl Parser {
    fn new(name: &str, limits: &Limits) -> Self {
        Self {
            name: name.to_string(),
            limits: *limits,
            format: None,
            header: tsv::HeaderState::default(),
            saw_fields: false,
            line: 0,
            seen: std::collections::HashSet::new(),
            parts: Vec::new(),
            skipped: Skipped::default(),
        }
    }

    /// Parses one block of whole lines (the first tells the format).
    fn block(&mut self, block: &[u8]) -> Result<(), IngestError> {
        let name = self.name.as_str();
        let limits = self.limits;
        let too_wide = |line: u64| IngestError::Limit {
            file: name.to_string(),
            reason: format!(
                "more than {} distinct fields within its first {line} lines (--max-columns \
                 raises the limit)",
                limits.max_columns
            ),
        };
        let first_block = self.format.is_none();
        let fmt = match self.format {
            Some(f) => f,
            None => *self.format.insert(detect_format(name, block)?),
        };
        let block: &[u8] = if first_block {
            block.strip_prefix(b"\xef\xbb\xbf").unwrap_or(block)
        } else {
            block
        };
        let line = self.line;
        let (parts, skipped, header) = (&mut self.parts, &mut self.skipped, &mut self.header);
        match fmt {
            // Parquet is read whole by its own reader, never line by line.
            Format::Parquet => return Err(not_zeek(name, "Parquet is not read line by line")),
            Format::Json => {
                let max = limits.max_columns;
                parse_pieces(
                    name,
                    block,
                    line,
                    |d| json::parse_chunk(d, max),
                    parts,
                    skipped,
                );
            }
            Format::Tsv => {
                let mut pos = 0;
                let mut at = line;
                while pos < block.len() {
                    if block[pos] == b'#' {
                        let end = memchr::memchr(b'\n', &block[pos..])
                            .map_or(block.len(), |i| pos + i + 1);
                        let l = block[pos..end]
                            .strip_suffix(b"\n")
                            .unwrap_or(&block[pos..end]);
                        header.directive(l);
                        self.saw_fields |= l.starts_with(b"#fields");
                        pos = end;
                        at += 1;
                        continue;
                    }
                    let end = memchr::memmem::find(&block[pos..], b"\n#")
                        .map_or(block.len(), |i| pos + i + 1);
                    let seg = &block[pos..end];
                    match header.header() {
                        Some(h) if h.names.len() > limits.max_columns => {
                            return Err(too_wide(at));
                        }
                        Some(h) => {
                            parse_pieces(name, seg, at, |d| tsv::parse_chunk(d, &h), parts, skipped)
                        }
                        None => {
                            if seg.iter().any(|b| !b.is_ascii_whitespace()) {
                                let reason = match &header.bad_separator {
                                    Some(sep) => format!(
                                        "bad #separator {sep:?} (Zeek writes \\x09 for a tab), \
                                         so no #fields header could be read"
                                    ),
                                    None => {
                                        format!("line {}: data before any #fields header", at + 1)
                                    }
                                };
                                return Err(not_zeek(name, reason));
                            }
                        }
                    }
                    at += memchr::memchr_iter(b'\n', seg).count() as u64;
                    pos = end;
                }
            }
        }
        self.line += memchr::memchr_iter(b'\n', block).count() as u64;
        // Every part of this block is in (each bounded by the limit while parsed): the
        // fields they bring, with those before.
        for p in parts.iter() {
            if p.too_wide {
                return Err(too_wide(self.line));
            }
            for c in &p.columns {
                if !self.seen.contains(c.name().as_str()) {
                    self.seen.insert(c.name().to_string());
                }
            }
        }
        if self.seen.len() > limits.max_columns {
            return Err(too_wide(self.line));
        }
        Ok(())
    }
}

fn read<'a>(
    name: &str,
    reader: Box<dyn Read + 'a>,
    limits: &Limits,
) -> Result<FileLoad, IngestError> {
    let io_err = |source| IngestError::Io {
        file: name.to_string(),
        source,
    };
    let mut buffered = BufReader::with_capacity(64 << 10, reader);
    let gzip = buffered
        .fill_buf()
        .map_err(io_err)?
        .starts_with(&[0x1f, 0x8b]);
    if !gzip
        && buffered
            .fill_buf()
            .map_err(io_err)?
            .starts_with(parquet::MAGIC)
    {
        return read_parquet(name, buffered, limits);
    }
    let reader: Box<dyn Read + 'a> = if gzip {
        let packed = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let counted = Counted {
            inner: buffered,
            count: std::rc::Rc::clone(&packed),
        };
        Box::new(Bounded {
            inner: flate2::read::MultiGzDecoder::new(counted),
            packed,
            unpacked: 0,
            ratio: limits.max_gzip_ratio,
        })
    } else {
        Box::new(buffered)
    };
    let mut blocks = Blocks {
        reader,
        carry: Vec::new(),
        eof: false,
        started: false,
        too_long: 0,
    };
    let read_err = |e: io::Error| {
        if let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<Refused>()) {
            if r.limit {
                IngestError::Limit {
                    file: name.to_string(),
                    reason: r.reason.clone(),
                }
            } else {
                not_zeek(name, r.reason.clone())
            }
        } else if gzip {
            not_zeek(name, format!("corrupt or truncated gzip data ({e})"))
        } else {
            io_err(e)
        }
    };
    let mut parser = Parser::new(name, limits);
    while let Some(block) = blocks.next().map_err(read_err)? {
        count_too_long(name, &mut blocks, &mut parser.line, &mut parser.skipped);
        parser.block(&block)?;
    }
    // Over-long lines at the very end come with no block after them.
    count_too_long(name, &mut blocks, &mut parser.line, &mut parser.skipped);
    let Parser {
        format,
        header,
        saw_fields,
        mut parts,
        skipped,
        ..
    } = parser;
    let Some(format) = format else {
        if skipped.count > 0 {
            return Err(not_zeek(
                name,
                format!(
                    "no valid records: all {} lines are longer than {MAX_LINE} bytes",
                    skipped.count
                ),
            ));
        }
        return Err(not_zeek(name, "empty file"));
    };
    let rows: usize = parts.iter().map(|p| p.rows).sum();
    if rows == 0 {
        let reason = if format == Format::Tsv && !saw_fields {
            "no #fields header".to_string()
        } else if skipped.count > 0 {
            let first = skipped
                .first
                .first()
                .map(|s| format!(" (line {}: {})", s.line, s.reason))
                .unwrap_or_default();
            format!(
                "no valid records: all {} data lines are malformed{first}",
                skipped.count
            )
        } else {
            "no records (header only)".to_string()
        };
        return Err(not_zeek(name, reason));
    }
    if format == Format::Json {
        name_json_columns(&mut parts);
    }
    let mut paths = header.paths;
    for p in &parts {
        for x in &p.paths {
            if !paths.contains(x) {
                paths.push(x.clone());
            }
        }
    }
    Ok(FileLoad {
        info: FileInfo {
            name: name.to_string(),
            format,
            gzip,
            paths,
            rows,
        },
        parts,
        skipped,
    })
}

/// A Parquet file as one part of a load.
fn read_parquet(name: &str, reader: impl Read, limits: &Limits) -> Result<FileLoad, IngestError> {
    let frame = parquet::read(name, reader, limits)?;
    let rows = frame.height();
    let columns = frame
        .columns()
        .iter()
        .map(|c| c.as_materialized_series().clone())
        .collect();
    Ok(FileLoad {
        info: FileInfo {
            name: name.to_string(),
            format: Format::Parquet,
            gzip: false,
            paths: Vec::new(),
            rows,
        },
        parts: vec![Part {
            columns,
            rows,
            ..Part::default()
        }],
        skipped: Skipped::default(),
    })
}

/// Names a JSON file's columns. Its parts name them by their keys as written; once the
/// whole file is read, the keys take Zeek's names ([`schema::canonical_names`]), so that
/// an alias and its field (`protocol` and `proto`) are told apart the same way whatever
/// the parts' boundaries (which depend on the number of cores).
fn name_json_columns(parts: &mut [Part]) {
    let mut keys: Vec<PlSmallStr> = Vec::new();
    let mut known: std::collections::HashSet<PlSmallStr> = std::collections::HashSet::new();
    for p in parts.iter() {
        for c in &p.columns {
            if known.insert(c.name().clone()) {
                keys.push(c.name().clone());
            }
        }
    }
    let names = json_column_names(&keys.iter().map(|k| k.as_str()).collect::<Vec<_>>());
    let to: std::collections::HashMap<&PlSmallStr, &String> = keys.iter().zip(&names).collect();
    for p in parts.iter_mut() {
        for c in &mut p.columns {
            if let Some(n) = to.get(c.name()) {
                c.rename(n.as_str().into());
            }
        }
    }
}

/// The column names of a JSON file whose keys are `keys` (each once, in order of first
/// appearance): a key that is a Zeek name keeps it; an alias takes its Zeek name when the
/// file has no field of that name, else keeps its own. In the order of `keys`.
pub fn json_column_names(keys: &[&str]) -> Vec<String> {
    let (real, alias): (Vec<usize>, Vec<usize>) =
        (0..keys.len()).partition(|&i| schema::canonical_name(keys[i]) == keys[i]);
    let ordered: Vec<usize> = real.into_iter().chain(alias).collect();
    let named = schema::canonical_names(ordered.iter().map(|&i| keys[i]));
    let mut out = vec![String::new(); keys.len()];
    for (i, n) in ordered.into_iter().zip(named) {
        out[i] = n;
    }
    out
}

/// Counts the bytes read through it (the compressed side of a gzip input).
struct Counted<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A gzip decoder that stops with a refusal once the text it gave is more than
/// `ratio` times the gzip read ([`Limits::max_gzip_ratio`]).
struct Bounded<R> {
    inner: R,
    packed: std::rc::Rc<std::cell::Cell<u64>>,
    unpacked: u64,
    ratio: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.unpacked += n as u64;
        let packed = self.packed.get().max(1);
        if self.ratio > 0 && self.unpacked > GZIP_RATIO_AFTER && self.unpacked / packed > self.ratio
        {
            return Err(refused(
                format!(
                    "decompresses to more than {} times its size ({} of text from {} of \
                     gzip): a decompression bomb, not a log (--max-gzip-ratio raises the \
                     limit)",
                    self.ratio,
                    size_text(self.unpacked),
                    size_text(packed)
                ),
                true,
            ));
        }
        Ok(n)
    }
}

/// Records the over-long lines dropped before the next block as skipped.
fn count_too_long(name: &str, blocks: &mut Blocks, line: &mut u64, skipped: &mut Skipped) {
    for _ in 0..std::mem::take(&mut blocks.too_long) {
        *line += 1;
        skipped.add(name, *line, format!("line longer than {MAX_LINE} bytes"));
    }
}

/// Joins the loads of every file into one frame, adding a `_file` column when there are
/// several files.
fn assemble(loads: Vec<FileLoad>, limits: &Limits) -> Result<Log, IngestError> {
    let several = loads.len() > 1;
    let mut files = Vec::new();
    let mut skipped = Skipped::default();
    let mut parts = Vec::new();
    for load in loads {
        skipped.count += load.skipped.count;
        for s in load.skipped.first {
            if skipped.first.len() < SKIPPED_KEPT {
                skipped.first.push(s);
            }
        }
        files.push(load.info);
        parts.extend(load.parts);
    }
    let merged = if parts.is_empty() {
        Part::default()
    } else {
        // Each part is one contiguous chunk of a few megabytes of input: the frame keeps
        // them as chunks rather than copying everything once more.
        merge(parts, false)
    };
    let height = merged.rows;
    let whole = |reason: String| IngestError::Limit {
        file: files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        reason,
    };
    if merged.columns.len() > limits.max_columns {
        return Err(whole(format!(
            "{} distinct fields across the files, more than {} (--max-columns raises the \
             limit)",
            merged.columns.len(),
            limits.max_columns
        )));
    }
    let mut columns: Vec<polars::prelude::Column> =
        merged.columns.into_iter().map(Into::into).collect();
    if several {
        // A log's own `_file` field keeps its values under the next free name, as a
        // repeated field of a header does.
        let taken = |n: &str| columns.iter().any(|c| c.name().as_str() == n);
        if taken(FILE_COLUMN) {
            let free = (2..)
                .map(|i| format!("{FILE_COLUMN}_{i}"))
                .find(|n| !taken(n))
                .unwrap_or_default();
            if let Some(c) = columns
                .iter_mut()
                .find(|c| c.name().as_str() == FILE_COLUMN)
            {
                c.rename(free.into());
            }
        }
        let file_col: StringChunked = files
            .iter()
            .flat_map(|f| std::iter::repeat_n(f.name.as_str(), f.rows))
            .collect();
        columns.push(file_col.with_name(FILE_COLUMN.into()).into_series().into());
    }
    text::compact(&mut columns);
    // The text columns' views and bytes, now codes, back to the system.
    crate::memory::release();
    // Numbers, times, booleans and dictionary codes in one piece each (a few bytes a row:
    // copying them costs little, a column per thread at a time, below the parsing's
    // peak): the analysis then reads their values where they are, by row, rather than
    // finding each row's chunk or taking rows through a copy. Zeek's sets and vectors
    // too: mostly empty in a conn log, and an export reading them in pieces joined its
    // blocks' lists again for each block (at 10M rows, 57 s of writing became 94 s).
    // Plain text (uids: 16 bytes a row and more) stays in its pieces.
    columns.par_iter_mut().with_max_len(1).for_each(|c| {
        if joined_at_load(c.dtype()) && c.n_chunks() > 1 {
            *c = c.rechunk();
        }
    });
    crate::memory::release();
    let frame = DataFrame::new(height, columns)
        .map_err(|e| whole(format!("the files do not make one table: {e}")))?;
    Ok(Log {
        frame,
        files,
        skipped,
    })
}

/// Whether a loaded log holds its columns of type `dtype` in one piece (numbers, times,
/// booleans, dictionary codes and lists; plain text stays in the pieces it was read in).
pub fn joined_at_load(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric()
        || matches!(
            dtype,
            DataType::Boolean
                | DataType::Datetime(..)
                | DataType::Categorical(..)
                | DataType::List(_)
        )
}

/// `b`'s rows after `a`'s (new rows of a followed log after the window): columns in
/// order of first appearance; a column `a` has keeps its type, and `b`'s values that do
/// not fit it are unset (a window's types never change under a model fitted on them);
/// a column only one of them has is unset in the other's rows.
pub fn concat(a: &DataFrame, b: &DataFrame) -> PolarsResult<DataFrame> {
    // Nothing to join (the first rows of a window): the rows as they are, dictionary text
    // kept.
    if a.width() == 0 {
        return Ok(b.clone());
    }
    let mut names: Vec<PlSmallStr> = a.get_column_names_owned();
    for n in b.get_column_names_owned() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let (ha, hb) = (a.height(), b.height());
    let columns = names
        .into_iter()
        .map(|name| {
            // Dictionary text as strings: polars casts between dictionary codes and numbers
            // by code, not by text, and a followed window would keep every value it ever
            // saw in the shared dictionary.
            let pa = a
                .column(&name)
                .ok()
                .map(|c| text::as_strings(c.as_materialized_series().clone()));
            let pb = b
                .column(&name)
                .ok()
                .map(|c| text::as_strings(c.as_materialized_series().clone()));
            let dtype = match (&pa, &pb) {
                (Some(s), _) | (None, Some(s)) => s.dtype().clone(),
                (None, None) => DataType::Null,
            };
            let piece = |p: Option<Series>, n: usize| {
                p.map(|s| cast_or_null(s, &dtype))
                    .unwrap_or_else(|| Series::full_null(name.clone(), n, &dtype))
            };
            let mut s = piece(pa, ha);
            s.append(&piece(pb, hb))?;
            s.rename(name);
            Ok(s.into())
        })
        .collect::<PolarsResult<Vec<polars::prelude::Column>>>()?;
    DataFrame::new(ha + hb, columns)
}

/// A frame cell as text: unset as `-`, times as ISO 8601, lists joined with commas.
pub fn cell(frame: &DataFrame, column: &str, row: usize) -> String {
    let Ok(col) = frame.column(column) else {
        return "-".into();
    };
    // Through the materialised series: a one-row frame holds its columns as scalars,
    // whose values come back owned (`DatetimeOwned`) and would print in polars' format.
    value_text(col.as_materialized_series().get(row))
}

/// The cells of one column, read by row many times over ([`cell`] for each): a large log
/// is held in chunks of a few megabytes, and finding a row's chunk from the start each
/// time made writing a 10M-row log's rows quadratic.
#[derive(Debug, Clone)]
pub struct Cells {
    /// Each chunk's first row and the chunk alone.
    parts: Vec<(usize, Series)>,
    /// Each chunk by its type, for the types a conn log's printed fields have.
    typed: Vec<Typed>,
}

/// A chunk of [`Cells`] read by its type: each cell written without going through a
/// generic value (the rows `zsift score` prints are millions of cells).
#[derive(Clone)]
enum Typed {
    Int(Int64Chunked),
    Int32(Int32Chunked),
    Text(StringChunked),
    /// Microseconds since the epoch.
    Time(Int64Chunked),
    Coded(Categorical32Chunked),
    /// Read as a generic value.
    Other,
}

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Typed::Int(_) => "Int",
            Typed::Int32(_) => "Int32",
            Typed::Text(_) => "Text",
            Typed::Time(_) => "Time",
            Typed::Coded(_) => "Coded",
            Typed::Other => "Other",
        })
    }
}

impl Typed {
    fn of(s: &Series) -> Self {
        let typed = match s.dtype() {
            DataType::Int64 => s.i64().ok().cloned().map(Typed::Int),
            DataType::Int32 => s.i32().ok().cloned().map(Typed::Int32),
            DataType::String => s.str().ok().cloned().map(Typed::Text),
            DataType::Datetime(TimeUnit::Microseconds, None) => {
                s.datetime().ok().map(|c| Typed::Time(c.physical().clone()))
            }
            DataType::Categorical(..) => s.cat32().ok().cloned().map(Typed::Coded),
            _ => None,
        };
        typed.unwrap_or(Typed::Other)
    }
}

impl Cells {
    /// The cells of `column` of `frame` (all unset if there is none).
    pub fn of(frame: &DataFrame, column: &str) -> Self {
        let Ok(col) = frame.column(column) else {
            return Self {
                parts: Vec::new(),
                typed: Vec::new(),
            };
        };
        let s = col.as_materialized_series();
        let mut parts = Vec::with_capacity(s.n_chunks());
        let mut start = 0;
        for len in s.chunk_lengths() {
            parts.push((start, s.slice(start as i64, len)));
            start += len;
        }
        let typed = parts.iter().map(|(_, p)| Typed::of(p)).collect();
        Self { parts, typed }
    }

    /// Row `row`'s cell, as [`cell`] writes it.
    pub fn get(&self, row: usize) -> String {
        let k = self.parts.partition_point(|(start, _)| *start <= row);
        let Some(k) = k.checked_sub(1) else {
            return "-".into();
        };
        let (start, part) = &self.parts[k];
        let at = row - start;
        let unset = || "-".to_string();
        if at >= part.len() {
            return unset();
        }
        match &self.typed[k] {
            Typed::Int(c) => c.get(at).map_or_else(unset, |v| v.to_string()),
            Typed::Int32(c) => c.get(at).map_or_else(unset, |v| v.to_string()),
            Typed::Text(c) => c.get(at).map_or_else(unset, str::to_string),
            Typed::Time(c) => c.get(at).map_or_else(unset, crate::summary::iso),
            Typed::Coded(c) => c
                .physical()
                .get(at)
                .and_then(|code| c.get_mapping().cat_to_str(code))
                .map_or_else(unset, str::to_string),
            Typed::Other => value_text(part.get(at)),
        }
    }

    /// Row `row`'s cell read as a generic value, as [`Cells::get`] gives it.
    #[cfg(test)]
    fn get_generic(&self, row: usize) -> String {
        match self.value(row) {
            Some(v) => value_text(v),
            None => "-".into(),
        }
    }

    /// Row `row`'s value (`None` past the end or without such a column).
    pub fn value(&self, row: usize) -> Option<PolarsResult<AnyValue<'_>>> {
        let (part, at) = self.part(row)?;
        Some(part.get(at))
    }

    /// The one-chunk piece holding row `row`, and the row's place in it.
    pub fn part(&self, row: usize) -> Option<(&Series, usize)> {
        let k = self.parts.partition_point(|(start, _)| *start <= row);
        let (start, part) = &self.parts[k.checked_sub(1)?];
        Some((part, row - start))
    }
}

/// A value as [`cell`] writes it.
fn value_text(v: PolarsResult<AnyValue>) -> String {
    match v {
        Ok(AnyValue::Null) | Err(_) => "-".into(),
        Ok(AnyValue::String(s)) => s.to_string(),
        Ok(AnyValue::StringOwned(s)) => s.to_string(),
        Ok(AnyValue::Datetime(us, _, _) | AnyValue::DatetimeOwned(us, _, _)) => {
            crate::summary::iso(us)
        }
        Ok(v @ (AnyValue::Categorical(..) | AnyValue::CategoricalOwned(..))) => {
            v.get_str().unwrap_or("-").to_string()
        }
        Ok(AnyValue::List(s)) => {
            let items: Vec<String> = (0..s.len())
                .map(|i| match s.get(i) {
                    Ok(AnyValue::String(x)) => x.to_string(),
                    Ok(v) => v.to_string(),
                    Err(_) => String::new(),
                })
                .collect();
            items.join(",")
        }
        Ok(v) => v.to_string(),
    }
}

#[cfg(test)]
mod cells_tests {
    use super::*;

    #[test]
    fn cells_read_by_type_are_the_cells_read_as_values() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stratosphere");
        let logs = [
            "010-mixed.conn.log.labeled",
            "002-portscan.conn.json.log",
            "005-malicious.conn.log",
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for name in logs {
            let log = load(&[dir.join(name)]).unwrap();
            // Several chunks, as a log of many files or a followed log has, and the text
            // held as dictionary codes as a large log's is.
            let mut frame = concat(&log.frame, &log.frame).unwrap();
            let coded = DataType::from_categories(Categories::global());
            for name in ["proto", "id.orig_h", "service", "history", "label"] {
                if let Ok(c) = frame.column(name) {
                    if c.dtype() == &DataType::String {
                        let c = c.cast(&coded).unwrap();
                        frame.with_column(c).unwrap();
                    }
                }
            }
            for c in frame.columns() {
                let cells = Cells::of(&frame, c.name());
                kinds.insert(format!("{:?}", cells.typed[0]));
                for row in 0..frame.height() + 2 {
                    assert_eq!(
                        cells.get(row),
                        cells.get_generic(row),
                        "{name}: {} row {row}",
                        c.name()
                    );
                }
            }
        }
        assert_eq!(Cells::of(&DataFrame::empty(), "ts").get(0), "-");
        assert!(
            kinds.len() >= 5,
            "every typed reading and the generic one: {kinds:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_split_as_the_standard_split_does() {
        let cases: [&[u8]; 8] = [
            b"",
            b"\n",
            b"\n\n",
            b"one",
            b"one\n",
            b"one\ntwo",
            b"one\r\n\ntwo\n\nthree\n",
            b"\nlead\n\n\ntrail\r",
        ];
        for data in cases {
            let want: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
            let got: Vec<&[u8]> = super::lines(data).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(data));
        }
        // A long run, across memchr's vector blocks.
        let long: Vec<u8> = (0..5000u32)
            .map(|i| {
                if i % 37 == 0 || i % 101 == 0 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        let want: Vec<&[u8]> = long.split(|&b| b == b'\n').collect();
        assert_eq!(super::lines(&long).collect::<Vec<_>>(), want);
    }
}
